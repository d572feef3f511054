// End to end through the local API: POST /generate-image → 202 → GET /jobs/{jobId} → SUCCEEDED, with the PNG read
// back from local S3 and through the presigned URL; Idempotency-Key replays and conflicts; every kind of bad input
// answered with the documented 4xx and no execution. The whole local stack runs in this process (real handlers,
// real ASL file). It cannot show AWS itself: the images come from the Bedrock stand-in, not from a model; S3,
// DynamoDB and SQS are npm emulators; API Gateway is the local proxy-event adapter, not the AWS service.
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STAND_IN_SOFTWARE } from "../../local/bedrock-stand-in";
import {
  type E2eStack,
  executionArnOf,
  getJob,
  imageKeyOf,
  listExecutions,
  objectExists,
  postGenerateImage,
  readImage,
  stagingKeyOf,
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

/** The legacy pixel-size model, named in the request: small images keep these tests fast. */
const NOVA_CANVAS = "amazon.nova-canvas-v1:0";

describe("POST /generate-image → GET /jobs/{jobId}", () => {
  it.each([
    { width: 320, height: 320, prompt: "a lighthouse at dawn" },
    { width: 512, height: 384, prompt: "fjords under the northern lights, seen from a kayak" },
  ])("stores a $width x $height PNG at {keyPrefix}/generated_images/{jobId}.png", async ({ width, height, prompt }) => {
    const response = await postGenerateImage(env, { prompt, width, height, model: NOVA_CANVAS });

    expect(response.status).toBe(202);
    const jobId = String(response.body.jobId);
    expect(response.body).toEqual({
      jobId,
      executionArn: executionArnOf(env, jobId),
      statusUrl: `${env.stack.apiUrl}/jobs/${jobId}`,
    });
    expect(response.headers.get("location")).toBe(`/jobs/${jobId}`);

    const job = await waitForJob(env, jobId);
    expect(job).toMatchObject({
      jobId,
      status: "SUCCEEDED",
      prompt,
      source: "api",
      modelId: NOVA_CANVAS,
      s3Uri: `s3://${env.stack.bucket}/${imageKeyOf(env, jobId)}`,
    });

    const image = await readImage(env, jobId);
    expect(image.contentType).toBe("image/png");
    expect([image.width, image.height]).toEqual([width, height]);
    expect(decodeURIComponent(image.metadata.prompt ?? "")).toBe(prompt);
    expect(image.metadata).toMatchObject({
      "job-id": jobId,
      "model-id": NOVA_CANVAS,
      seed: String(job.seed),
    });
    expect(image.text.Software).toBe(STAND_IN_SOFTWARE);

    const download = await fetch(String(job.imageUrl));
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(image.bytes)).toBe(true);
    expect(await objectExists(env, stagingKeyOf(env, jobId))).toBe(false);
  });

  it("draws a different picture for a different prompt, and the same one for the same prompt and seed", async () => {
    const request = { width: 320, height: 320, seed: 42, model: NOVA_CANVAS };
    const jobIds = await Promise.all(
      ["a red barn", "a red barn", "a blue barn"].map((prompt) => submitJob(env, { ...request, prompt })),
    );
    await Promise.all(jobIds.map((jobId) => waitForJob(env, jobId)));

    const [same, again, other] = await Promise.all(jobIds.map((jobId) => readImage(env, jobId)));
    expect(same!.bytes.equals(again!.bytes)).toBe(true);
    expect(same!.bytes.equals(other!.bytes)).toBe(false);
  });

  it.each([
    ["Norwegian letters", "Blåbærsyltetøy på Ærøya, ÆØÅ æøå"],
    ["emoji", "a fox 🦊 under the aurora 🌌, a family 👨‍👩‍👧 and a flag 🇳🇴"],
  ])("accepts %s and keeps the prompt intact in the status and the S3 metadata", async (_name, prompt) => {
    const jobId = await submitJob(env, { prompt, width: 320, height: 320, model: NOVA_CANVAS });

    const job = await waitForJob(env, jobId);

    expect(job.status).toBe("SUCCEEDED");
    expect(job.prompt).toBe(prompt);
    const image = await readImage(env, jobId);
    expect(decodeURIComponent(image.metadata.prompt ?? "")).toBe(prompt);
  });

  it("trims the prompt and accepts exactly 1,024 characters (Nova Canvas' limit)", async () => {
    const prompt = "a".repeat(1024);
    const jobId = await submitJob(env, { prompt: `  ${prompt}\n`, width: 320, height: 320, model: NOVA_CANVAS });

    const job = await waitForJob(env, jobId);

    expect(job).toMatchObject({ status: "SUCCEEDED", prompt });
  });

  it("answers 404 with a message for an unknown job", async () => {
    const { status, job } = await getJob(env, "no-such-job");

    expect(status).toBe(404);
    expect(job).toEqual({ message: 'No job "no-such-job"' });
  });
});

