// Verifies the start-job core (StartExecution named after the jobId, idempotent replay vs conflict per caller) and both
// adapters: the API adapter's status codes, headers and messages (charset and UTF-8 checks, the nesting limit, bad
// values quoted as excerpts, statusUrl from the gateway's domain, never the Host header), the SQS adapter's body
// parsing and partial batch failures, and the caller and pipeline facts each adapter puts where no request field can
// reach; what each adapter logs (JSON from the real Powertools Logger: level, jobId, request ids) and the Rejections
// metric (embedded metric format) for a refused API request. Step Functions is an aws-sdk-client-mock mock: this cannot prove the real service's idempotency-by-name
// behaviour, only that the code reacts to its documented answers (ExecutionAlreadyExists, throttling) as the contract
// says.
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import type { APIGatewayProxyEvent, SQSRecord } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it, onTestFinished } from "vitest";
import type { PipelineLogger } from "../../functions/shared/logger";
import { DEFAULT_MODEL_ID, MODEL_CATALOG } from "../../functions/shared/models/catalog";
import { handleGenerateImageRequest, MAX_BODY_BYTES } from "../../functions/start-job/api-adapter";
import { handleSqsBatch, jobIdForMessage, readMessageBody } from "../../functions/start-job/sqs-adapter";
import { buildJobInput, JobConflictError, startJob } from "../../functions/start-job/start-job";
import { sqsRecord as queueRecord, sqsEvent } from "../fixtures/sqs-event";
import { awsError } from "../fixtures/tiny-png";
import { type CapturedOutput, captureOutput, handlerObservability, lambdaContext } from "./powertools-output";

const STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:ImagePipeline";
const EXECUTION_PREFIX = "arn:aws:states:eu-west-1:123456789012:execution:ImagePipeline";
const NOW = new Date("2026-11-23T12:00:00.000Z");
const REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef";
const DOMAIN = "abc123.execute-api.eu-west-1.amazonaws.com";
const QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:image-requests";

const sfn = new SFNClient({ region: "eu-west-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } });
const sfnMock = mockClient(sfn);
const deps = { sfn, stateMachineArn: STATE_MACHINE_ARN, now: () => NOW };
/** The pipeline facts of an API request without an API key. */
const ANONYMOUS = { caller: "anonymous" };
const NOVA_CANVAS = "amazon.nova-canvas-v1:0";
const apiDeps = {
  ...deps,
  models: { defaultModelId: DEFAULT_MODEL_ID, allowedModelIds: MODEL_CATALOG.map((model) => model.id) },
};

function alreadyExists(jobId: string): ExecutionAlreadyExists {
  return new ExecutionAlreadyExists({
    message: `Execution Already Exists: '${EXECUTION_PREFIX}:${jobId}'`,
    $metadata: { httpStatusCode: 400 },
  });
}

/** The execution input StartExecution was called with, parsed. */
function startedInput(call = 0): Record<string, unknown> {
  return JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[call]?.args[0].input.input ?? "null");
}

/** The input an earlier StartExecution stored, as DescribeExecution returns it. */
function describedAs(input: Record<string, unknown>) {
  return {
    executionArn: "ignored",
    stateMachineArn: STATE_MACHINE_ARN,
    status: "RUNNING" as const,
    input: JSON.stringify(input),
  };
}

beforeEach(() => {
  sfnMock.reset();
  sfnMock
    .on(StartExecutionCommand)
    .callsFake((input: { name: string }) => ({ executionArn: `${EXECUTION_PREFIX}:${input.name}`, startDate: NOW }));
});

describe("startJob", () => {
  it("starts one execution named after the jobId with the contract input", async () => {
    // Act
    const job = await startJob("job-1", { prompt: "a lighthouse" }, "api", deps, ANONYMOUS);

    // Assess
    expect(job).toEqual({ jobId: "job-1", executionArn: `${EXECUTION_PREFIX}:job-1`, replayed: false });
    const calls = sfnMock.commandCalls(StartExecutionCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toMatchObject({ stateMachineArn: STATE_MACHINE_ARN, name: "job-1" });
    expect(startedInput()).toEqual({
      jobId: "job-1",
      prompt: "a lighthouse",
      source: "api",
      requestedAt: "2026-11-23T12:00:00.000Z",
      pipeline: ANONYMOUS,
    });
  });

  it("passes the optional request fields it was given and drops everything else, the pipeline's own fields too", async () => {
    // Prepare
    const fields = {
      prompt: "a lighthouse",
      negativePrompt: "fog",
      seed: 7,
      width: 1280,
      height: 720,
      quality: "premium",
      style: "anime",
      jobId: "someone-else",
      source: "sqs",
      requestedAt: "1999-01-01T00:00:00.000Z",
      oversizedBodyBytes: 1,
      pipeline: { caller: "apiKey:someone-else", oversizedBodyBytes: 1 },
    };

    // Act
    await startJob("job-1", fields, "api", deps, ANONYMOUS);

    // Assess
    expect(startedInput()).toEqual({
      jobId: "job-1",
      prompt: "a lighthouse",
      negativePrompt: "fog",
      seed: 7,
      width: 1280,
      height: 720,
      quality: "premium",
      source: "api",
      requestedAt: "2026-11-23T12:00:00.000Z",
      pipeline: ANONYMOUS,
    });
  });

  it("derives the execution ARN when StartExecution does not return one", async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).resolves({});

    // Act
    const job = await startJob("job-1", { prompt: "a lighthouse" }, "sqs", deps, ANONYMOUS);

    // Assess
    expect(job.executionArn).toBe(`${EXECUTION_PREFIX}:job-1`);
  });

  it("treats an existing execution for the same request as a replay, whatever its requestedAt", async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(alreadyExists("job-1"));
    sfnMock.on(DescribeExecutionCommand).resolves(
      describedAs({
        jobId: "job-1",
        prompt: "a lighthouse",
        seed: 7,
        source: "api",
        requestedAt: "2026-11-23T11:59:00.000Z",
      }),
    );

    // Act
    const job = await startJob("job-1", { prompt: "a lighthouse", seed: 7 }, "api", deps, ANONYMOUS);

    // Assess
    expect(job).toEqual({ jobId: "job-1", executionArn: `${EXECUTION_PREFIX}:job-1`, replayed: true });
    expect(sfnMock.commandCalls(DescribeExecutionCommand)[0]?.args[0].input).toEqual({
      executionArn: `${EXECUTION_PREFIX}:job-1`,
    });
  });

  it.each([
    ["a different prompt", { prompt: "a windmill", source: "api" }],
    ["an extra field", { prompt: "a lighthouse", seed: 1, source: "api" }],
    ["a different source", { prompt: "a lighthouse", source: "sqs" }],
    ["another caller", { prompt: "a lighthouse", source: "api", pipeline: { caller: "apiKey:key-b" } }],
  ])("refuses a jobId already used for %s with JobConflictError", async (_kind, existing) => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(alreadyExists("job-1"));
    sfnMock.on(DescribeExecutionCommand).resolves(describedAs({ jobId: "job-1", ...existing }));

    // Act
    const attempt = startJob("job-1", { prompt: "a lighthouse" }, "api", deps, ANONYMOUS);

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(JobConflictError);
    await expect(attempt).rejects.toMatchObject({
      name: "JobConflict",
      message: 'Job "job-1" already exists with a different request; use a new Idempotency-Key for a new request',
    });
  });

  it("treats an existing execution whose input cannot be read as a conflict", async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(alreadyExists("job-1"));
    sfnMock.on(DescribeExecutionCommand).resolves({ ...describedAs({}), input: "not json" });

    // Act + Assess
    await expect(startJob("job-1", { prompt: "a lighthouse" }, "api", deps, ANONYMOUS)).rejects.toBeInstanceOf(
      JobConflictError,
    );
  });

  it("lets any other StartExecution error through without describing the execution", async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(awsError("ThrottlingException", "Rate exceeded"));

    // Act + Assess
    await expect(startJob("job-1", { prompt: "a lighthouse" }, "api", deps, ANONYMOUS)).rejects.toMatchObject({
      name: "ThrottlingException",
    });
    expect(sfnMock.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
  });

  it("lets a DescribeExecution failure through", async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(alreadyExists("job-1"));
    sfnMock.on(DescribeExecutionCommand).rejects(awsError("ThrottlingException", "Rate exceeded"));

    // Act + Assess
    await expect(startJob("job-1", { prompt: "a lighthouse" }, "api", deps, ANONYMOUS)).rejects.toMatchObject({
      name: "ThrottlingException",
    });
  });

  it("stamps requestedAt from the clock it is given", () => {
    expect(
      buildJobInput("job-1", { prompt: "x" }, "sqs", new Date("2030-01-02T03:04:05.006Z"), { caller: "queue:q" }),
    ).toEqual({
      jobId: "job-1",
      prompt: "x",
      source: "sqs",
      requestedAt: "2030-01-02T03:04:05.006Z",
      pipeline: { caller: "queue:q" },
    });
  });
});

