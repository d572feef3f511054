// Verifies the local Bedrock stand-in (local/bedrock-stand-in) through the real @aws-sdk/client-bedrock-runtime
// InvokeModelCommand, over the SDK's default HTTP/2 handler and over NodeHttpHandler (HTTP/1.1), with Amazon's
// TEXT_IMAGE body (Nova Canvas, Titan): the PNG's size, determinism and stand-in labels, Bedrock's error shapes
// arriving as the right SDK exception names, the rate quota, validation and freeing the port. Stability's models,
// the lifecycle and the control plane have their own files (bedrock-stand-in-*.test.ts). The stand-in is not
// Bedrock: nothing here shows what the real model draws, which messages it words differently, or how AWS throttles.
import { createHash } from "node:crypto";
import { createServer } from "node:net";
import { crc32 } from "node:zlib";
import { BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { mockClient } from "aws-sdk-client-mock";
import { PNG } from "pngjs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateImage } from "../../functions/generate-image/generate-image";
import type { ImageRequest } from "../../functions/shared/image-request";
import { amazonImage } from "../../functions/shared/models/amazon-image";
import {
  type BedrockStandIn,
  DEFAULT_FAULTS,
  FAULT_HEADER,
  LOG_PREFIX,
  STAND_IN_HEADER,
  STAND_IN_SOFTWARE,
  seededRandom,
  startBedrockStandIn,
} from "../../local/bedrock-stand-in";

const NOVA = "amazon.nova-canvas-v1:0";
const TITAN_V2 = "amazon.titan-image-generator-v2:0";
const credentials = { accessKeyId: "stand-in", secretAccessKey: "stand-in" };
const BASE_REQUEST: ImageRequest = {
  modelId: NOVA,
  prompt: "a lighthouse on a cliff at dusk",
  negativePrompt: null,
  seed: 7,
  aspectRatio: "1:1",
  width: 320,
  height: 320,
  outputFormat: "png",
  quality: "standard",
};

/** The TEXT_IMAGE body the pipeline sends (functions/shared/models/amazon-image.ts). */
const textImageBody = (request: ImageRequest) => amazonImage.requestBody(request);

let standIn: BedrockStandIn;
let clock = 0;
const logLines: string[] = [];
const clients: BedrockRuntimeClient[] = [];

/** A client with no retries, so each fault surfaces; `http1` swaps the default HTTP/2 handler for NodeHttpHandler. */
function bedrockClient(url: string, { http1 = false } = {}): BedrockRuntimeClient {
  const client = new BedrockRuntimeClient({
    region: "us-east-1",
    endpoint: url,
    credentials,
    maxAttempts: 1,
    ...(http1 ? { requestHandler: new NodeHttpHandler() } : {}),
  });
  clients.push(client);
  return client;
}

function invoke(client: BedrockRuntimeClient, body: string, modelId = NOVA) {
  return client.send(
    new InvokeModelCommand({ modelId, contentType: "application/json", accept: "application/json", body }),
  );
}

async function invokeImages(client: BedrockRuntimeClient, request: Partial<ImageRequest>, modelId = NOVA) {
  const response = await invoke(client, textImageBody({ ...BASE_REQUEST, ...request }), modelId);
  const parsed = JSON.parse(Buffer.from(response.body).toString("utf8")) as { images: string[]; error: unknown };
  return { images: parsed.images.map((image) => Buffer.from(image, "base64")), error: parsed.error };
}

async function invokeImage(client: BedrockRuntimeClient, request: Partial<ImageRequest> = {}, modelId = NOVA) {
  const { images } = await invokeImages(client, request, modelId);
  expect(images).toHaveLength(1);
  return images[0]!;
}

type SdkError = Error & { $metadata: { httpStatusCode?: number } };

async function invokeFailure(client: BedrockRuntimeClient, body: string, modelId = NOVA): Promise<SdkError> {
  return invoke(client, body, modelId).then(
    () => {
      throw new Error("expected the stand-in to refuse the request");
    },
    (error: SdkError) => error,
  );
}

/** Mean absolute difference per channel (0–255) between two decoded images of the same size. */
function meanDifference(first: Buffer, second: Buffer): number {
  const a = PNG.sync.read(first).data;
  const b = PNG.sync.read(second).data;
  let total = 0;
  for (let i = 0; i < a.length; i++) total += Math.abs(a[i]! - b[i]!);
  return total / a.length;
}

/** The tEXt chunks of a PNG, keyword to text, after checking each chunk's CRC. */
function textChunks(png: Buffer): Record<string, string> {
  const texts: Record<string, string> = {};
  for (let offset = 8; offset < png.length; ) {
    const length = png.readUInt32BE(offset);
    const typeAndData = png.subarray(offset + 4, offset + 8 + length);
    if (typeAndData.subarray(0, 4).toString("latin1") === "tEXt") {
      expect(png.readUInt32BE(offset + 8 + length)).toBe(crc32(typeAndData));
      const [keyword = "", text = ""] = typeAndData.subarray(4).toString("latin1").split("\0");
      texts[keyword] = text;
    }
    offset += length + 12;
  }
  return texts;
}

beforeAll(async () => {
  standIn = await startBedrockStandIn({
    now: () => clock,
    random: seededRandom(1),
    log: (line) => logLines.push(line),
  });
});

afterEach(() => {
  standIn.setFaults(DEFAULT_FAULTS);
  standIn.resetStats();
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await standIn.close();
});

describe("images", () => {
  it("returns a PNG of the requested size, as Nova Canvas answers, over HTTP/2 (the SDK default)", async () => {
    const { images, error } = await invokeImages(bedrockClient(standIn.url), { width: 384, height: 320 });

    expect(error).toBeNull();
    const decoded = PNG.sync.read(images[0]!);
    expect([decoded.width, decoded.height]).toEqual([384, 320]);
    expect(standIn.stats).toMatchObject({ requests: 1, images: 1, throttled: 0, concurrency: 0 });
  });

  it("is deterministic: the same request gives the same bytes over HTTP/2 and over HTTP/1.1", async () => {
    const overHttp2 = await invokeImage(bedrockClient(standIn.url));
    const overHttp1 = await invokeImage(bedrockClient(standIn.url, { http1: true }));

    expect(overHttp1.equals(overHttp2)).toBe(true);
  });

  it("draws a visibly different picture for another prompt, another seed or another negative prompt", async () => {
    const client = bedrockClient(standIn.url);
    const base = await invokeImage(client);

    const otherPrompt = await invokeImage(client, { prompt: "a lighthouse on a cliff at dawn" });
    const otherSeed = await invokeImage(client, { seed: 8 });
    const otherNegative = await invokeImage(client, { negativePrompt: "fog" });

    for (const other of [otherPrompt, otherSeed, otherNegative]) {
      expect(meanDifference(base, other)).toBeGreaterThan(8);
    }
  });

  it("labels the PNG as a stand-in's, with the prompt's hash, in tEXt chunks", async () => {
    const png = await invokeImage(bedrockClient(standIn.url));

    const texts = textChunks(png);
    const promptSha256 = createHash("sha256").update(BASE_REQUEST.prompt).digest("hex");
    expect(texts.Software).toBe(STAND_IN_SOFTWARE);
    expect(texts.Software).toContain("not a real model");
    expect(texts.Comment).toContain(`prompt-sha256=${promptSha256}`);
  });

  it("answers numberOfImages with that many different images, and serves Titan's sizes", async () => {
    const client = bedrockClient(standIn.url);
    const body = JSON.parse(textImageBody(BASE_REQUEST));
    body.imageGenerationConfig.numberOfImages = 2;
    const response = await invoke(client, JSON.stringify(body));
    const [first, second] = (JSON.parse(Buffer.from(response.body).toString()) as { images: string[] }).images;

    const titan = await invokeImage(client, { width: 512, height: 512 }, TITAN_V2);

    expect(first).not.toEqual(second);
    expect(PNG.sync.read(titan).width).toBe(512);
  });

  it("is what generateImage needs: its request is accepted and the PNG it stores comes from the stand-in", async () => {
    const s3 = mockClient(S3Client);
    s3.on(PutObjectCommand).resolves({});

    const result = await generateImage(
      { jobId: "job-1", request: BASE_REQUEST },
      { bedrock: bedrockClient(standIn.url), s3: new S3Client({}), bucket: "b", keyPrefix: "p" },
    );

    const stored = s3.commandCalls(PutObjectCommand)[0]?.args[0].input.Body as Buffer;
    expect(textChunks(stored).Software).toBe(STAND_IN_SOFTWARE);
    expect(result).toMatchObject({ bytes: stored.length, seed: 7, modelId: NOVA });
    s3.restore();
  });

  it("names the model, size, format and seed in its log line", async () => {
    await invokeImage(bedrockClient(standIn.url), { width: 384, height: 320 });

    expect(logLines.at(-1)).toContain(`${LOG_PREFIX} 200 InvokeModel ${NOVA} (LEGACY) 384x320 png seed=7 images=1 `);
  });

  it("says it is a stand-in in its response headers and in every log line", async () => {
    const response = await fetch(`${standIn.url}/model/${encodeURIComponent(NOVA)}/invoke`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: textImageBody(BASE_REQUEST),
    });
    await response.arrayBuffer();

    expect(response.status).toBe(200);
    expect(response.headers.get(STAND_IN_HEADER)).toBe("true");
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) expect(line.startsWith(LOG_PREFIX)).toBe(true);
    expect(LOG_PREFIX).toContain("not a real model");
  });
});