describe("Idempotency-Key", () => {
  it("the same key twice gives the same jobId and one execution; the same key with another body is a 409", async () => {
    const key = `order-${Date.now()}`;
    const body = { prompt: "a cabin in the snow", width: 320, height: 320, model: NOVA_CANVAS };

    const first = await postGenerateImage(env, body, { "Idempotency-Key": key });
    const whileRunning = await postGenerateImage(env, body, { "Idempotency-Key": key });
    await waitForJob(env, key);
    const afterFinished = await postGenerateImage(env, body, { "Idempotency-Key": key });
    const conflict = await postGenerateImage(
      env,
      { ...body, prompt: "a cabin in the rain" },
      { "Idempotency-Key": key },
    );

    expect(first.status).toBe(202);
    expect(first.body.jobId).toBe(key);
    for (const replay of [whileRunning, afterFinished]) {
      expect(replay.status).toBe(202);
      expect(replay.body).toEqual(first.body);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
    }
    expect(conflict.status).toBe(409);
    expect(conflict.body.message).toMatch(/already exists with a different request; use a new Idempotency-Key/);
    const executions = (await listExecutions(env)).filter((execution) => execution.name === key);
    expect(executions).toHaveLength(1);
    expect(executions[0]?.status).toBe("SUCCEEDED");
    const images = await env.s3.send(
      new ListObjectsV2Command({ Bucket: env.stack.bucket, Prefix: `${env.stack.keyPrefix}/generated_images/${key}` }),
    );
    expect(images.Contents?.map((object) => object.Key)).toEqual([imageKeyOf(env, key)]);
  });
});

describe("bad input on the API: the documented 4xx, a message saying what is accepted, never an execution", () => {
  const json = { "Content-Type": "application/json" };
  const cases: { name: string; body: string; headers?: Record<string, string>; status: number; message: RegExp }[] = [
    { name: "an empty body", body: "", status: 400, message: /body is empty: send JSON like \{"prompt": / },
    {
      name: "a whitespace prompt",
      body: '{"prompt": " \\n\\t "}',
      status: 400,
      message: /"prompt" is empty: send at least one non-whitespace character/,
    },
    {
      name: "a 10,001-character prompt",
      body: JSON.stringify({ prompt: "b".repeat(10_001) }),
      status: 400,
      message: /10001 characters long; Stable Image Core \(stability\.stable-image-core-v1:1\) accepts at most 10000/,
    },
    {
      name: "a body that is not JSON",
      body: "prompt=a lighthouse",
      status: 400,
      message: /not valid JSON .*: send \{"prompt": "\.\.\."\}/,
    },
    { name: "a JSON array", body: '["a lighthouse"]', status: 400, message: /must be a JSON object like \{"prompt": / },
    {
      name: "a wrong content type",
      body: '{"prompt": "a lighthouse"}',
      headers: { "Content-Type": "text/plain" },
      status: 415,
      message: /Content-Type must be application\/json, got "text\/plain"/,
    },
    {
      name: "no prompt",
      body: "{}",
      status: 400,
      message: /"prompt" is required: a non-empty string of at most 10000 characters/,
    },
    {
      name: "a prompt that is not a string",
      body: '{"prompt": 5}',
      status: 400,
      message: /"prompt" must be a string, got a number/,
    },
    {
      name: "a 1 MB body",
      body: JSON.stringify({ prompt: "c".repeat(1024 * 1024) }),
      status: 413,
      message: /at most 81920 bytes are accepted/,
    },
    {
      name: "a control character",
      body: '{"prompt": "a bell \\u0007 rings"}',
      status: 400,
      message: /control character U\+0007 .*only printable text, tabs and line breaks are accepted/,
    },
    {
      name: "a C1 control character",
      // The TypeScript escape puts the character itself in the body: valid JSON, refused by validation.
      body: '{"prompt": "next\u0085line"}',
      status: 400,
      message: /control character U\+0085 at position 4/,
    },
    {
      name: "an unknown field",
      body: '{"prompt": "a lighthouse", "style": "oil"}',
      status: 400,
      message:
        /Unknown field "style"; accepted fields: prompt, negativePrompt, seed, aspectRatio, width, height, outputFormat, quality, model/,
    },
    {
      name: "a size the model refuses",
      body: '{"prompt": "a lighthouse", "width": 100, "height": 100, "model": "amazon.nova-canvas-v1:0"}',
      status: 400,
      message:
        /"width" must be a multiple of 16 from 320 to 4096 for Amazon Nova Canvas \(amazon\.nova-canvas-v1:0\), got 100/,
    },
    {
      name: "a pixel size for the default model",
      body: '{"prompt": "a lighthouse", "width": 1024, "height": 1024}',
      status: 400,
      message: /takes no pixel size \("width", "height"\): send "aspectRatio", one of 16:9, 1:1, 21:9/,
    },
    {
      name: "a bad Idempotency-Key",
      body: '{"prompt": "a lighthouse"}',
      headers: { ...json, "Idempotency-Key": "has spaces!" },
      status: 400,
      message: /Idempotency-Key must be 1 to 80 characters of A-Z, a-z, 0-9, _ and -/,
    },
  ];

  it.each(cases)("$name → $status", async ({ body, headers, status, message }) => {
    const executionsBefore = (await listExecutions(env)).length;
    const bedrockCallsBefore = env.stack.bedrock.stats.requests;

    const response = await fetch(`${env.stack.apiUrl}/generate-image`, {
      method: "POST",
      headers: headers ?? json,
      body,
    });

    expect(response.status).toBe(status);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(((await response.json()) as { message: string }).message).toMatch(message);
    expect((await listExecutions(env)).length).toBe(executionsBefore);
    expect(env.stack.bedrock.stats.requests).toBe(bedrockCallsBefore);
  });
});