function apiEvent(
  options: {
    body?: string | null;
    headers?: Record<string, string>;
    isBase64Encoded?: boolean;
    /** The API key's id, as API Gateway puts it in requestContext.identity when the method requires a key. */
    apiKeyId?: string;
  } = {},
): APIGatewayProxyEvent {
  return {
    body: options.body === undefined ? JSON.stringify({ prompt: "a lighthouse at dawn" }) : options.body,
    headers: options.headers ?? { "Content-Type": "application/json", Host: DOMAIN },
    multiValueHeaders: {},
    httpMethod: "POST",
    isBase64Encoded: options.isBase64Encoded ?? false,
    path: "/generate-image",
    pathParameters: null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    resource: "/generate-image",
    requestContext: {
      requestId: REQUEST_ID,
      path: "/prod/generate-image",
      domainName: DOMAIN,
      stage: "prod",
      httpMethod: "POST",
      identity: { apiKeyId: options.apiKeyId ?? null } as APIGatewayProxyEvent["requestContext"]["identity"],
    } as APIGatewayProxyEvent["requestContext"],
  };
}

function jsonHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { "Content-Type": "application/json", ...extra };
}

function bodyOf(result: { body: string }): Record<string, unknown> {
  return JSON.parse(result.body);
}

describe("handleGenerateImageRequest (API adapter)", () => {
  it("answers 202 with jobId, executionArn, statusUrl and a Location header", async () => {
    // Act
    const result = await handleGenerateImageRequest(apiEvent(), apiDeps);

    // Assess
    expect(result.statusCode).toBe(202);
    expect(result.headers).toEqual({
      "Content-Type": "application/json",
      Location: `/prod/jobs/${REQUEST_ID}`,
    });
    expect(bodyOf(result)).toEqual({
      jobId: REQUEST_ID,
      executionArn: `${EXECUTION_PREFIX}:${REQUEST_ID}`,
      statusUrl: `https://${DOMAIN}/prod/jobs/${REQUEST_ID}`,
    });
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.name).toBe(REQUEST_ID);
    expect(startedInput()).toMatchObject({ jobId: REQUEST_ID, prompt: "a lighthouse at dawn", source: "api" });
  });

  it("builds the status URL from the gateway's own domain name, never from the caller's Host header", async () => {
    // Prepare
    const event = apiEvent({ headers: jsonHeaders({ Host: "evil.example:666", "Idempotency-Key": "job-1" }) });

    // Act
    const result = await handleGenerateImageRequest(event, apiDeps);

    // Assess
    expect(bodyOf(result).statusUrl).toBe(`https://${DOMAIN}/prod/jobs/job-1`);
    expect(result.body).not.toContain("evil.example");
  });

  it("leaves statusUrl out when the gateway names no domain, and answers the relative Location only", async () => {
    // Prepare
    const event = apiEvent({ headers: jsonHeaders({ Host: "evil.example:666", "Idempotency-Key": "job-1" }) });
    event.requestContext = { requestId: REQUEST_ID, path: "/generate-image" } as APIGatewayProxyEvent["requestContext"];

    // Act
    const result = await handleGenerateImageRequest(event, apiDeps);

    // Assess
    expect(result.statusCode).toBe(202);
    expect(result.headers?.Location).toBe("/jobs/job-1");
    expect(bodyOf(result)).toEqual({ jobId: "job-1", executionArn: `${EXECUTION_PREFIX}:job-1` });
  });

  it.each([
    ["http", "http"],
    ["https", "https"],
    ["javascript", "https"],
  ])("takes X-Forwarded-Proto %s as %s, and nothing but http or https", async (sent, used) => {
    // Act
    const result = await handleGenerateImageRequest(
      apiEvent({ headers: jsonHeaders({ "X-Forwarded-Proto": sent, "Idempotency-Key": "job-1" }) }),
      apiDeps,
    );

    // Assess
    expect(bodyOf(result).statusUrl).toBe(`${used}://${DOMAIN}/prod/jobs/job-1`);
  });

  it("forwards the trimmed prompt and negativePrompt and the other request fields", async () => {
    // Prepare
    const body = JSON.stringify({
      prompt: "  a lighthouse \n",
      negativePrompt: " fog ",
      seed: 7,
      quality: "premium",
      model: NOVA_CANVAS,
    });

    // Act
    await handleGenerateImageRequest(apiEvent({ body }), apiDeps);

    // Assess
    expect(startedInput()).toEqual({
      jobId: REQUEST_ID,
      prompt: "a lighthouse",
      negativePrompt: "fog",
      seed: 7,
      quality: "premium",
      model: NOVA_CANVAS,
      source: "api",
      requestedAt: NOW.toISOString(),
      pipeline: ANONYMOUS,
    });
  });

  it.each(["Idempotency-Key", "idempotency-key", "IDEMPOTENCY-KEY"])(
    "uses the %s header as the jobId",
    async (name) => {
      // Act
      const result = await handleGenerateImageRequest(
        apiEvent({ headers: jsonHeaders({ [name]: "order-42_b" }) }),
        apiDeps,
      );

      // Assess
      expect(result.statusCode).toBe(202);
      expect(bodyOf(result).jobId).toBe("order-42_b");
      expect(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.name).toBe("order-42_b");
    },
  );

  it("accepts an Idempotency-Key of exactly 80 characters", async () => {
    // Act
    const result = await handleGenerateImageRequest(
      apiEvent({ headers: jsonHeaders({ "Idempotency-Key": "k".repeat(80) }) }),
      apiDeps,
    );

    // Assess
    expect(result.statusCode).toBe(202);
  });

  it.each([
    ["too long", "k".repeat(81)],
    ["with spaces", "order 42"],
    ["a path", "../other-job"],
    ["empty", ""],
  ])("answers 400 for an Idempotency-Key that is %s, without starting anything", async (_kind, key) => {
    // Act
    const result = await handleGenerateImageRequest(
      apiEvent({ headers: jsonHeaders({ "Idempotency-Key": key }) }),
      apiDeps,
    );

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).message).toBe("Idempotency-Key must be 1 to 80 characters of A-Z, a-z, 0-9, _ and -");
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it("answers 202 with Idempotent-Replayed when the same request is sent again with the same key", async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(alreadyExists("order-42"));
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves(describedAs({ jobId: "order-42", prompt: "a lighthouse at dawn", source: "api", requestedAt: "x" }));

    // Act
    const result = await handleGenerateImageRequest(
      apiEvent({ headers: jsonHeaders({ "Idempotency-Key": "order-42" }) }),
      apiDeps,
    );

    // Assess
    expect(result.statusCode).toBe(202);
    expect(result.headers?.["Idempotent-Replayed"]).toBe("true");
    expect(bodyOf(result).jobId).toBe("order-42");
  });

  it("answers 409 when the key was used for a different request", async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(alreadyExists("order-42"));
    sfnMock.on(DescribeExecutionCommand).resolves(describedAs({ prompt: "a windmill", source: "api" }));

    // Act
    const result = await handleGenerateImageRequest(
      apiEvent({ headers: jsonHeaders({ "Idempotency-Key": "order-42" }) }),
      apiDeps,
    );

    // Assess
    expect(result.statusCode).toBe(409);
    expect(bodyOf(result).message).toBe(
      'Job "order-42" already exists with a different request; use a new Idempotency-Key for a new request',
    );
  });

  it.each([
    ["text/plain", '"text/plain"'],
    ["application/jsonp", '"application/jsonp"'],
    ["application/x-www-form-urlencoded", '"application/x-www-form-urlencoded"'],
  ])("answers 415 for Content-Type %s", async (contentType, shown) => {
    // Act
    const result = await handleGenerateImageRequest(apiEvent({ headers: { "Content-Type": contentType } }), apiDeps);

    // Assess
    expect(result.statusCode).toBe(415);
    expect(bodyOf(result).message).toBe(`Content-Type must be application/json, got ${shown}`);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it("answers 415 when there is no Content-Type at all", async () => {
    // Act
    const result = await handleGenerateImageRequest(apiEvent({ headers: {} }), apiDeps);

    // Assess
    expect(result.statusCode).toBe(415);
    expect(bodyOf(result).message).toBe("Content-Type must be application/json, got none");
  });

  it.each([
    ["content-type", "application/json; charset=utf-8"],
    ["content-type", "Application/JSON"],
    ["Content-Type", 'application/json; charset="UTF-8"'],
    ["Content-Type", "application/json; charset=utf8"],
  ])("accepts %s: %s, in any header case", async (header, contentType) => {
    expect(
      (await handleGenerateImageRequest(apiEvent({ headers: { [header]: contentType } }), apiDeps)).statusCode,
    ).toBe(202);
  });

  it("answers 413 for a 1 MB body without parsing it", async () => {
    // Prepare
    const body = JSON.stringify({ prompt: "a".repeat(1024 * 1024) });

    // Act
    const result = await handleGenerateImageRequest(apiEvent({ body }), apiDeps);

    // Assess
    expect(result.statusCode).toBe(413);
    expect(bodyOf(result).message).toBe(
      `The request body is ${Buffer.byteLength(body)} bytes; at most ${MAX_BODY_BYTES} bytes are accepted`,
    );
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it("counts the limit in UTF-8 bytes, after base64 decoding", async () => {
    // Prepare: 45,000 'æ' make a JSON body of 45,014 characters but 90,014 UTF-8 bytes.
    const body = JSON.stringify({ prompt: "æ".repeat(45_000) });

    // Act
    const result = await handleGenerateImageRequest(
      apiEvent({ body: Buffer.from(body).toString("base64"), isBase64Encoded: true }),
      apiDeps,
    );

    // Assess
    expect(body.length).toBeLessThan(MAX_BODY_BYTES);
    expect(result.statusCode).toBe(413);
  });

  it.each([
    ["no body", null],
    ["an empty body", ""],
    ["a whitespace body", " \n\t "],
  ])("answers 400 for %s", async (_kind, body) => {
    // Act
    const result = await handleGenerateImageRequest(apiEvent({ body }), apiDeps);

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).message).toBe('The request body is empty: send JSON like {"prompt": "a lighthouse at dawn"}');
  });

  it.each(["a lighthouse at dawn", "{prompt: 'x'}", '{"prompt": "x"'])("answers 400 for non-JSON %j", async (body) => {
    // Act
    const result = await handleGenerateImageRequest(apiEvent({ body }), apiDeps);

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).message).toMatch(/^The request body is not valid JSON \(.+\): send \{"prompt": "\.\.\."\}$/);
  });

  it.each(['["a lighthouse"]', '"a lighthouse"', "42", "null", "true"])(
    "answers 400 for JSON that is not an object (%s)",
    async (body) => {
      // Act
      const result = await handleGenerateImageRequest(apiEvent({ body }), apiDeps);

      // Assess
      expect(result.statusCode).toBe(400);
      expect(bodyOf(result).message).toBe(
        'The request body must be a JSON object like {"prompt": "a lighthouse at dawn"}',
      );
    },
  );

  it("answers 400 naming unknown fields and listing the accepted ones", async () => {
    // Act
    const one = await handleGenerateImageRequest(apiEvent({ body: '{"prompt":"x","style":"anime"}' }), apiDeps);
    const two = await handleGenerateImageRequest(apiEvent({ body: '{"prompt":"x","style":1,"steps":2}' }), apiDeps);

    // Assess
    expect(one.statusCode).toBe(400);
    expect(bodyOf(one).message).toBe(
      'Unknown field "style"; accepted fields: prompt, negativePrompt, seed, aspectRatio, width, height, outputFormat, quality, model',
    );
    expect(bodyOf(two).message).toMatch(/^Unknown fields "style", "steps"; accepted fields: /);
  });

  it.each([
    ["a missing prompt", {}, '"prompt" is required: a non-empty string of at most 10000 characters'],
    ["a prompt that is not a string", { prompt: 42 }, '"prompt" must be a string, got a number'],
    ["a whitespace prompt", { prompt: "   " }, '"prompt" is empty: send at least one non-whitespace character'],
    [
      "a control character",
      { prompt: "bell\u0007" },
      '"prompt" contains the control character U+0007 at position 4; only printable text, tabs and line breaks are accepted',
    ],
    [
      "a prompt over the default model's limit",
      { prompt: "a".repeat(10_001) },
      '"prompt" is 10001 characters long; Stable Image Core (stability.stable-image-core-v1:1) accepts at most 10000',
    ],
    [
      "a prompt over the named model's limit",
      { prompt: "a".repeat(1025), model: NOVA_CANVAS },
      '"prompt" is 1025 characters long; Amazon Nova Canvas (amazon.nova-canvas-v1:0) accepts at most 1024',
    ],
    [
      "a seed out of range",
      { prompt: "x", seed: -1 },
      '"seed" must be an integer from 0 to 4294967294 for Stable Image Core (stability.stable-image-core-v1:1) (0 lets the model pick one), got -1',
    ],
    [
      "a pixel size for a model that takes an aspect ratio",
      { prompt: "x", width: 1024, height: 1024 },
      'Stable Image Core (stability.stable-image-core-v1:1) takes no pixel size ("width", "height"): send "aspectRatio", one of 16:9, 1:1, 21:9, 2:3, 3:2, 4:5, 5:4, 9:16, 9:21',
    ],
    [
      "a model the deployment does not offer",
      { prompt: "x", model: "stability.sd3-large-v1:0" },
      '"model" "stability.sd3-large-v1:0" is not a model this pipeline speaks; accepted: stability.stable-image-core-v1:1, stability.stable-image-ultra-v1:1, stability.sd3-5-large-v1:0, amazon.nova-canvas-v1:0, amazon.titan-image-generator-v2:0, amazon.titan-image-generator-v1 (omit "model" for stability.stable-image-core-v1:1)',
    ],
  ])("answers 400 with the validation message for %s", async (_kind, fields, message) => {
    // Act
    const result = await handleGenerateImageRequest(apiEvent({ body: JSON.stringify(fields) }), apiDeps);

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).message).toBe(message);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it("decodes a base64-encoded body as UTF-8", async () => {
    // Prepare
    const body = Buffer.from(JSON.stringify({ prompt: "fjord ved solnedgang, blåbær og ærfugl 🌅" })).toString(
      "base64",
    );

    // Act
    const result = await handleGenerateImageRequest(apiEvent({ body, isBase64Encoded: true }), apiDeps);

    // Assess
    expect(result.statusCode).toBe(202);
    expect(startedInput().prompt).toBe("fjord ved solnedgang, blåbær og ærfugl 🌅");
  });

  it.each(["ThrottlingException", "ExecutionLimitExceeded"])(
    "answers 503 with Retry-After when StartExecution fails with %s",
    async (name) => {
      // Prepare
      sfnMock.on(StartExecutionCommand).rejects(awsError(name, "Rate exceeded"));

      // Act
      const result = await handleGenerateImageRequest(apiEvent(), apiDeps);

      // Assess
      expect(result.statusCode).toBe(503);
      expect(result.headers?.["Retry-After"]).toBe("5");
      expect(bodyOf(result).message).toBe("The pipeline is busy; retry in a few seconds with the same Idempotency-Key");
    },
  );

  it("answers 500 for any other failure, logs the detail at ERROR and leaks none of it", async () => {
    // Prepare
    const output = captureOutput();
    onTestFinished(output.restore);
    const { log } = handlerObservability("start-job");
    sfnMock
      .on(StartExecutionCommand)
      .rejects(
        awsError(
          "AccessDeniedException",
          "User: arn:aws:sts::123456789012:assumed-role/start-job-role is not authorized to perform states:StartExecution",
        ),
      );

    // Act
    const result = await handleGenerateImageRequest(apiEvent(), { ...apiDeps, log });

    // Assess
    expect(result.statusCode).toBe(500);
    expect(bodyOf(result)).toEqual({
      message: `Could not start the job; retry with the same Idempotency-Key (request id ${REQUEST_ID})`,
    });
    expect(result.body).not.toMatch(/arn:|AccessDenied|123456789012/);
    expect(output.logs()).toContainEqual(
      expect.objectContaining({
        level: "ERROR",
        message: "StartExecution failed",
        jobId: REQUEST_ID,
        correlation_id: REQUEST_ID,
        error: "AccessDeniedException",
      }),
    );
  });

  it("answers 500 for a network failure too", async () => {
    // Prepare
    sfnMock
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error("connect ECONNREFUSED 10.0.3.7:443"), { code: "ECONNREFUSED" }));

    // Act
    const result = await handleGenerateImageRequest(apiEvent(), apiDeps);

    // Assess
    expect(result.statusCode).toBe(500);
    expect(result.body).not.toContain("10.0.3.7");
  });
});

