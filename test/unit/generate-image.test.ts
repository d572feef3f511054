// Verifies the GenerateImage core for each model family: one InvokeModel call with the request's model id and its
// family's body, the staging PutObject (key and Content-Type per output format, metadata within S3's 2 KB, the seed
// the model reports), the image signature check, the small result that travels in the state payload, and the error
// name each Bedrock failure or answer becomes; the Bedrock call's log line (model, latency, outcome, level by outcome)
// and the metrics (latency, throttles, content-filter refusals, images, estimated spend by model, quality and size) in
// embedded metric format. Bedrock and S3 are aws-sdk-client-mock mocks: this cannot verify that a
// real model accepts the body, returns the format asked for, or words its refusals the way these fixtures do.
import { BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import jpeg from "jpeg-js";
import { beforeEach, describe, expect, it } from "vitest";
import { type GenerateImageEvent, generateImage, imageMetadata } from "../../functions/generate-image/generate-image";
import { type ImageRequest, type ModelChoice, validateImageRequest } from "../../functions/shared/image-request";
import { RETRIED_BEDROCK_ERRORS } from "../../functions/shared/pipeline-errors";
import {
  awsError,
  bedrockImageResponse,
  modelEndOfLifeError,
  stabilityResponse,
  TINY_PNG_BASE64,
} from "../fixtures/tiny-png";
import {
  type CapturedOutput,
  captureOutput,
  handlerObservability,
  lambdaContext,
  type OutputLine,
} from "./powertools-output";

const credentials = { accessKeyId: "test", secretAccessKey: "test" };
const CORE = "stability.stable-image-core-v1:1";
const NOVA = "amazon.nova-canvas-v1:0";
const TITAN = "amazon.titan-image-generator-v2:0";
const MODELS: ModelChoice = { defaultModelId: CORE, allowedModelIds: [CORE, NOVA, TITAN] };
const BUCKET = "couch-images";
const KEY_PREFIX = "candidate-7";
const MAX_METADATA_BYTES = 2048;
const REPORTED_SEED = 2130420379;

// A real 2x2 baseline JPEG, so the bytes are what a JPEG answer holds, not only its first three.
const TINY_JPEG = jpeg.encode({ data: Buffer.alloc(2 * 2 * 4, 0x80), width: 2, height: 2 }, 50).data;
const TINY_PNG = Buffer.from(TINY_PNG_BASE64, "base64");

const bedrock = new BedrockRuntimeClient({ region: "us-west-2", credentials });
const s3 = new S3Client({ region: "eu-west-1", credentials });
const bedrockMock = mockClient(bedrock);
const s3Mock = mockClient(s3);
const deps = { bedrock, s3, bucket: BUCKET, keyPrefix: KEY_PREFIX };

/** A request as ValidatePrompt would hand it on. */
function imageRequest(fields: Record<string, unknown> = {}, model = CORE): ImageRequest {
  return validateImageRequest({ prompt: "a lighthouse at dawn", seed: 42, ...fields, model }, MODELS, "job-1");
}

function event(fields: Record<string, unknown> = {}, model = CORE): GenerateImageEvent {
  return { jobId: "job-1", request: imageRequest(fields, model) };
}

function bedrockBody(value: unknown): Uint8Array {
  return new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
}

function answerWith(body: Uint8Array): void {
  bedrockMock.on(InvokeModelCommand).resolves({ body } as never);
}

/** The body InvokeModel was called with, parsed. */
function sentBody(): Record<string, unknown> {
  const body = bedrockMock.commandCalls(InvokeModelCommand)[0]?.args[0].input.body;
  if (typeof body !== "string") throw new Error("expected InvokeModel to be sent a JSON string body");
  return JSON.parse(body);
}

/** The one PutObject input; fails the test when there was not exactly one. */
function stagedObject() {
  const calls = s3Mock.commandCalls(PutObjectCommand);
  expect(calls).toHaveLength(1);
  const input = calls[0]?.args[0].input;
  if (!input) throw new Error("expected a PutObject call");
  return input;
}

/** S3 counts user metadata as the UTF-8 bytes of every key and value. */
function metadataBytes(metadata: Record<string, string>): number {
  return Object.entries(metadata).reduce((sum, [key, value]) => sum + Buffer.byteLength(key + value), 0);
}

beforeEach(() => {
  bedrockMock.reset();
  s3Mock.reset();
  answerWith(stabilityResponse(REPORTED_SEED));
  s3Mock.on(PutObjectCommand).resolves({});
});

describe("generateImage: Stability AI", () => {
  it("calls InvokeModel once with the request's model id and the Stability body", async () => {
    // Act
    await generateImage(event({ aspectRatio: "16:9", negativePrompt: "fog" }), deps);

    // Assess
    const calls = bedrockMock.commandCalls(InvokeModelCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toMatchObject({
      modelId: CORE,
      contentType: "application/json",
      accept: "application/json",
    });
    expect(sentBody()).toEqual({
      prompt: "a lighthouse at dawn",
      negative_prompt: "fog",
      aspect_ratio: "16:9",
      seed: 42,
    });
  });

  it("stages the PNG at staging/{jobId}.png with image/png and prompt, model, reported seed and aspect ratio", async () => {
    // Act
    await generateImage(event({ prompt: "fyr ved daggry, blåbær 🌅", aspectRatio: "16:9" }), deps);

    // Assess
    const input = stagedObject();
    expect(input).toMatchObject({ Bucket: BUCKET, Key: "candidate-7/staging/job-1.png", ContentType: "image/png" });
    expect(Buffer.from(input.Body as Uint8Array).equals(TINY_PNG)).toBe(true);
    expect(input.Metadata).toEqual({
      "job-id": "job-1",
      prompt: encodeURIComponent("fyr ved daggry, blåbær 🌅"),
      "model-id": CORE,
      seed: String(REPORTED_SEED),
      "aspect-ratio": "16:9",
    });
  });

  it("returns only a reference to the image, with the reported seed, model, aspect ratio and format", async () => {
    // Act
    const result = await generateImage(event({ aspectRatio: "9:16" }), deps);

    // Assess
    expect(result).toEqual({
      bucket: BUCKET,
      stagingKey: "candidate-7/staging/job-1.png",
      bytes: TINY_PNG.length,
      seed: REPORTED_SEED,
      modelId: CORE,
      aspectRatio: "9:16",
      outputFormat: "png",
    });
    expect(JSON.stringify(result)).not.toContain(TINY_PNG_BASE64.slice(0, 20));
  });

  it("reports the seed the model picked when asked with 0", async () => {
    // Prepare
    answerWith(stabilityResponse(987_654));

    // Act
    const result = await generateImage(event({ seed: 0 }), deps);

    // Assess
    expect(sentBody().seed).toBe(0);
    expect(result.seed).toBe(987_654);
    expect(stagedObject().Metadata?.seed).toBe("987654");
  });

  it("stages a JPEG at staging/{jobId}.jpg with image/jpeg, having asked for jpeg", async () => {
    // Prepare
    answerWith(stabilityResponse(REPORTED_SEED, null, TINY_JPEG.toString("base64")));

    // Act
    const result = await generateImage(event({ outputFormat: "jpeg" }), deps);

    // Assess
    expect(sentBody().output_format).toBe("jpeg");
    const input = stagedObject();
    expect(input).toMatchObject({ Key: "candidate-7/staging/job-1.jpg", ContentType: "image/jpeg" });
    expect(Buffer.from(input.Body as Uint8Array).equals(TINY_JPEG)).toBe(true);
    expect(result).toMatchObject({ stagingKey: "candidate-7/staging/job-1.jpg", outputFormat: "jpeg" });
  });

  it("refuses a PNG returned for a JPEG request as BedrockMalformedResponse and stores nothing", async () => {
    // Act + Assess
    await expect(generateImage(event({ outputFormat: "jpeg" }), deps)).rejects.toMatchObject({
      name: "BedrockMalformedResponse",
      message: "Bedrock returned an image that is not JPEG",
    });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it("refuses a JPEG returned for a PNG request as BedrockMalformedResponse and stores nothing", async () => {
    // Prepare
    answerWith(stabilityResponse(REPORTED_SEED, null, TINY_JPEG.toString("base64")));

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({
      name: "BedrockMalformedResponse",
      message: "Bedrock returned an image that is not PNG",
    });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it.each([
    ["Filter reason: prompt", "ContentBlocked"],
    ["Filter reason: output image", "ContentBlocked"],
    ["Inference error", "ModelInferenceError"],
  ])("maps the finish reason %j to %s and stores nothing", async (reason, name) => {
    // Prepare
    answerWith(stabilityResponse(REPORTED_SEED, reason));

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({ name });
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(1);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it("maps ResourceNotFoundException for an end-of-life model to ModelUnavailable naming the deploy parameter", async () => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(modelEndOfLifeError());

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({
      name: "ModelUnavailable",
      message: expect.stringMatching(
        /^Bedrock refused model "stability\.stable-image-core-v1:1" .*deploy parameter modelId/,
      ),
    });
  });
});

describe("generateImage: Amazon models", () => {
  beforeEach(() => {
    answerWith(bedrockImageResponse());
  });

  it("sends Nova Canvas one TEXT_IMAGE request with the validated size, quality and seed", async () => {
    // Act
    await generateImage(event({ width: 1280, height: 720, quality: "premium" }, NOVA), deps);

    // Assess
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(1);
    expect(bedrockMock.commandCalls(InvokeModelCommand)[0]?.args[0].input.modelId).toBe(NOVA);
    expect(sentBody()).toEqual({
      taskType: "TEXT_IMAGE",
      textToImageParams: { text: "a lighthouse at dawn" },
      imageGenerationConfig: { numberOfImages: 1, width: 1280, height: 720, quality: "premium", seed: 42 },
    });
  });

  it("sends negativeText only when a negative prompt was given", async () => {
    // Act
    await generateImage(event({ negativePrompt: "fog, people" }, NOVA), deps);

    // Assess
    expect(sentBody().textToImageParams).toEqual({ text: "a lighthouse at dawn", negativeText: "fog, people" });
  });

  it("stages the PNG with the seed sent (these models report none) and the ratio of the size sent", async () => {
    // Act
    const result = await generateImage(event({ width: 1280, height: 720 }, NOVA), deps);

    // Assess
    expect(stagedObject()).toMatchObject({
      Key: "candidate-7/staging/job-1.png",
      ContentType: "image/png",
      Metadata: { "job-id": "job-1", "model-id": NOVA, seed: "42", "aspect-ratio": "16:9" },
    });
    expect(result).toEqual({
      bucket: BUCKET,
      stagingKey: "candidate-7/staging/job-1.png",
      bytes: TINY_PNG.length,
      seed: 42,
      modelId: NOVA,
      aspectRatio: "16:9",
      outputFormat: "png",
    });
  });

  it("calls Titan with its own model id and a size from its list", async () => {
    // Act
    const result = await generateImage(event({ aspectRatio: "3:2" }, TITAN), deps);

    // Assess
    expect(bedrockMock.commandCalls(InvokeModelCommand)[0]?.args[0].input.modelId).toBe(TITAN);
    expect(sentBody().imageGenerationConfig).toMatchObject({ width: 1152, height: 768, quality: "standard" });
    expect(result).toMatchObject({ modelId: TITAN, aspectRatio: "3:2", seed: 42 });
  });

  it("stages at staging/{jobId}.png when there is no key prefix", async () => {
    // Act
    const result = await generateImage(event({}, NOVA), { ...deps, keyPrefix: "" });

    // Assess
    expect(result.stagingKey).toBe("staging/job-1.png");
    expect(stagedObject().Key).toBe("staging/job-1.png");
  });

  it("lets a failed staging write through as the S3 error, after one Bedrock call", async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).rejects(awsError("SlowDown", "Please reduce your request rate.", 503));

    // Act + Assess
    await expect(generateImage(event({}, NOVA), deps)).rejects.toMatchObject({ name: "SlowDown" });
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(1);
  });
});

describe("imageMetadata", () => {
  it("leaves a short prompt whole, URI-encoded, without the truncated flag", () => {
    // Act
    const metadata = imageMetadata(event({ prompt: "Nordlys over Tromsø 🌌" }), 7);

    // Assess
    expect(decodeURIComponent(metadata.prompt ?? "")).toBe("Nordlys over Tromsø 🌌");
    expect(metadata).not.toHaveProperty("prompt-truncated");
    expect(metadata.seed).toBe("7");
  });

  it.each([
    ["æ", "æ".repeat(1024)],
    ["a + æ (cut would fall inside a character)", `a${"æ".repeat(1023)}`],
    ["ab + æ", `ab${"æ".repeat(1022)}`],
    ["emoji", "🌅".repeat(1024)],
    ["a + emoji", `a${"🌅".repeat(1023)}`],
    ["mixed", "blåbær 🫐 og tyttebær ".repeat(48)],
    ["10,000-character emoji (Stability's limit)", "🌅".repeat(10_000)],
  ])(
    "caps a long %s prompt so it still decodes, flags it and keeps all metadata ASCII and under 2 KB",
    (_kind, prompt) => {
      // Act
      const metadata = imageMetadata(
        { jobId: "j".repeat(80), request: imageRequest({ prompt, aspectRatio: "21:9" }) },
        4_294_967_294,
      );

      // Assess
      expect(metadata["prompt-truncated"]).toBe("true");
      const decoded = decodeURIComponent(metadata.prompt ?? "");
      expect(decoded.length).toBeGreaterThan(0);
      expect(prompt.startsWith(decoded)).toBe(true);
      expect(metadataBytes(metadata)).toBeLessThan(MAX_METADATA_BYTES);
      expect(Object.values(metadata).join("")).toMatch(/^[\x20-\x7e]*$/);
    },
  );

  it("keeps a 1,024-character ASCII prompt whole: it fits", () => {
    // Act
    const metadata = imageMetadata(event({ prompt: "a".repeat(1024) }), 42);

    // Assess
    expect(metadata.prompt).toBe("a".repeat(1024));
    expect(metadata).not.toHaveProperty("prompt-truncated");
  });
});

describe.each([
  ["Stable Image Core", CORE],
  ["Nova Canvas", NOVA],
])("generateImage: Bedrock errors (%s)", (_name, model) => {
  it.each(RETRIED_BEDROCK_ERRORS.map((name) => [name]))(
    "passes %s through under its own name, for the generator (a throttle) or the state machine to retry",
    async (name) => {
      // Prepare
      const original = awsError(name, "Too many requests, please wait before trying again.", 429);
      bedrockMock.on(InvokeModelCommand).rejects(original);

      // Act
      const attempt = generateImage(event({}, model), deps);

      // Assess
      await expect(attempt).rejects.toMatchObject({
        name,
        message: "Too many requests, please wait before trying again.",
        cause: original,
      });
      expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
    },
  );

  it.each([
    "This request has been blocked by our content filters. Please adjust your text prompt to submit a new request.",
    "Our filters blocked the generated image(s). Please adjust your prompt.",
  ])("maps a content-filter ValidationException (%s) to the final ContentBlocked", async (message) => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(awsError("ValidationException", message));

    // Act + Assess
    await expect(generateImage(event({}, model), deps)).rejects.toMatchObject({ name: "ContentBlocked", message });
  });

  it("maps any other ValidationException to the final BedrockValidation", async () => {
    // Prepare
    const message = "Malformed input request: #/imageGenerationConfig/width: 1000 is not a multiple of 16";
    bedrockMock.on(InvokeModelCommand).rejects(awsError("ValidationException", message));

    // Act + Assess
    await expect(generateImage(event({}, model), deps)).rejects.toMatchObject({ name: "BedrockValidation", message });
  });

  it("keeps a Bedrock message that quotes 15 KB of the request to a short excerpt, the original as its cause", async () => {
    // Prepare
    const original = awsError("ValidationException", `Malformed input request: #/text: ${"q".repeat(15 * 1024)}`);
    bedrockMock.on(InvokeModelCommand).rejects(original);

    // Act
    const attempt = generateImage(event({}, model), deps);

    // Assess
    await expect(attempt).rejects.toMatchObject({
      name: "BedrockValidation",
      cause: original,
      message: expect.stringMatching(/^Malformed input request: #\/text: q{200,240}\.\.\.$/),
    });
  });

  it("maps ValidationException 'The provided model identifier is invalid.' to ModelUnavailable", async () => {
    // Prepare
    bedrockMock
      .on(InvokeModelCommand)
      .rejects(awsError("ValidationException", "The provided model identifier is invalid."));

    // Act + Assess
    await expect(generateImage(event({}, model), deps)).rejects.toMatchObject({ name: "ModelUnavailable" });
  });

  it("maps AccessDeniedException to ModelUnavailable and says what to enable", async () => {
    // Prepare
    bedrockMock
      .on(InvokeModelCommand)
      .rejects(
        awsError("AccessDeniedException", "You don't have access to the model with the specified model ID.", 403),
      );

    // Act + Assess
    await expect(generateImage(event({}, model), deps)).rejects.toMatchObject({
      name: "ModelUnavailable",
      message: expect.stringContaining("enable access to the model in the Bedrock console"),
    });
  });

  it("maps ResourceNotFoundException to ModelUnavailable", async () => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(awsError("ResourceNotFoundException", "Model not found", 404));

    // Act + Assess
    await expect(generateImage(event({}, model), deps)).rejects.toMatchObject({
      name: "ModelUnavailable",
      message: expect.stringContaining("`npx couchgen models`"),
    });
  });

  it("maps ModelErrorException to ModelInferenceError", async () => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(awsError("ModelErrorException", "The model failed", 424));

    // Act + Assess
    await expect(generateImage(event({}, model), deps)).rejects.toMatchObject({ name: "ModelInferenceError" });
  });

  it.each([
    ["InternalServerException", 500],
    ["SomethingNewException", 500],
    ["BadGatewayException", 502],
  ])("maps %s (HTTP %i) to the retried ServiceUnavailableException", async (name, status) => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(awsError(name, "Internal failure", status));

    // Act + Assess
    await expect(generateImage(event({}, model), deps)).rejects.toMatchObject({
      name: "ServiceUnavailableException",
      message: `${name}: Internal failure`,
    });
  });

  it.each([
    ["ECONNRESET", () => Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })],
    ["ETIMEDOUT", () => Object.assign(new Error("connect ETIMEDOUT"), { code: "ETIMEDOUT" })],
    ["TimeoutError", () => Object.assign(new Error("Connection timed out after 60000 ms"), { name: "TimeoutError" })],
  ])("maps a network failure (%s) to the retried ServiceUnavailableException", async (_kind, makeError) => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(makeError());

    // Act + Assess
    await expect(generateImage(event({}, model), deps)).rejects.toMatchObject({ name: "ServiceUnavailableException" });
  });

  it("maps any other client error to the final BedrockError", async () => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(awsError("ServiceQuotaExceededException", "Quota exceeded", 400));

    // Act + Assess
    await expect(generateImage(event({}, model), deps)).rejects.toMatchObject({
      name: "BedrockError",
      message: "ServiceQuotaExceededException: Quota exceeded",
    });
  });
});

