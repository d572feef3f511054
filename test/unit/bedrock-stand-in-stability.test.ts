// Verifies the Bedrock stand-in's Stability AI family (Stable Image Core, Stable Image Ultra, SD3.5 Large) through the
// real @aws-sdk/client-bedrock-runtime InvokeModelCommand: the image's pixel size per aspect ratio (decoded with pngjs
// and jpeg-js, against the family module's table), JPEG with its stand-in comment, the seed echoed (a random one for
// 0), each schema refusal with its message, the content filter's 200 answer, and that the pipeline's own body and
// parser (functions/shared/models) agree with it. It cannot verify what the real models draw, nor that their sizes
// per ratio and their messages other than "extraneous key" and "required key" are worded as here: the stand-in is
// not Bedrock.
import { BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateImage } from "../../functions/generate-image/generate-image";
import type { ImageRequest } from "../../functions/shared/image-request";
import { findModel, type ResolvedModel, SUPPORTED_MODEL_IDS } from "../../functions/shared/models/catalog";
import { limitsOf } from "../../functions/shared/models/families";
import { stabilityImage } from "../../functions/shared/models/stability-image";
import {
  type BedrockStandIn,
  DEFAULT_FAULTS,
  FAULT_HEADER,
  LOG_PREFIX,
  STAND_IN_SOFTWARE,
  seededRandom,
  startBedrockStandIn,
} from "../../local/bedrock-stand-in";
import { parseStabilityImageRequest } from "../../local/bedrock-stand-in/stability-image-request";
import { imageRequest } from "../fixtures/image-request";

const CORE = "stability.stable-image-core-v1:1";
const ULTRA = "stability.stable-image-ultra-v1:1";
const SD35_LARGE = "stability.sd3-5-large-v1:0";
const MAX_SEED = 4_294_967_294;
// The stand-in draws each ratio at the family module's size: expectations come from there, not from a copy.
const CORE_LIMITS = limitsOf(findModel(CORE)!);
const credentials = { accessKeyId: "local", secretAccessKey: "local" };
const BASE_REQUEST = imageRequest(CORE);

interface StabilityAnswer {
  seeds?: number[];
  finish_reasons: Array<string | null>;
  images?: string[];
}

let standIn: BedrockStandIn;
const logLines: string[] = [];
const clients: BedrockRuntimeClient[] = [];

function bedrockClient(url: string): BedrockRuntimeClient {
  const client = new BedrockRuntimeClient({ region: "us-west-2", endpoint: url, credentials, maxAttempts: 1 });
  clients.push(client);
  return client;
}