/** A message of the jobs queue. */
function sqsRecord(messageId: string, body: string): SQSRecord {
  return queueRecord(messageId, body, QUEUE_ARN);
}

describe("handleSqsBatch (SQS adapter)", () => {
  it("starts a JSON message as its fields, named after the message id, with source sqs", async () => {
    // Prepare
    const event = sqsEvent(sqsRecord("msg-1", JSON.stringify({ prompt: "a lighthouse", seed: 3, style: "x" })));

    // Act
    const response = await handleSqsBatch(event, deps);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.name).toBe("msg-1");
    expect(startedInput()).toEqual({
      jobId: "msg-1",
      prompt: "a lighthouse",
      seed: 3,
      source: "sqs",
      requestedAt: NOW.toISOString(),
      pipeline: { caller: `queue:${QUEUE_ARN}` },
    });
  });

  it("starts a plain-text message with the whole body as the prompt", async () => {
    // Act
    await handleSqsBatch(sqsEvent(sqsRecord("msg-1", "Nordlys over Tromsø 🌌\n")), deps);

    // Assess
    expect(startedInput()).toMatchObject({ jobId: "msg-1", prompt: "Nordlys over Tromsø 🌌\n", source: "sqs" });
  });

  it.each([
    ["a body starting with { that is not JSON", "{the lighthouse} at dawn"],
    ["a JSON array", '["a lighthouse"]'],
    ["a JSON string", '"a lighthouse"'],
  ])("treats %s as plain text", (_kind, body) => {
    expect(readMessageBody(body)).toEqual({ fields: { prompt: body } });
  });

  it("parses JSON with surrounding whitespace", () => {
    expect(readMessageBody('\n  {"prompt": "a cat"}  \n')).toEqual({ fields: { prompt: "a cat" } });
  });

  it("uses the message id as the jobId", () => {
    expect(jobIdForMessage("059f36b4-87a3-44ab-83d2-661975830a7d")).toBe("059f36b4-87a3-44ab-83d2-661975830a7d");
  });

  it("reports success for a redelivered message whose execution already exists", async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(alreadyExists("msg-1"));
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves(describedAs({ jobId: "msg-1", prompt: "a lighthouse", source: "sqs", requestedAt: "earlier" }));

    // Act
    const response = await handleSqsBatch(sqsEvent(sqsRecord("msg-1", "a lighthouse")), deps);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
  });

  it("reports success even when the existing execution's input differs: the message was already started", async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(alreadyExists("msg-1"));
    sfnMock.on(DescribeExecutionCommand).resolves(describedAs({ prompt: "something else", source: "sqs" }));

    // Act
    const response = await handleSqsBatch(sqsEvent(sqsRecord("msg-1", "a lighthouse")), deps);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
  });

  it("returns only the throttled record to the queue, logged at WARN, and still starts the others", async () => {
    // Prepare
    const output = captureOutput();
    onTestFinished(output.restore);
    const { log } = handlerObservability("start-job");
    sfnMock.on(StartExecutionCommand, { name: "msg-2" }).rejects(awsError("ThrottlingException", "Rate exceeded"));
    const event = sqsEvent(sqsRecord("msg-1", "one"), sqsRecord("msg-2", "two"), sqsRecord("msg-3", "three"));

    // Act
    const response = await handleSqsBatch(event, { ...deps, log });

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "msg-2" }] });
    const names = sfnMock.commandCalls(StartExecutionCommand).map((call) => call.args[0].input.name);
    expect(names.sort()).toEqual(["msg-1", "msg-2", "msg-3"]);
    const failures = output.logs().filter((line) => line.level !== "INFO");
    expect(failures).toEqual([
      expect.objectContaining({
        level: "WARN",
        jobId: "msg-2",
        correlation_id: "msg-2",
        receiveCount: "1",
        error: "ThrottlingException",
      }),
    ]);
  });

  it("returns every record when StartExecution fails for all of them", async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(awsError("InternalServerError", "boom", 500));

    // Act
    const response = await handleSqsBatch(sqsEvent(sqsRecord("msg-1", "one"), sqsRecord("msg-2", "two")), deps);

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "msg-1" }, { itemIdentifier: "msg-2" }]);
  });

  it("answers an empty batch with no failures and no calls", async () => {
    expect(await handleSqsBatch(sqsEvent(), deps)).toEqual({ batchItemFailures: [] });
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

describe("requests too big to be a request, and bodies that are not JSON", () => {
  it("starts an oversized SQS message's job with only its size, so ValidatePrompt rejects it (no 256 KB input)", async () => {
    // Prepare
    const body = "f".repeat(300_000);

    // Act
    const response = await handleSqsBatch(sqsEvent(sqsRecord("msg-big", body)), deps);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(startedInput()).toEqual({
      jobId: "msg-big",
      source: "sqs",
      requestedAt: NOW.toISOString(),
      pipeline: { caller: `queue:${QUEUE_ARN}`, oversizedBodyBytes: 300_000 },
    });
  });

  it("keeps a message at the limit as a request", () => {
    expect(readMessageBody("a".repeat(MAX_BODY_BYTES))).toEqual({ fields: { prompt: "a".repeat(MAX_BODY_BYTES) } });
  });

  it("does not echo the body back in the invalid-JSON message", async () => {
    // Act
    const result = await handleGenerateImageRequest(
      apiEvent({ body: "secret-token-123 {", headers: jsonHeaders() }),
      apiDeps,
    );

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).message).not.toContain("secret-token-123");
    expect(bodyOf(result).message).toMatch(/^The request body is not valid JSON \(.+\): send \{"prompt": "\.\.\."\}$/);
  });
});

