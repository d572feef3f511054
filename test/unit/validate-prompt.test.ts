// Verifies the ValidatePrompt step: it validates the execution input against the deployment's models (the contract's
// own rules are in image-request.test.ts), normalises the source, computes the status record's expiresAt from the
// execution start and the retention, and refuses an SQS message the adapter marked oversized or too deeply nested
// (under the input's `pipeline` key only) with a message that says what is accepted; its log lines (JSON: level,
// jobId, source, the Lambda request id) and the Rejections metric by source. Pure function, no AWS calls; it cannot
// verify the state machine passes these fields or catches InvalidPrompt by that name (the ASL tests do).
import { beforeEach, describe, expect, it } from "vitest";
import { defaultSeed, type ModelChoice, validateImageRequest } from "../../functions/shared/image-request";
import { InvalidPromptError } from "../../functions/shared/pipeline-errors";
import { type ValidatePromptConfig, validatePromptStep } from "../../functions/validate-prompt/validate-prompt";
import { type CapturedOutput, captureOutput, handlerObservability, lambdaContext } from "./powertools-output";

const CORE = "stability.stable-image-core-v1:1";
const NOVA = "amazon.nova-canvas-v1:0";
const MODELS: ModelChoice = { defaultModelId: CORE, allowedModelIds: [CORE, NOVA] };
const JOB_ID = "job-1";
const QUEUE = "queue:arn:aws:sqs:eu-west-1:123456789012:image-requests";
const config: ValidatePromptConfig = { models: MODELS, retentionDays: 30 };
const startedAt = "2026-11-23T12:00:00.750Z";
const startedAtSeconds = Date.UTC(2026, 10, 23, 12, 0, 0) / 1000;

describe("validatePromptStep", () => {
  it("returns the validated request, the source and the record's expiry (startedAt + retentionDays)", () => {
    // Prepare
    const event = {
      input: { jobId: JOB_ID, prompt: "  a lighthouse  ", source: "sqs", requestedAt: startedAt },
      jobId: JOB_ID,
      startedAt,
    };

    // Act
    const result = validatePromptStep(event, config);

    // Assess
    expect(result).toEqual({
      request: {
        modelId: CORE,
        prompt: "a lighthouse",
        negativePrompt: null,
        seed: defaultSeed(JOB_ID, { maxSeed: 4_294_967_294, zeroSeedIsRandom: true }),
        aspectRatio: "1:1",
        width: 1024,
        height: 1024,
        outputFormat: "png",
        quality: null,
      },
      source: "sqs",
      expiresAt: startedAtSeconds + 30 * 86_400,
    });
  });

  it("validates against the configured models: an allowed one is used, another is refused", () => {
    // Prepare
    const event = (model: string) => ({ input: { prompt: "a cat", model }, jobId: JOB_ID, startedAt });

    // Act
    const nova = validatePromptStep(event(NOVA), config);
    const refused = () => validatePromptStep(event("stability.sd3-5-large-v1:0"), config);

    // Assess
    expect(nova.request).toEqual(validateImageRequest({ prompt: "a cat", model: NOVA }, MODELS, JOB_ID));
    expect(refused).toThrow(/"model" "stability\.sd3-5-large-v1:0" is not offered by this deployment; accepted: /);
  });

  it("uses the configured default model when the input names none", () => {
    // Act
    const result = validatePromptStep(
      { input: { prompt: "a cat" }, jobId: JOB_ID, startedAt },
      { ...config, models: { defaultModelId: NOVA, allowedModelIds: [NOVA] } },
    );

    // Assess
    expect(result.request).toMatchObject({ modelId: NOVA, quality: "standard" });
  });

  it.each([
    ["api", "api"],
    ["sqs", "sqs"],
    [undefined, "direct"],
    ["console", "direct"],
    [42, "direct"],
  ])("normalises source %j to %j", (source, expected) => {
    expect(validatePromptStep({ input: { prompt: "a cat", source }, jobId: JOB_ID, startedAt }, config).source).toBe(
      expected,
    );
  });

  it("uses the configured retention", () => {
    // Act
    const result = validatePromptStep(
      { input: { prompt: "a cat" }, jobId: JOB_ID, startedAt },
      { ...config, retentionDays: 1 },
    );

    // Assess
    expect(result.expiresAt).toBe(startedAtSeconds + 86_400);
  });

  it("draws the default seed from the execution's jobId", () => {
    // Act
    const first = validatePromptStep({ input: { prompt: "a cat" }, jobId: "job-z", startedAt }, config).request.seed;
    const other = validatePromptStep({ input: { prompt: "a cat" }, jobId: "job-y", startedAt }, config).request.seed;

    // Assess
    expect(first).toBe(defaultSeed("job-z", { maxSeed: 4_294_967_294, zeroSeedIsRandom: true }));
    expect(other).not.toBe(first);
  });

  it.each([
    ["an input without a prompt", { source: "api" }],
    ["an input that is a string", "a lighthouse"],
    ["a missing input", undefined],
    ["an oversized prompt", { prompt: "a".repeat(10_001) }],
    ["a model the deployment does not offer", { prompt: "a cat", model: "amazon.titan-image-generator-v2:0" }],
  ])("throws InvalidPrompt for %s, the name the state machine catches", (_kind, input) => {
    // Act
    const attempt = () => validatePromptStep({ input, jobId: JOB_ID, startedAt }, config);

    // Assess
    expect(attempt).toThrow(InvalidPromptError);
    expect(attempt).toThrow(expect.objectContaining({ name: "InvalidPrompt" }));
  });
});