describe("faults", () => {
  it.each([
    [{ throttleRate: 1 }, "ThrottlingException", 429, { throttled: 1 }],
    [{ timeoutRate: 1 }, "ModelTimeoutException", 408, { timeouts: 1 }],
    [{ serverErrorRate: 1 }, "ServiceUnavailableException", 503, { serverErrors: 1 }],
    [{ internalErrorRate: 1 }, "InternalServerException", 500, { serverErrors: 1 }],
  ])("%o gives the SDK a %s (HTTP %i)", async (faults, name, status, counted) => {
    standIn.setFaults(faults);

    const error = await invokeFailure(bedrockClient(standIn.url), textImageBody(BASE_REQUEST));

    expect(error.name).toBe(name);
    expect(error.$metadata.httpStatusCode).toBe(status);
    expect(standIn.stats).toMatchObject({ requests: 1, images: 0, ...counted });
  });

  it("refuses a prompt with the content-filter word as Nova Canvas does, which generate-image treats as final", async () => {
    const body = textImageBody({ ...BASE_REQUEST, prompt: "a Forbidden-Landmark at night" });

    const error = await invokeFailure(bedrockClient(standIn.url), body);

    expect(error.name).toBe("ValidationException");
    expect(error.message).toMatch(/^This request has been blocked by our content filters/);
    expect(amazonImage.mapError(error, BASE_REQUEST).name).toBe("ContentBlocked");
    expect(standIn.stats).toMatchObject({ blocked: 1, invalid: 0 });
  });

  it("marks injected faults in a response header", async () => {
    standIn.setFaults({ serverErrorRate: 1 });

    const response = await fetch(`${standIn.url}/model/${encodeURIComponent(NOVA)}/invoke`, {
      method: "POST",
      body: textImageBody(BASE_REQUEST),
    });

    expect(response.status).toBe(503);
    expect(response.headers.get("x-amzn-errortype")).toBe("ServiceUnavailableException");
    expect(response.headers.get(FAULT_HEADER)).toBe("serverErrorRate");
    expect(await response.json()).toEqual({ message: "Bedrock is unable to process your request." });
  });

  it("replays the same random faults from the same seed", async () => {
    const outcomes = async (seed: number) => {
      const server = await startBedrockStandIn({ throttleRate: 0.5, random: seededRandom(seed), log: () => {} });
      const client = bedrockClient(server.url);
      const names: string[] = [];
      for (let i = 0; i < 12; i++) {
        names.push(
          await invoke(client, textImageBody(BASE_REQUEST)).then(
            () => "ok",
            (error: Error) => error.name,
          ),
        );
      }
      await server.close();
      return names;
    };

    const first = await outcomes(42);

    expect(await outcomes(42)).toEqual(first);
    expect(first).toContain("ok");
    expect(first).toContain("ThrottlingException");
  });

  it("throttles requests over maxRequestsPerSecond within a second and accepts them again a second later", async () => {
    standIn.setFaults({ maxRequestsPerSecond: 3 });
    const client = bedrockClient(standIn.url);
    const body = textImageBody(BASE_REQUEST);
    clock = 10_000;

    const burst = await Promise.allSettled(Array.from({ length: 5 }, () => invoke(client, body)));
    clock += 500;
    const stillThrottled = await invokeFailure(client, body);
    clock += 501;
    const later = await invoke(client, body);

    expect(burst.filter((result) => result.status === "fulfilled")).toHaveLength(3);
    const refusals = burst.flatMap((result) => (result.status === "rejected" ? [result.reason as Error] : []));
    expect(refusals.map(({ name, message }) => `${name}: ${message}`)).toEqual([
      "ThrottlingException: Too many requests, please wait before trying again.",
      "ThrottlingException: Too many requests, please wait before trying again.",
    ]);
    expect(stillThrottled.name).toBe("ThrottlingException");
    expect(later.body.length).toBeGreaterThan(0);
    expect(standIn.stats).toMatchObject({ requests: 7, images: 4, throttled: 3 });
  });

  it("adds latency, serves requests concurrently and counts the peak", async () => {
    standIn.setFaults({ latencyMs: 150 });
    const client = bedrockClient(standIn.url);
    const started = performance.now();

    await Promise.all([invokeImage(client), invokeImage(client), invokeImage(client)]);

    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
    expect(standIn.stats).toMatchObject({ requests: 3, images: 3, concurrency: 0, peakConcurrency: 3 });
  });

  it("refuses fault settings it cannot honour, saying which one to change", async () => {
    expect(() => standIn.setFaults({ throttleRate: 1.5 })).toThrow("throttleRate must be a probability from 0 to 1");
    expect(() => standIn.setFaults({ throttleRate: 0.6, serverErrorRate: 0.6 })).toThrow("must add up to at most 1");
    expect(() => standIn.setFaults({ maxRequestsPerSecond: 0 })).toThrow("maxRequestsPerSecond must be > 0");
    await expect(startBedrockStandIn({ latencyMs: -1, log: () => {} })).rejects.toThrow("latencyMs must be");
    expect(standIn.faults).toEqual(DEFAULT_FAULTS);
  });
});