/** `{"prompt": "a red fox", "seed": [[[…]]]}` with the array nested `levels` deep: `levels + 1` levels in all. */
function deeplyNestedBody(levels: number): string {
  return `{"prompt":"a red fox","seed":${"[".repeat(levels)}${"]".repeat(levels)}}`;
}

describe("deeply nested JSON", () => {
  it("answers 400 naming the nesting limit before anything serialises the body", async () => {
    // Act
    const result = await handleGenerateImageRequest(apiEvent({ body: deeplyNestedBody(20_000) }), apiDeps);

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).message).toBe(
      'The request body is nested 20001 levels deep; at most 20 levels are accepted: send a flat JSON object like {"prompt": "a lighthouse at dawn"}',
    );
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it("accepts 20 levels, the limit", async () => {
    // Act
    const result = await handleGenerateImageRequest(apiEvent({ body: deeplyNestedBody(19) }), apiDeps);

    // Assess: past the nesting check, the contract refuses an array as a seed.
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).message).toMatch(/^"seed" must be an integer/);
  });

  it("does not count brackets inside strings", async () => {
    // Act
    const result = await handleGenerateImageRequest(
      apiEvent({ body: JSON.stringify({ prompt: `a castle ${"[{".repeat(100)} \\" ]` }) }),
      apiDeps,
    );

    // Assess
    expect(result.statusCode).toBe(202);
  });

  it("starts a deeply nested SQS message's job with only its depth, so ValidatePrompt rejects it (never throws)", async () => {
    // Act
    const response = await handleSqsBatch(sqsEvent(sqsRecord("msg-deep", deeplyNestedBody(20_000))), deps);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(startedInput()).toEqual({
      jobId: "msg-deep",
      source: "sqs",
      requestedAt: NOW.toISOString(),
      pipeline: { caller: `queue:${QUEUE_ARN}`, bodyNestingDepth: 20_001 },
    });
  });

  it("keeps a plain-text SQS prompt full of brackets a prompt", async () => {
    // Act
    await handleSqsBatch(sqsEvent(sqsRecord("msg-1", `{${"[".repeat(30)} not JSON`)), deps);

    // Assess
    expect(startedInput()).toMatchObject({ prompt: `{${"[".repeat(30)} not JSON` });
  });
});

