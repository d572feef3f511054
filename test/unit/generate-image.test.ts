// Verifies the GenerateImage core: the TEXT_IMAGE body sent to Bedrock, the staging PutObject (key, content type,
// metadata within S3's 2 KB), the small result that travels in the state payload, and the error name each Bedrock
// failure becomes (the four retried names, or a final one). Bedrock and S3 are aws-sdk-client-mock mocks: this cannot
// prove a real model accepts the body or that AWS words its content-filter refusals the way these fixtures do.
import { BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  bedrockError,
  type GenerateImageEvent,
  generateImage,
  imageMetadata,
  RETRIED_BEDROCK_ERRORS,
  textImageBody,
} from "../../functions/generate-image/generate-image";
import type { ImageRequest } from "../../functions/validate-prompt/validate-prompt";
import { awsError, bedrockImageResponse, TINY_PNG_BASE64 } from "../fixtures/tiny-png";

const credentials = { accessKeyId: "test", secretAccessKey: "test" };
const MODEL_ID = "amazon.nova-canvas-v1:0";
const BUCKET = "couch-images";
const KEY_PREFIX = "candidate-7";
const MAX_METADATA_BYTES = 2048;

const bedrock = new BedrockRuntimeClient({ region: "us-east-1", credentials });
const s3 = new S3Client({ region: "eu-west-1", credentials });
const bedrockMock = mockClient(bedrock);
const s3Mock = mockClient(s3);
const deps = { bedrock, s3, modelId: MODEL_ID, bucket: BUCKET, keyPrefix: KEY_PREFIX };

function imageRequest(overrides: Partial<ImageRequest> = {}): ImageRequest {
  return {
    prompt: "a lighthouse at dawn",
    negativePrompt: null,
    seed: 42,
    width: 1280,
    height: 720,
    quality: "premium",
    ...overrides,
  };
}

function event(overrides: Partial<ImageRequest> = {}): GenerateImageEvent {
  return { jobId: "job-1", request: imageRequest(overrides) };
}

function bedrockBody(value: unknown): Uint8Array {
  return new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
}

/** The body InvokeModel was called with, parsed. */
function sentBody(): Record<string, unknown> {
  const body = bedrockMock.commandCalls(InvokeModelCommand)[0]?.args[0].input.body;
  if (typeof body !== "string") throw new Error("expected InvokeModel to be sent a JSON string body");
  return JSON.parse(body);
}

/** S3 counts user metadata as the UTF-8 bytes of every key and value. */
function metadataBytes(metadata: Record<string, string>): number {
  return Object.entries(metadata).reduce((sum, [key, value]) => sum + Buffer.byteLength(key + value), 0);
}

beforeEach(() => {
  bedrockMock.reset();
  s3Mock.reset();
  bedrockMock.on(InvokeModelCommand).resolves({ body: bedrockImageResponse() } as never);
  s3Mock.on(PutObjectCommand).resolves({});
});