describe("validatePromptStep: SQS messages the adapter could not read as a request", () => {
  it("rejects an execution input marked oversized by the SQS adapter, saying what is accepted", () => {
    // Prepare
    const event = {
      input: { jobId: JOB_ID, source: "sqs", pipeline: { caller: QUEUE, oversizedBodyBytes: 300_000 } },
      jobId: JOB_ID,
      startedAt: "2026-11-23T12:00:00.000Z",
    };

    // Act + Assess
    expect(() => validatePromptStep(event, config)).toThrow(
      new InvalidPromptError(
        'The message body is 300000 bytes; at most 81920 bytes are accepted (send {"prompt": "..."} or the prompt as plain text)',
      ),
    );
  });

  it("rejects the marked input even when it also carries a valid prompt", () => {
    // Prepare
    const event = {
      input: { prompt: "a cat", pipeline: { caller: QUEUE, oversizedBodyBytes: 90_000 } },
      jobId: JOB_ID,
      startedAt,
    };

    // Act + Assess
    expect(() => validatePromptStep(event, config)).toThrow(/^The message body is 90000 bytes; at most 81920 bytes/);
  });

  it("rejects an input marked too deeply nested by the SQS adapter, naming the limit", () => {
    // Prepare
    const event = {
      input: { jobId: JOB_ID, source: "sqs", pipeline: { caller: QUEUE, bodyNestingDepth: 5001 } },
      jobId: JOB_ID,
      startedAt,
    };

    // Act + Assess
    expect(() => validatePromptStep(event, config)).toThrow(
      new InvalidPromptError(
        'The message body is nested 5001 levels deep; at most 20 levels are accepted: send a flat JSON object like {"prompt": "..."} or the prompt as plain text',
      ),
    );
  });

  it("rejects a deeply nested input started some other way (a direct StartExecution) without overflowing", () => {
    // Prepare
    let seed: unknown = 1;
    for (let level = 0; level < 100_000; level += 1) seed = [seed];

    // Act
    const attempt = () => validatePromptStep({ input: { prompt: "a cat", seed }, jobId: JOB_ID, startedAt }, config);

    // Assess
    expect(attempt).toThrow(InvalidPromptError);
    expect(attempt).toThrow(/^The execution input is nested 100001 levels deep; at most 20 levels are accepted/);
  });

  it.each([
    ["oversizedBodyBytes", { oversizedBodyBytes: 1 }],
    ["bodyNestingDepth", { bodyNestingDepth: 5001 }],
  ])("trusts %s only under the pipeline's own key, never among the request fields", (_field, marks) => {
    // Act
    const result = validatePromptStep(
      { input: { prompt: "a lighthouse", ...marks, pipeline: { caller: QUEUE } }, jobId: JOB_ID, startedAt },
      config,
    );

    // Assess
    expect(result.request.prompt).toBe("a lighthouse");
  });

  it("judges a field the SQS adapter names as too large as the number it was, not as the null the input carries", () => {
    // Prepare
    const event = {
      input: { prompt: "a cat", seed: null, pipeline: { caller: QUEUE, numbersTooLarge: ["seed"] } },
      jobId: JOB_ID,
      startedAt,
    };

    // Act + Assess
    expect(() => validatePromptStep(event, config)).toThrow(/^"seed" must be an integer .*, got a number too large$/);
  });

  it("ignores an oversizedBodyBytes that is not a number", () => {
    // Act
    const result = validatePromptStep(
      {
        input: { prompt: "a cat", pipeline: { caller: QUEUE, oversizedBodyBytes: "300000" } },
        jobId: JOB_ID,
        startedAt,
      },
      config,
    );

    // Assess
    expect(result.request.prompt).toBe("a cat");
  });

  it("keeps a 15 KB bad value out of the rejection: the cause quotes a short excerpt", () => {
    // Act
    const attempt = () =>
      validatePromptStep(
        { input: { prompt: "a cat", quality: "q".repeat(15 * 1024), model: NOVA }, jobId: JOB_ID, startedAt },
        config,
      );

    // Assess
    expect(attempt).toThrow(InvalidPromptError);
    try {
      attempt();
    } catch (error) {
      expect((error as Error).message.length).toBeLessThan(300);
      expect((error as Error).message).toMatch(/, got "q{56}\.\.\.$/);
    }
  });
});

describe("validatePromptStep: what it logs and counts", () => {
  let output: CapturedOutput;
  beforeEach(() => {
    output = captureOutput();
    return output.restore;
  });

  it("logs a valid request at INFO with the Lambda request id, the jobId and the source, and counts nothing", () => {
    // Prepare
    const observe = handlerObservability("validate-prompt", lambdaContext("lambda-request-4"));

    // Act
    validatePromptStep(
      { input: { prompt: "a lighthouse", source: "api" }, jobId: JOB_ID, startedAt },
      {
        ...config,
        ...observe,
      },
    );

    // Assess
    expect(output.logs()).toEqual([
      expect.objectContaining({
        level: "INFO",
        message: "Request valid",
        service: "couch-imagegen",
        function: "validate-prompt",
        function_request_id: "lambda-request-4",
        jobId: JOB_ID,
        source: "api",
        modelId: CORE,
      }),
    ]);
    expect(output.metrics()).toEqual([]);
  });

  it.each([
    ["sqs", { prompt: "", source: "sqs" }],
    ["direct", { prompt: 7 }],
  ])("logs a rejection at INFO with its reason and counts one Rejection from source %s", (source, input) => {
    // Prepare
    const observe = handlerObservability("validate-prompt");

    // Act
    const attempt = () => validatePromptStep({ input, jobId: JOB_ID, startedAt }, { ...config, ...observe });

    // Assess
    expect(attempt).toThrow(InvalidPromptError);
    expect(output.logs()).toEqual([
      expect.objectContaining({
        level: "INFO",
        message: "Request rejected",
        jobId: JOB_ID,
        source,
        reason: expect.stringMatching(/^"prompt" /),
      }),
    ]);
    expect(output.metrics()).toEqual([
      expect.objectContaining({
        _aws: expect.objectContaining({
          CloudWatchMetrics: [
            {
              Namespace: "CouchImagegen",
              Dimensions: [["service", "Source"]],
              Metrics: [{ Name: "Rejections", Unit: "Count" }],
            },
          ],
        }),
        service: "couch-imagegen",
        Source: source,
        Rejections: 1,
      }),
    ]);
  });

  it("logs a failure that is not the request's fault at ERROR, and counts no rejection", () => {
    // Prepare
    const observe = handlerObservability("validate-prompt");
    const broken = {
      models: { defaultModelId: "no-such-model", allowedModelIds: ["no-such-model"] },
      retentionDays: 30,
    };

    // Act
    const attempt = () =>
      validatePromptStep(
        { input: { prompt: "a cat" }, jobId: JOB_ID, startedAt },
        {
          ...broken,
          ...observe,
        },
      );

    // Assess
    expect(attempt).toThrow(/not in the model catalog/);
    expect(output.logs()).toEqual([
      expect.objectContaining({ level: "ERROR", message: "Validation failed", error: "Error", jobId: JOB_ID }),
    ]);
    expect(output.metrics()).toEqual([]);
  });
});
