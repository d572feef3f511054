// End to end through `npm start`'s stack, once per model: POST /generate-image naming each catalog model (and none,
// for the deploy default) → SUCCEEDED with an image of the size the stand-in gives that model and aspect ratio;
// JPEG output under a .jpg key; a filtered prompt ends REJECTED with the filter reason, no image and one Bedrock call;
// an end-of-life model ends FAILED with a message naming the deploy parameter. The plain-text SQS body of the seeds
// still works. It cannot show that Bedrock answers this way: every image here comes from the Bedrock stand-in (a
// local stand-in that draws placeholder pictures), whose request rules and sizes follow docs/MODELS.md.
import { GetObjectCommand } from "@aws-sdk/client-s3";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MODEL_ID, MODEL_CATALOG, resolveModel } from "../../functions/shared/models/catalog";
import { limitsOf } from "../../functions/shared/models/families";
import {
  type E2eStack,
  objectExists,
  postGenerateImage,
  sendMessage,
  startE2eStack,
  submitJob,
  waitForJob,
} from "./helpers";

let env: E2eStack;

beforeAll(async () => {
  env = await startE2eStack();
});

afterAll(async () => {
  await env?.stop();
});

/** Reads the job's image from local S3 and decodes it as its format says. */
async function storedImage(s3Uri: string) {
  const key = s3Uri.replace(`s3://${env.stack.bucket}/`, "");
  const object = await env.s3.send(new GetObjectCommand({ Bucket: env.stack.bucket, Key: key }));
  const bytes = Buffer.from(await object.Body!.transformToByteArray());
  const { width, height } = key.endsWith(".jpg") ? jpeg.decode(bytes) : PNG.sync.read(bytes);
  return { key, width, height, contentType: object.ContentType, metadata: object.Metadata ?? {} };
}

describe("every model the catalog lists", () => {
  it("the deploy default (no `model` in the request) is Stable Image Core, and README's first curl body works", async () => {
    const jobId = await submitJob(env, { prompt: "a lighthouse at dawn" });

    const job = await waitForJob(env, jobId);

    expect(env.stack.modelId).toBe(DEFAULT_MODEL_ID);
    expect(job).toMatchObject({
      status: "SUCCEEDED",
      modelId: DEFAULT_MODEL_ID,
      aspectRatio: "1:1",
      outputFormat: "png",
    });
    const image = await storedImage(job.s3Uri ?? "");
    expect(image).toMatchObject({ width: 1024, height: 1024, contentType: "image/png" });
  });

  it.each(MODEL_CATALOG.map((model) => [model.id, model.family] as const))(
    "%s (%s) generates an image of the size it gives for 3:2, named in `model`",
    async (modelId) => {
      const limits = limitsOf(resolveModel(modelId));
      const [width, height] = limits.aspectRatios["3:2"] ?? [];

      const jobId = await submitJob(env, { prompt: `the Colosseum by ${modelId}`, model: modelId, aspectRatio: "3:2" });
      const job = await waitForJob(env, jobId);

      expect(job).toMatchObject({ status: "SUCCEEDED", modelId, aspectRatio: "3:2" });
      const image = await storedImage(job.s3Uri ?? "");
      expect({ width: image.width, height: image.height }).toEqual({ width, height });
      expect(image.metadata).toMatchObject({ "model-id": modelId, "aspect-ratio": "3:2", seed: String(job.seed) });
    },
  );
});

describe("request options", () => {
  it("writes a JPEG under .jpg with image/jpeg when outputFormat is jpeg", async () => {
    const jobId = await submitJob(env, { prompt: "Bryggen in Bergen", outputFormat: "jpeg", aspectRatio: "16:9" });

    const job = await waitForJob(env, jobId);

    expect(job).toMatchObject({ status: "SUCCEEDED", outputFormat: "jpeg" });
    expect(job.s3Uri).toBe(`s3://${env.stack.bucket}/${env.stack.keyPrefix}/generated_images/${jobId}.jpg`);
    const image = await storedImage(job.s3Uri ?? "");
    expect(image).toMatchObject({ width: 1344, height: 768, contentType: "image/jpeg" });
  });

  it("records the seed the model reports when asked for a random one (seed 0)", async () => {
    const jobId = await submitJob(env, { prompt: "Geirangerfjord", seed: 0 });

    const job = await waitForJob(env, jobId);

    expect(job.status).toBe("SUCCEEDED");
    expect(job.seed).toBeGreaterThan(0);
    expect((await storedImage(job.s3Uri ?? "")).metadata.seed).toBe(String(job.seed));
  });

  it("answers 400 naming aspectRatio when a pixel size is sent to a Stability model", async () => {
    const response = await postGenerateImage(env, { prompt: "a lighthouse at dawn", width: 512, height: 512 });

    expect(response.status).toBe(400);
    expect(response.body.message).toMatch(
      /takes no pixel size \("width", "height"\): send "aspectRatio", one of 16:9, 1:1/,
    );
  });

  it("starts the seeds' plain-text SQS body with the default model", async () => {
    const jobId = await sendMessage(env, "me on top of a pyramid");

    const job = await waitForJob(env, jobId);

    expect(job).toMatchObject({ status: "SUCCEEDED", source: "sqs", modelId: DEFAULT_MODEL_ID });
  });
});

describe("refusals", () => {
  it("ends a prompt the content filter refuses REJECTED with the filter reason: no image, one Bedrock call", async () => {
    env.stack.bedrock.resetStats();

    const jobId = await submitJob(env, { prompt: "a forbidden-landmark at night" });
    const job = await waitForJob(env, jobId);

    expect(job).toMatchObject({ status: "REJECTED", error: "ContentBlocked" });
    expect(job.cause).toContain("Filter reason: prompt");
    expect(env.stack.bedrock.stats.requests).toBe(1);
    expect(await objectExists(env, `${env.stack.keyPrefix}/generated_images/${jobId}.png`)).toBe(false);
    expect(await objectExists(env, `${env.stack.keyPrefix}/staging/${jobId}.png`)).toBe(false);
  });

  it("ends a job on an end-of-life model FAILED, with a message naming the deploy parameter to change", async () => {
    env.stack.bedrock.setModelLifecycle("amazon.titan-image-generator-v2:0", "EOL");
    try {
      const jobId = await submitJob(env, { prompt: "Akershus fortress", model: "amazon.titan-image-generator-v2:0" });
      const job = await waitForJob(env, jobId);

      expect(job).toMatchObject({ status: "FAILED", error: "ModelUnavailable" });
      expect(job.cause).toContain("reached the end of its life");
      expect(job.cause).toContain("deploy parameter modelId");
    } finally {
      env.stack.bedrock.setModelLifecycle("amazon.titan-image-generator-v2:0", "LEGACY");
    }
  });
});