describe("generateImage: success", () => {
  it("sends one TEXT_IMAGE request with the validated size, quality and seed", async () => {
    // Act
    await generateImage(event(), deps);

    // Assess
    const calls = bedrockMock.commandCalls(InvokeModelCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toMatchObject({
      modelId: MODEL_ID,
      contentType: "application/json",
      accept: "application/json",
    });
    expect(sentBody()).toEqual({
      taskType: "TEXT_IMAGE",
      textToImageParams: { text: "a lighthouse at dawn" },
      imageGenerationConfig: { numberOfImages: 1, width: 1280, height: 720, quality: "premium", seed: 42 },
    });
  });

  it("sends negativeText only when a negative prompt was given", async () => {
    // Act
    await generateImage(event({ negativePrompt: "fog, people" }), deps);

    // Assess
    expect(sentBody().textToImageParams).toEqual({ text: "a lighthouse at dawn", negativeText: "fog, people" });
    expect(JSON.parse(textImageBody(imageRequest())).textToImageParams).not.toHaveProperty("negativeText");
  });

  it("writes the decoded PNG to the staging key with image/png and prompt, model and seed as metadata", async () => {
    // Act
    await generateImage(event({ prompt: "fyr ved daggry, blåbær 🌅" }), deps);

    // Assess
    const calls = s3Mock.commandCalls(PutObjectCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input).toMatchObject({ Bucket: BUCKET, Key: "candidate-7/staging/job-1.png", ContentType: "image/png" });
    expect(Buffer.from(input?.Body as Uint8Array).equals(Buffer.from(TINY_PNG_BASE64, "base64"))).toBe(true);
    expect(input?.Metadata).toEqual({
      "job-id": "job-1",
      prompt: encodeURIComponent("fyr ved daggry, blåbær 🌅"),
      "model-id": MODEL_ID,
      seed: "42",
    });
  });

  it("stages at staging/{jobId}.png when there is no key prefix", async () => {
    // Act
    const result = await generateImage(event(), { ...deps, keyPrefix: "" });

    // Assess
    expect(result.stagingKey).toBe("staging/job-1.png");
    expect(s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input.Key).toBe("staging/job-1.png");
  });

  it("returns only a reference to the image, never its bytes", async () => {
    // Act
    const result = await generateImage(event(), deps);

    // Assess
    expect(result).toEqual({
      bucket: BUCKET,
      stagingKey: "candidate-7/staging/job-1.png",
      bytes: Buffer.from(TINY_PNG_BASE64, "base64").length,
      seed: 42,
      modelId: MODEL_ID,
    });
    expect(JSON.stringify(result)).not.toContain(TINY_PNG_BASE64.slice(0, 20));
  });

  it("lets a failed staging write through as the S3 error, after one Bedrock call", async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).rejects(awsError("SlowDown", "Please reduce your request rate.", 503));

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({ name: "SlowDown" });
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(1);
  });
});

describe("imageMetadata", () => {
  it("leaves a short prompt whole, URI-encoded, without the truncated flag", () => {
    // Act
    const metadata = imageMetadata(event({ prompt: "Nordlys over Tromsø 🌌" }), MODEL_ID);

    // Assess
    expect(decodeURIComponent(metadata.prompt ?? "")).toBe("Nordlys over Tromsø 🌌");
    expect(metadata).not.toHaveProperty("prompt-truncated");
  });

  it.each([
    ["æ", "æ".repeat(1024)],
    ["a + æ (cut would fall inside a character)", `a${"æ".repeat(1023)}`],
    ["ab + æ", `ab${"æ".repeat(1022)}`],
    ["emoji", "🌅".repeat(1024)],
    ["a + emoji", `a${"🌅".repeat(1023)}`],
    ["mixed", "blåbær 🫐 og tyttebær ".repeat(48)],
  ])(
    "caps a long %s prompt so it still decodes, flags it and keeps all metadata ASCII and under 2 KB",
    (_kind, prompt) => {
      // Act
      const metadata = imageMetadata({ jobId: "j".repeat(80), request: imageRequest({ prompt }) }, MODEL_ID);

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
    const metadata = imageMetadata(event({ prompt: "a".repeat(1024) }), MODEL_ID);

    // Assess
    expect(metadata.prompt).toBe("a".repeat(1024));
    expect(metadata).not.toHaveProperty("prompt-truncated");
  });
});