describe("numbers JSON cannot carry", () => {
  it("names an SQS body's field that parsed as Infinity (1e309), which the execution input would turn into null", async () => {
    // Act
    await handleSqsBatch(sqsEvent(sqsRecord("msg-1", '{"prompt": "a cat", "seed": 1e309, "width": -1e309}')), deps);

    // Assess
    expect(startedInput()).toMatchObject({
      seed: null,
      width: null,
      pipeline: { caller: `queue:${QUEUE_ARN}`, numbersTooLarge: ["seed", "width"] },
    });
  });

  it("answers 400 on the API, saying a number too large was sent", async () => {
    // Act
    const result = await handleGenerateImageRequest(apiEvent({ body: '{"prompt": "a cat", "seed": 1e309}' }), apiDeps);

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).message).toMatch(/, got a number too large$/);
  });
});

describe("fields the pipeline adds cannot come from a producer", () => {
  it("ignores oversizedBodyBytes in an SQS body: the job runs as the request it is", async () => {
    // Act
    await handleSqsBatch(
      sqsEvent(sqsRecord("msg-1", JSON.stringify({ prompt: "a lighthouse", oversizedBodyBytes: 1 }))),
      deps,
    );

    // Assess
    expect(startedInput()).toEqual({
      jobId: "msg-1",
      prompt: "a lighthouse",
      source: "sqs",
      requestedAt: NOW.toISOString(),
      pipeline: { caller: `queue:${QUEUE_ARN}` },
    });
  });

  it("ignores a pipeline object, jobId, source and requestedAt in an SQS body", async () => {
    // Prepare
    const body = JSON.stringify({
      prompt: "a lighthouse",
      pipeline: { caller: "apiKey:someone-else", oversizedBodyBytes: 1, bodyNestingDepth: 99 },
      jobId: "someone-elses-job",
      source: "api",
      requestedAt: "1999-01-01T00:00:00.000Z",
    });

    // Act
    await handleSqsBatch(sqsEvent(sqsRecord("msg-1", body)), deps);

    // Assess
    expect(startedInput()).toEqual({
      jobId: "msg-1",
      prompt: "a lighthouse",
      source: "sqs",
      requestedAt: NOW.toISOString(),
      pipeline: { caller: `queue:${QUEUE_ARN}` },
    });
  });
});