describe("generateImage: Amazon answers", () => {
  it.each([
    ["no images", { images: [], error: "All of the generated images have been blocked by our content filters." }],
    [
      "a null image",
      { images: [null], error: "All of the generated images have been blocked by our content filters." },
    ],
    ["no images field", { error: "All of the generated images have been blocked by our content filters." }],
  ])("maps an answer with %s and an error to ContentBlocked", async (_kind, answer) => {
    // Prepare
    answerWith(bedrockBody(answer));

    // Act + Assess
    await expect(generateImage(event({}, NOVA), deps)).rejects.toMatchObject({
      name: "ContentBlocked",
      message: "All of the generated images have been blocked by our content filters.",
    });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it.each([
    ["an empty image list", { images: [] }, "Bedrock returned no image"],
    ["an empty image", { images: [""] }, "Bedrock returned no image"],
    ["JSON null", null, "Bedrock returned JSON that is not an object"],
    ["a JSON number", 42, "Bedrock returned JSON that is not an object"],
  ])("maps an answer with %s and no error to BedrockMalformedResponse", async (_kind, answer, message) => {
    // Prepare
    answerWith(bedrockBody(JSON.stringify(answer)));

    // Act + Assess
    await expect(generateImage(event({}, NOVA), deps)).rejects.toMatchObject({
      name: "BedrockMalformedResponse",
      message,
    });
  });

  it("maps base64 that is not a PNG to BedrockMalformedResponse and stores nothing", async () => {
    // Prepare
    answerWith(bedrockImageResponse(TINY_JPEG.toString("base64")));

    // Act + Assess
    await expect(generateImage(event({}, NOVA), deps)).rejects.toMatchObject({
      name: "BedrockMalformedResponse",
      message: "Bedrock returned an image that is not PNG",
    });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it("maps a body that is not JSON to BedrockMalformedResponse", async () => {
    // Prepare
    answerWith(bedrockBody("<html>502 Bad Gateway</html>"));

    // Act + Assess
    await expect(generateImage(event({}, NOVA), deps)).rejects.toMatchObject({
      name: "BedrockMalformedResponse",
      message: "Bedrock returned a body that is not JSON",
    });
  });
});

describe("generateImage: what it logs and counts", () => {
  let output: CapturedOutput;
  beforeEach(() => {
    output = captureOutput();
    return output.restore;
  });

  /** One clock reading per call: the Bedrock call takes `latencyMs`. */
  function clockOf(latencyMs: number): () => number {
    const readings = [1000, 1000 + latencyMs];
    return () => readings.shift() ?? Number.NaN;
  }

  /** The metric values in the EMF blobs, by name, with each blob's dimensions besides service. */
  function metricPoints(): { name: string; value: unknown; dimensions: Record<string, unknown> }[] {
    return output.metrics().map((blob) => {
      const { _aws, service, ...rest } = blob as OutputLine & {
        _aws: { CloudWatchMetrics: { Metrics: { Name: string }[] }[] };
      };
      const name = _aws.CloudWatchMetrics[0]?.Metrics[0]?.Name ?? "";
      const { [name]: value, ...dimensions } = rest;
      expect(service).toBe("couch-imagegen");
      return { name, value, dimensions };
    });
  }

  it("logs the Bedrock call with model, latency and outcome ok, and counts the image, its price and the latency", async () => {
    // Prepare
    const observe = handlerObservability("generate-image", lambdaContext("lambda-request-3"));

    // Act
    await generateImage(event(), { ...deps, ...observe, clock: clockOf(6543.2) });

    // Assess
    expect(output.logs()).toEqual([
      expect.objectContaining({
        level: "INFO",
        message: "Bedrock call",
        function: "generate-image",
        function_request_id: "lambda-request-3",
        jobId: "job-1",
        modelId: CORE,
        latencyMs: 6543,
        outcome: "ok",
      }),
      expect.objectContaining({ level: "INFO", message: "Image staged", jobId: "job-1", seed: REPORTED_SEED }),
    ]);
    expect(metricPoints()).toEqual([
      { name: "BedrockLatency", value: 6543, dimensions: { ModelId: CORE } },
      { name: "EstimatedSpendUsd", value: 0.04, dimensions: { ModelId: CORE } },
      { name: "ImagesGenerated", value: 1, dimensions: { ModelId: CORE } },
    ]);
    expect(output.metrics()[2]).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: "CouchImagegen",
            Dimensions: [["service", "ModelId"]],
            Metrics: [{ Name: "ImagesGenerated", Unit: "Count" }],
          },
        ],
      },
    });
  });

  it.each([
    ["standard, 1024x1024", { width: 1024, height: 1024 }, 0.04],
    ["premium, 1024x1024", { width: 1024, height: 1024, quality: "premium" }, 0.06],
    ["standard, 2048x2048", { width: 2048, height: 2048 }, 0.06],
    ["premium, 1280x1024", { width: 1280, height: 1024, quality: "premium" }, 0.08],
  ])("prices a Nova Canvas image (%s) by quality and size", async (_label, fields, usd) => {
    // Prepare
    answerWith(bedrockImageResponse());

    // Act
    await generateImage(event(fields, NOVA), { ...deps, ...handlerObservability("generate-image") });

    // Assess
    expect(metricPoints()).toContainEqual({ name: "EstimatedSpendUsd", value: usd, dimensions: { ModelId: NOVA } });
  });

  it("logs a content-filter refusal at INFO and counts it, with no image and no spend", async () => {
    // Prepare
    answerWith(stabilityResponse(REPORTED_SEED, "Filter reason: prompt"));

    // Act
    const attempt = generateImage(event(), { ...deps, ...handlerObservability("generate-image"), clock: clockOf(900) });

    // Assess
    await expect(attempt).rejects.toMatchObject({ name: "ContentBlocked" });
    expect(output.logs()).toEqual([
      expect.objectContaining({
        level: "INFO",
        message: "Bedrock call",
        jobId: "job-1",
        modelId: CORE,
        latencyMs: 900,
        outcome: "ContentBlocked",
      }),
    ]);
    expect(metricPoints()).toEqual([
      { name: "BedrockLatency", value: 900, dimensions: { ModelId: CORE } },
      { name: "ContentFilterRefusals", value: 1, dimensions: { ModelId: CORE } },
    ]);
  });

  it("logs a throttled call at WARN and counts the throttle", async () => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(awsError("ThrottlingException", "Too many requests", 429));

    // Act
    const attempt = generateImage(event(), { ...deps, ...handlerObservability("generate-image"), clock: clockOf(40) });

    // Assess
    await expect(attempt).rejects.toMatchObject({ name: "ThrottlingException" });
    expect(output.logs()).toEqual([
      expect.objectContaining({ level: "WARN", outcome: "ThrottlingException", latencyMs: 40, jobId: "job-1" }),
    ]);
    expect(metricPoints().map((point) => point.name)).toEqual(["BedrockLatency", "BedrockThrottles"]);
  });

  it("logs a final Bedrock error at ERROR under the name the state machine sees", async () => {
    // Prepare
    bedrockMock
      .on(InvokeModelCommand)
      .rejects(
        awsError("AccessDeniedException", "You don't have access to the model with the specified model ID.", 403),
      );

    // Act
    const attempt = generateImage(event(), { ...deps, ...handlerObservability("generate-image") });

    // Assess
    await expect(attempt).rejects.toMatchObject({ name: "ModelUnavailable" });
    expect(output.logs()).toEqual([
      expect.objectContaining({ level: "ERROR", message: "Bedrock call", outcome: "ModelUnavailable", jobId: "job-1" }),
    ]);
    expect(metricPoints().map((point) => point.name)).toEqual(["BedrockLatency"]);
  });

  it("logs a failed staging write at ERROR and counts the spend but no image", async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).rejects(awsError("SlowDown", "Please reduce your request rate.", 503));

    // Act
    const attempt = generateImage(event(), { ...deps, ...handlerObservability("generate-image") });

    // Assess
    await expect(attempt).rejects.toMatchObject({ name: "SlowDown" });
    expect(output.logs().at(-1)).toMatchObject({
      level: "ERROR",
      message: "Could not stage the image",
      error: "SlowDown",
    });
    expect(metricPoints().map((point) => point.name)).toEqual(["BedrockLatency", "EstimatedSpendUsd"]);
  });
});