describe("generateImage: Bedrock errors", () => {
  it.each(RETRIED_BEDROCK_ERRORS.map((name) => [name]))(
    "passes %s through under its own name, for the state machine to retry",
    async (name) => {
      // Prepare
      const original = awsError(name, "Too many requests, please wait before trying again.", 429);
      bedrockMock.on(InvokeModelCommand).rejects(original);

      // Act
      const attempt = generateImage(event(), deps);

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
    "This request has been blocked by our content filters.",
    "Our filters blocked the generated image(s). Please adjust your prompt.",
    "The prompt was flagged by Responsible AI policy",
  ])("maps a content-filter ValidationException (%s) to the final ContentBlocked", async (message) => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(awsError("ValidationException", message));

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({ name: "ContentBlocked", message });
  });

  it("maps any other ValidationException to the final BedrockValidation", async () => {
    // Prepare
    const message = "Malformed input request: #/imageGenerationConfig/width: 1000 is not a multiple of 16";
    bedrockMock.on(InvokeModelCommand).rejects(awsError("ValidationException", message));

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({ name: "BedrockValidation", message });
  });

  it("maps AccessDeniedException to BedrockAccessDenied and says what to enable", async () => {
    // Prepare
    bedrockMock
      .on(InvokeModelCommand)
      .rejects(
        awsError("AccessDeniedException", "You don't have access to the model with the specified model ID.", 403),
      );

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({
      name: "BedrockAccessDenied",
      message: expect.stringContaining("enable access to the model in the Bedrock console"),
    });
  });

  it("maps ResourceNotFoundException to BedrockModelNotFound", async () => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(awsError("ResourceNotFoundException", "Model not found", 404));

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({ name: "BedrockModelNotFound" });
  });

  it.each([
    ["InternalServerException", 500],
    ["SomethingNewException", 500],
    ["BadGatewayException", 502],
  ])("maps %s (HTTP %i) to the retried ServiceUnavailableException", async (name, status) => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(awsError(name, "Internal failure", status));

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({
      name: "ServiceUnavailableException",
      message: `${name}: Internal failure`,
    });
  });

  it.each([
    ["ECONNRESET", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })],
    ["ETIMEDOUT", Object.assign(new Error("connect ETIMEDOUT"), { code: "ETIMEDOUT" })],
    ["TimeoutError", Object.assign(new Error("Connection timed out after 60000 ms"), { name: "TimeoutError" })],
  ])("maps a network failure (%s) to the retried ServiceUnavailableException", async (_kind, error) => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(error);

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({ name: "ServiceUnavailableException" });
  });

  it("maps any other client error to the final BedrockError", async () => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(awsError("ServiceQuotaExceededException", "Quota exceeded", 400));

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({
      name: "BedrockError",
      message: "ServiceQuotaExceededException: Quota exceeded",
    });
  });

  it("maps a thrown non-Error to BedrockError", () => {
    expect(bedrockError("boom")).toMatchObject({ name: "BedrockError", message: "UnknownError: boom" });
  });
});

describe("generateImage: Bedrock responses", () => {
  it.each([
    ["no images", { images: [], error: "The generated image has been blocked by our content filters." }],
    ["a null image", { images: [null], error: "The generated image has been blocked by our content filters." }],
    ["no images field", { error: "The generated image has been blocked by our content filters." }],
  ])("maps a response with %s and an error to ContentBlocked", async (_kind, response) => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).resolves({ body: bedrockBody(response) } as never);

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({
      name: "ContentBlocked",
      message: "The generated image has been blocked by our content filters.",
    });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it.each([
    ["an empty image list", { images: [] }],
    ["an empty image", { images: [""] }],
    ["JSON null", null],
    ["a JSON number", 42],
  ])("maps a response with %s and no error to BedrockMalformedResponse", async (_kind, response) => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).resolves({ body: bedrockBody(JSON.stringify(response)) } as never);

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({
      name: "BedrockMalformedResponse",
      message: "Bedrock returned no image",
    });
  });

  it("maps base64 that is not a PNG to BedrockMalformedResponse and stores nothing", async () => {
    // Prepare
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46]).toString("base64");
    bedrockMock.on(InvokeModelCommand).resolves({ body: bedrockImageResponse(jpeg) } as never);

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({
      name: "BedrockMalformedResponse",
      message: "Bedrock returned an image that is not a PNG",
    });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it("maps a body that is not JSON to BedrockMalformedResponse", async () => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).resolves({ body: bedrockBody("<html>502 Bad Gateway</html>") } as never);

    // Act + Assess
    await expect(generateImage(event(), deps)).rejects.toMatchObject({
      name: "BedrockMalformedResponse",
      message: "Bedrock returned a body that is not JSON",
    });
  });
});