async function invoke(body: object | string, modelId = CORE, server = standIn): Promise<StabilityAnswer> {
  const response = await bedrockClient(server.url).send(
    new InvokeModelCommand({
      modelId,
      contentType: "application/json",
      accept: "application/json",
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
  return JSON.parse(Buffer.from(response.body).toString("utf8")) as StabilityAnswer;
}

/** The one image of an answer, decoded, with the seed the answer reports. */
async function invokeImage(body: object, modelId = CORE, server = standIn) {
  const answer = await invoke(body, modelId, server);
  expect(answer.finish_reasons).toEqual([null]);
  expect(answer.images).toHaveLength(1);
  expect(answer.seeds).toHaveLength(1);
  return { bytes: Buffer.from(answer.images![0]!, "base64"), seed: answer.seeds![0]! };
}

type SdkError = Error & { $metadata: { httpStatusCode?: number } };

async function invokeFailure(body: object | string, modelId = CORE): Promise<SdkError> {
  return invoke(body, modelId).then(
    () => {
      throw new Error("expected the stand-in to refuse the request");
    },
    (error: SdkError) => error,
  );
}

beforeAll(async () => {
  standIn = await startBedrockStandIn({ random: seededRandom(3), log: (line) => logLines.push(line) });
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
  it.each(Object.entries(CORE_LIMITS.aspectRatios))(
    "draws aspect_ratio %s at the size the family module says the model returns (%o)",
    async (ratio, [width, height]) => {
      const { bytes } = await invokeImage({ prompt: BASE_REQUEST.prompt, aspect_ratio: ratio, seed: 7 });

      const decoded = PNG.sync.read(bytes);
      expect([decoded.width, decoded.height]).toEqual([width, height]);
    },
  );

  it("answers as the AWS model pages show: the seed used, a null finish reason and one base64 image", async () => {
    const answer = await invoke({ prompt: BASE_REQUEST.prompt, seed: 7 });

    expect(answer).toEqual({ seeds: [7], finish_reasons: [null], images: [expect.any(String)] });
    expect(standIn.stats).toMatchObject({ requests: 1, images: 1, byModel: { [CORE]: { requests: 1, images: 1 } } });
  });

  it("defaults to 1:1 and PNG when the body has only a prompt, for every Stability id the catalog supports", async () => {
    const stabilityIds = SUPPORTED_MODEL_IDS.filter((id) => findModel(id)?.model.family === "stability-image");
    expect(stabilityIds).toEqual(expect.arrayContaining([CORE, ULTRA, SD35_LARGE]));

    for (const modelId of stabilityIds) {
      const { bytes } = await invokeImage({ prompt: BASE_REQUEST.prompt }, modelId);
      const decoded = PNG.sync.read(bytes);
      expect([decoded.width, decoded.height]).toEqual(CORE_LIMITS.aspectRatios["1:1"]);
    }
    expect(standIn.stats.images).toBe(stabilityIds.length);
  });

  it("returns a JPEG of the ratio's size for output_format jpeg, labelled a stand-in's in a COM segment", async () => {
    const { bytes } = await invokeImage({
      prompt: BASE_REQUEST.prompt,
      aspect_ratio: "16:9",
      output_format: "jpeg",
      seed: 7,
    });

    expect(bytes.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    const decoded = jpeg.decode(bytes);
    const [width, height] = CORE_LIMITS.aspectRatios["16:9"]!;
    expect([decoded.width, decoded.height]).toEqual([width, height]);
    expect(decoded.comments?.[0]).toBe(STAND_IN_SOFTWARE);
    expect(decoded.comments?.[1]).toContain("drawn by a stand-in, not by Amazon Bedrock");
    expect(logLines.at(-1)).toContain(`${LOG_PREFIX} 200 InvokeModel ${CORE} ${width}x${height} jpeg seed=7 images=1 `);
  });

  it("draws the same picture as PNG and as JPEG (within JPEG's loss)", async () => {
    const png = PNG.sync.read((await invokeImage({ prompt: BASE_REQUEST.prompt, seed: 9 })).bytes).data;
    const jpg = jpeg.decode(
      (await invokeImage({ prompt: BASE_REQUEST.prompt, seed: 9, output_format: "jpeg" })).bytes,
    ).data;

    let total = 0;
    for (let i = 0; i < png.length; i++) total += Math.abs(png[i]! - jpg[i]!);
    expect(total / png.length).toBeLessThan(4);
  });

  it("picks a random seed from 1 to 4294967294 for seed 0 or none, echoes it, and draws that seed's picture", async () => {
    const zero = await invokeImage({ prompt: BASE_REQUEST.prompt, seed: 0 });
    const none = await invokeImage({ prompt: BASE_REQUEST.prompt });
    const replayed = await invokeImage({ prompt: BASE_REQUEST.prompt, seed: zero.seed });

    for (const { seed } of [zero, none]) {
      expect(Number.isInteger(seed) && seed >= 1 && seed <= MAX_SEED).toBe(true);
    }
    expect(zero.seed).not.toBe(none.seed);
    expect(replayed.bytes.equals(zero.bytes)).toBe(true);
  });

  it("draws random seeds from the random option, so a seeded source replays them", async () => {
    const seedsFrom = async (seed: number) => {
      const server = await startBedrockStandIn({ random: seededRandom(seed), log: () => {} });
      const seeds = [
        (await invokeImage({ prompt: "a", seed: 0 }, CORE, server)).seed,
        (await invokeImage({ prompt: "a", seed: 0 }, CORE, server)).seed,
      ];
      await server.close();
      return seeds;
    };

    expect(await seedsFrom(11)).toEqual(await seedsFrom(11));
  });

  it("is what generateImage needs: the pipeline's Stability body is accepted, and the seed and JPEG it stores come from the stand-in", async () => {
    const s3 = mockClient(S3Client);
    s3.on(PutObjectCommand).resolves({});
    const [width, height] = CORE_LIMITS.aspectRatios["9:16"]!;
    const request: ImageRequest = { ...BASE_REQUEST, aspectRatio: "9:16", width, height, outputFormat: "jpeg" };

    const result = await generateImage(
      { jobId: "job-1", request },
      { bedrock: bedrockClient(standIn.url), s3: new S3Client({}), bucket: "b", keyPrefix: "p" },
    );

    const stored = s3.commandCalls(PutObjectCommand)[0]?.args[0].input.Body as Buffer;
    const decoded = jpeg.decode(stored);
    expect([decoded.width, decoded.height]).toEqual([width, height]);
    expect(decoded.comments?.[0]).toBe(STAND_IN_SOFTWARE);
    expect(result).toMatchObject({ bytes: stored.length, seed: 7, modelId: CORE, outputFormat: "jpeg" });
    s3.restore();
  });
});

describe("content filter", () => {
  it("answers 200 with the finish reason 'Filter reason: prompt' and no images or seeds, as the AWS model pages show", async () => {
    const response = await fetch(`${standIn.url}/model/${encodeURIComponent(CORE)}/invoke`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "a FORBIDDEN-LANDMARK at night", seed: 7 }),
    });

    expect(response.status).toBe(200);
    expect(response.headers.get(FAULT_HEADER)).toBe("contentFilterWord");
    expect(await response.json()).toEqual({ finish_reasons: ["Filter reason: prompt"] });
    expect(standIn.stats).toMatchObject({ requests: 1, blocked: 1, images: 0, invalid: 0 });
  });

  it("is read by the pipeline's Stability parser as ContentBlocked", async () => {
    const request = { ...BASE_REQUEST, prompt: "a forbidden-landmark at night" };
    const response = await bedrockClient(standIn.url).send(
      new InvokeModelCommand({
        modelId: CORE,
        contentType: "application/json",
        body: stabilityImage.requestBody(request),
      }),
    );

    expect(() => stabilityImage.parseResponse(response.body, request)).toThrow(
      expect.objectContaining({ name: "ContentBlocked" }),
    );
  });

  it("lets the prompt through when contentFilterWord is empty", async () => {
    standIn.setFaults({ contentFilterWord: "" });

    const { seed } = await invokeImage({ prompt: "a forbidden-landmark at night", seed: 5 });

    expect(seed).toBe(5);
  });
});

describe("validation", () => {
  const prompt = BASE_REQUEST.prompt;
  const malformed = (problems: string) =>
    `Malformed input request: ${problems}, please reformat your input and try again.`;

  it.each([
    ["an extraneous key", { prompt, foo: 1 }, malformed("#: extraneous key [foo] is not permitted")],
    [
      "Amazon's TEXT_IMAGE body",
      { taskType: "TEXT_IMAGE", textToImageParams: { text: prompt } },
      malformed(
        "#: extraneous key [taskType] is not permitted, #: extraneous key [textToImageParams] is not permitted, " +
          "#: required key [prompt] not found",
      ),
    ],
    ["a missing prompt", { seed: 1 }, malformed("#: required key [prompt] not found")],
    ["an empty prompt", { prompt: "" }, malformed("#/prompt: expected minLength: 1, actual: 0")],
    ["a prompt that is not a string", { prompt: 42 }, malformed("#/prompt: expected type: String, found: Integer")],
    [
      "a prompt over 10,000 characters",
      { prompt: "é".repeat(10_001) },
      malformed("#/prompt: expected maxLength: 10000, actual: 10001"),
    ],
    [
      "a negative prompt over 10,000 characters",
      { prompt, negative_prompt: "x".repeat(10_001) },
      malformed("#/negative_prompt: expected maxLength: 10000, actual: 10001"),
    ],
    [
      "an aspect ratio the model does not offer",
      { prompt, aspect_ratio: "4:3" },
      malformed(
        '#/aspect_ratio: "4:3" is not a valid enum value (accepted: 16:9, 1:1, 21:9, 2:3, 3:2, 4:5, 5:4, 9:16, 9:21)',
      ),
    ],
    [
      "an output format other than png and jpeg",
      { prompt, output_format: "webp" },
      malformed('#/output_format: "webp" is not a valid enum value (accepted: png, jpeg)'),
    ],
    [
      "a seed over 4294967294",
      { prompt, seed: MAX_SEED + 1 },
      malformed("#/seed: 4294967295 is not less or equal to 4294967294"),
    ],
    ["a negative seed", { prompt, seed: -1 }, malformed("#/seed: -1 is not greater or equal to 0")],
    [
      "a seed that is not an integer",
      { prompt, seed: 1.5 },
      malformed("#/seed: expected type: Integer, found: BigDecimal"),
    ],
    [
      "a mode other than text-to-image",
      { prompt, mode: "image-to-image" },
      malformed('#/mode: "image-to-image" is not a valid enum value (accepted: text-to-image)'),
    ],
    [
      "several problems at once, all listed",
      { prompt: "", seed: -1, style: "anime" },
      malformed(
        "#: extraneous key [style] is not permitted, #/prompt: expected minLength: 1, actual: 0, " +
          "#/seed: -1 is not greater or equal to 0",
      ),
    ],
  ])("refuses %s with a ValidationException (HTTP 400) and Bedrock's message", async (_case, body, message) => {
    const error = await invokeFailure(body);

    expect(error.name).toBe("ValidationException");
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toBe(message);
    expect(standIn.stats).toMatchObject({ requests: 1, invalid: 1, images: 0 });
  });

  it("refuses a body that is not a JSON object", async () => {
    const notJson = await invokeFailure("{not json");
    const array = await invokeFailure("[]");

    expect(notJson.message).toMatch(/^Malformed input request: the body is not JSON/);
    expect(array.message).toBe(malformed("#: expected type: JSONObject, found: JSONArray"));
  });

  it("accepts every documented field at its limits", async () => {
    const { bytes, seed } = await invokeImage({
      prompt: "p".repeat(10_000),
      negative_prompt: "n".repeat(10_000),
      aspect_ratio: "9:21",
      seed: MAX_SEED,
      output_format: "png",
      mode: "text-to-image",
    });

    expect(seed).toBe(MAX_SEED);
    expect(PNG.sync.read(bytes).width).toBe(CORE_LIMITS.aspectRatios["9:21"]![0]);
  });

  it("refuses negative_prompt as an extraneous key for a model whose catalog row does not accept one", () => {
    const core = findModel(CORE)!;
    const withoutNegative: ResolvedModel = { ...core, model: { ...core.model, acceptsNegativePrompt: false } };
    const body = JSON.stringify({ prompt, negative_prompt: "fog" });

    expect(() => parseStabilityImageRequest(body, withoutNegative, Math.random)).toThrow(
      malformed("#: extraneous key [negative_prompt] is not permitted"),
    );
    expect(parseStabilityImageRequest(body, core, Math.random).negativePrompt).toBe("fog");
  });
});