describe("request bodies that are not UTF-8", () => {
  it.each([
    "application/json; charset=latin1",
    "application/json; charset=ISO-8859-1",
    "application/json;charset=utf-16",
  ])("answers 415 for Content-Type %s, naming utf-8", async (contentType) => {
    // Act
    const result = await handleGenerateImageRequest(
      apiEvent({
        headers: { "Content-Type": contentType },
        body: Buffer.from('{"prompt":"caf\xe9"}', "latin1").toString("base64"),
        isBase64Encoded: true,
      }),
      apiDeps,
    );

    // Assess
    expect(result.statusCode).toBe(415);
    expect(bodyOf(result).message).toMatch(
      /^Content-Type charset must be utf-8, got ".+": send the body as UTF-8 \(charset=utf-8, or no charset\)$/,
    );
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it("answers 400 for bytes that are not valid UTF-8 (a Latin-1 é), instead of storing U+FFFD", async () => {
    // Prepare
    const body = Buffer.from('{"prompt":"caf\xe9 on a hill"}', "latin1").toString("base64");

    // Act
    const result = await handleGenerateImageRequest(apiEvent({ body, isBase64Encoded: true }), apiDeps);

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).message).toBe("The request body is not valid UTF-8: send the JSON encoded as UTF-8");
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it.each([
    ["as raw bytes", (text: string) => ({ body: Buffer.from(text).toString("base64"), isBase64Encoded: true })],
    ["as text", (text: string) => ({ body: text, isBase64Encoded: false })],
  ])("accepts and strips a leading byte-order mark sent %s", async (_how, encode) => {
    // Act
    const result = await handleGenerateImageRequest(apiEvent(encode('\ufeff{"prompt":"a red fox"}')), apiDeps);

    // Assess
    expect(result.statusCode).toBe(202);
    expect(startedInput().prompt).toBe("a red fox");
  });
});

describe("attacker text reaches messages and logs only as a short excerpt", () => {
  const huge = "q".repeat(15 * 1024);

  it("quotes a 15 KB unknown field name as a short, escaped excerpt", async () => {
    // Act
    const result = await handleGenerateImageRequest(
      apiEvent({ body: JSON.stringify({ prompt: "x", [`${huge}\n`]: 1 }) }),
      apiDeps,
    );

    // Assess
    expect(result.statusCode).toBe(400);
    const message = String(bodyOf(result).message);
    expect(message.length).toBeLessThan(300);
    expect(message).toMatch(/^Unknown field "q{56}\.\.\.; accepted fields: prompt, /);
  });

  it("names at most five unknown fields and counts the rest", async () => {
    // Prepare
    const fields = Object.fromEntries(Array.from({ length: 2000 }, (_, index) => [`f${index}`, 1]));

    // Act
    const result = await handleGenerateImageRequest(
      apiEvent({ body: JSON.stringify({ prompt: "x", ...fields }) }),
      apiDeps,
    );

    // Assess
    const message = String(bodyOf(result).message);
    expect(message).toMatch(/^Unknown fields "f0", "f1", "f2", "f3", "f4" and 1995 more; accepted fields: /);
    expect(message.length).toBeLessThan(300);
  });

  it("quotes a 15 KB Content-Type as a short excerpt", async () => {
    // Act
    const result = await handleGenerateImageRequest(apiEvent({ headers: { "Content-Type": `text/${huge}` } }), apiDeps);

    // Assess
    expect(result.statusCode).toBe(415);
    expect(String(bodyOf(result).message).length).toBeLessThan(300);
  });

  it.each([
    ["the API adapter", async (log: PipelineLogger) => handleGenerateImageRequest(apiEvent(), { ...apiDeps, log })],
    [
      "the SQS adapter",
      async (log: PipelineLogger) => handleSqsBatch(sqsEvent(sqsRecord("msg-1", "a cat")), { ...deps, log }),
    ],
  ])("logs a 15 KB StartExecution error message in %s as a short excerpt", async (_adapter, act) => {
    // Prepare
    const output = captureOutput();
    onTestFinished(output.restore);
    sfnMock.on(StartExecutionCommand).rejects(awsError("InvalidExecutionInput", `Invalid input: ${huge}`));

    // Act
    await act(handlerObservability("start-job").log);

    // Assess
    const entry = output.logs().find((line) => line.level === "ERROR");
    expect(String(entry?.detail).length).toBeLessThan(300);
    expect(String(entry?.detail)).toMatch(/^InvalidExecutionInput: Invalid input: q+\.\.\.$/);
    // The whole line, Powertools' own keys included.
    expect(JSON.stringify(entry).length).toBeLessThan(900);
  });
});

describe("jobs belong to their caller", () => {
  it("records the API key's id as the caller in the execution input, under the pipeline's own key", async () => {
    // Act
    await handleGenerateImageRequest(apiEvent({ apiKeyId: "key-a" }), apiDeps);

    // Assess
    expect(startedInput().pipeline).toEqual({ caller: "apiKey:key-a" });
  });

  it("records an anonymous caller when the API takes no key", async () => {
    // Act
    await handleGenerateImageRequest(apiEvent(), apiDeps);

    // Assess
    expect(startedInput().pipeline).toEqual({ caller: "anonymous" });
  });

  it("records the queue as the caller of an SQS job", async () => {
    // Act
    await handleSqsBatch(sqsEvent(sqsRecord("msg-1", "a cat")), deps);

    // Assess
    expect(startedInput().pipeline).toEqual({ caller: `queue:${QUEUE_ARN}` });
  });

  it("scopes an Idempotency-Key to the API key: two callers' same key are two jobs", async () => {
    // Prepare
    const send = (apiKeyId?: string) =>
      handleGenerateImageRequest(
        apiEvent({ apiKeyId, headers: jsonHeaders({ "Idempotency-Key": "lighthouse-1" }) }),
        apiDeps,
      );

    // Act
    const [a, again, b, anonymous] = [await send("key-a"), await send("key-a"), await send("key-b"), await send()];

    // Assess
    const [jobA, jobAgain, jobB, jobAnonymous] = [a, again, b, anonymous].map((result) => String(bodyOf(result).jobId));
    expect(jobA).toBe(jobAgain);
    expect(jobA).not.toBe(jobB);
    expect(jobA).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
    expect(jobA).toMatch(/-lighthouse-1$/);
    expect(jobAnonymous).toBe("lighthouse-1");
  });

  it("keeps an 80-character Idempotency-Key of an API key holder a valid execution name", async () => {
    // Act
    const result = await handleGenerateImageRequest(
      apiEvent({ apiKeyId: "key-a", headers: jsonHeaders({ "Idempotency-Key": "k".repeat(80) }) }),
      apiDeps,
    );

    // Assess
    expect(result.statusCode).toBe(202);
    expect(String(bodyOf(result).jobId)).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.name).toBe(bodyOf(result).jobId);
  });

  it("replays the same caller's same request, and answers 409 when the stored caller differs", async () => {
    // Prepare
    const stored = { jobId: "j", prompt: "a lighthouse at dawn", source: "api", requestedAt: "x" };
    sfnMock.on(StartExecutionCommand).rejects(alreadyExists("j"));
    sfnMock
      .on(DescribeExecutionCommand)
      .resolvesOnce(describedAs({ ...stored, pipeline: { caller: "apiKey:key-a" } }))
      .resolvesOnce(describedAs({ ...stored, pipeline: { caller: "apiKey:key-b" } }));

    // Act
    const same = await startJob("j", { prompt: "a lighthouse at dawn" }, "api", deps, { caller: "apiKey:key-a" });
    const other = startJob("j", { prompt: "a lighthouse at dawn" }, "api", deps, { caller: "apiKey:key-a" });

    // Assess
    expect(same.replayed).toBe(true);
    await expect(other).rejects.toBeInstanceOf(JobConflictError);
  });
});

describe("what start-job logs and counts", () => {
  let output: CapturedOutput;
  beforeEach(() => {
    output = captureOutput();
    return output.restore;
  });

  it("logs a started API job as JSON with the Lambda request id, the API request id and the jobId", async () => {
    // Prepare
    const observe = handlerObservability("start-job", lambdaContext("lambda-request-1"));

    // Act
    await handleGenerateImageRequest(apiEvent(), { ...apiDeps, ...observe });

    // Assess
    expect(output.logs()).toEqual([
      expect.objectContaining({
        level: "INFO",
        message: "Job started",
        service: "couch-imagegen",
        function: "start-job",
        function_request_id: "lambda-request-1",
        correlation_id: REQUEST_ID,
        source: "api",
        jobId: REQUEST_ID,
        executionArn: `${EXECUTION_PREFIX}:${REQUEST_ID}`,
      }),
    ]);
    expect(output.metrics()).toEqual([]);
  });

  it("logs a refused API request at INFO with why, never its body, and counts one rejection from source api", async () => {
    // Prepare
    const observe = handlerObservability("start-job");

    // Act
    await handleGenerateImageRequest(apiEvent({ body: JSON.stringify({ prompt: "a secret\u0007" }) }), {
      ...apiDeps,
      ...observe,
    });
    await handleGenerateImageRequest(apiEvent({ headers: { "Content-Type": "text/plain" } }), {
      ...apiDeps,
      ...observe,
    });

    // Assess
    const logs = output.logs();
    expect(logs).toEqual([
      expect.objectContaining({ level: "INFO", message: "Request rejected", status: 400, correlation_id: REQUEST_ID }),
      expect.objectContaining({ level: "INFO", message: "Request rejected", status: 415, correlation_id: REQUEST_ID }),
    ]);
    expect(logs[0]?.reason).toMatch(/^"prompt" contains the control character U\+0007/);
    expect(JSON.stringify(logs)).not.toContain("secret");
    expect(output.metrics()).toHaveLength(2);
    expect(output.metrics()[0]).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: "CouchImagegen",
            Dimensions: [["service", "Source"]],
            Metrics: [{ Name: "Rejections", Unit: "Count" }],
          },
        ],
      },
      service: "couch-imagegen",
      Source: "api",
      Rejections: 1,
    });
  });

  it("logs each SQS message's job with its message id as the correlation id, and counts nothing", async () => {
    // Prepare
    const observe = handlerObservability("start-job", lambdaContext("lambda-request-2"));

    // Act
    await handleSqsBatch(sqsEvent(sqsRecord("msg-1", "one"), sqsRecord("msg-2", "two")), { ...deps, ...observe });

    // Assess
    const started = output.logs().map(({ message, jobId, correlation_id, source, function_request_id }) => ({
      message,
      jobId,
      correlation_id,
      source,
      function_request_id,
    }));
    expect(started.sort((a, b) => String(a.jobId).localeCompare(String(b.jobId)))).toEqual([
      {
        message: "Job started",
        jobId: "msg-1",
        correlation_id: "msg-1",
        source: "sqs",
        function_request_id: "lambda-request-2",
      },
      {
        message: "Job started",
        jobId: "msg-2",
        correlation_id: "msg-2",
        source: "sqs",
        function_request_id: "lambda-request-2",
      },
    ]);
    // An SQS body is judged by ValidatePrompt, which counts its rejection.
    expect(output.metrics()).toEqual([]);
  });

  it("logs a redelivered message whose job already ran at INFO, as done", async () => {
    // Prepare
    const observe = handlerObservability("start-job");
    sfnMock.on(StartExecutionCommand).rejects(alreadyExists("msg-1"));
    sfnMock.on(DescribeExecutionCommand).resolves(describedAs({ prompt: "something else", source: "sqs" }));

    // Act
    await handleSqsBatch(sqsEvent(sqsRecord("msg-1", "a lighthouse")), { ...deps, ...observe });

    // Assess
    expect(output.logs()).toEqual([
      expect.objectContaining({
        level: "INFO",
        message: "Job already started for this message (a redelivery)",
        jobId: "msg-1",
        correlation_id: "msg-1",
      }),
    ]);
  });
});