describe("validation", () => {
  const body = (edit: (request: Record<string, Record<string, unknown>>) => void) => {
    const request = JSON.parse(textImageBody(BASE_REQUEST));
    edit(request);
    return JSON.stringify(request);
  };

  it.each([
    [
      "an unknown model id",
      textImageBody(BASE_REQUEST),
      "amazon.nova-canvas-v9:0",
      "The provided model identifier is invalid.",
    ],
    ["a body that is not JSON", "{not json", NOVA, "the body is not JSON"],
    [
      "a Stability body sent to Nova Canvas",
      JSON.stringify({ prompt: BASE_REQUEST.prompt }),
      NOVA,
      "#/taskType: undefined is not supported",
    ],
    ["a missing prompt", body((r) => delete r.textToImageParams!.text), NOVA, "#/textToImageParams/text is required"],
    [
      "a Nova width not a multiple of 16",
      body((r) => (r.imageGenerationConfig!.width = 330)),
      NOVA,
      "330 is not a multiple of 16",
    ],
    [
      "a size Titan does not offer",
      body((r) => (r.imageGenerationConfig!.width = 320)),
      TITAN_V2,
      "320x320 is not a supported size",
    ],
    [
      "a Nova seed over its maximum",
      body((r) => (r.imageGenerationConfig!.seed = 858_993_460)),
      NOVA,
      "seed: 858993460 is not an integer",
    ],
    [
      "a prompt over Titan's 512 characters",
      body((r) => (r.textToImageParams!.text = "x".repeat(513))),
      TITAN_V2,
      "has 513 characters",
    ],
    ["another task type", body((r) => (r.taskType = "INPAINTING" as never)), NOVA, '"INPAINTING" is not supported'],
  ])("refuses %s with a ValidationException (HTTP 400)", async (_case, requestBody, modelId, message) => {
    const error = await invokeFailure(bedrockClient(standIn.url), requestBody, modelId);

    expect(error.name).toBe("ValidationException");
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toContain(message);
    expect(standIn.stats).toMatchObject({ requests: 1, invalid: 1, images: 0 });
  });

  it("accepts a foundation-model ARN and counts it under its model", async () => {
    const client = bedrockClient(standIn.url);

    await invokeImage(client, {}, `arn:aws:bedrock:us-east-1::foundation-model/${NOVA}`);
    await invokeImage(client, {}, NOVA);

    expect(standIn.stats).toMatchObject({ images: 2, byModel: { [NOVA]: { requests: 2, images: 2 } } });
  });

  it("refuses a cross-region prefix the catalog has no inference profile for, as an invalid model identifier", async () => {
    const error = await invokeFailure(bedrockClient(standIn.url), textImageBody(BASE_REQUEST), `us.${NOVA}`);

    expect(`${error.name}: ${error.message}`).toBe("ValidationException: The provided model identifier is invalid.");
    expect(standIn.stats).toMatchObject({ invalid: 1, byModel: {} });
  });

  it("answers an operation it does not serve with 404 UnknownOperationException", async () => {
    const response = await fetch(`${standIn.url}/model/${encodeURIComponent(NOVA)}/converse`, { method: "POST" });

    expect(response.status).toBe(404);
    expect(response.headers.get("x-amzn-errortype")).toBe("UnknownOperationException");
    expect(response.headers.get(STAND_IN_HEADER)).toBe("true");
    expect(((await response.json()) as { message: string }).message).toContain("serves only InvokeModel");
    expect(standIn.stats.requests).toBe(0);
  });
});

describe("close", () => {
  it("ends open connections and requests in progress and frees the port", async () => {
    const server = await startBedrockStandIn({ latencyMs: 5_000, log: () => {} });
    const client = bedrockClient(server.url);
    const pending = invoke(client, textImageBody(BASE_REQUEST)).then(
      () => "answered",
      () => "failed",
    );
    await expect.poll(() => server.stats.concurrency, { timeout: 2_000 }).toBe(1);

    const started = performance.now();
    await server.close();

    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await pending).toBe("failed");
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen(server.port, "127.0.0.1", resolve);
    });
    await new Promise((resolve) => probe.close(resolve));
  });
});
