// End to end through the local API: POST /generate-image → 202 → GET /jobs/{jobId} → SUCCEEDED, with the PNG read back
// from local S3 and through the presigned URL, its statusUrl on the API's own address whatever the Host header;
// Idempotency-Key replays and conflicts; every kind of bad input (non-UTF-8 bytes and charsets, deep nesting included)
// answered with the documented 4xx and no execution; jobs and Idempotency-Keys scoped to the API key that started them,
// through a second local gateway with two keys. The whole local stack runs in this process (real handlers, real ASL
// file). It cannot show AWS itself: the images come from the Bedrock stand-in, not from a model; S3, DynamoDB and SQS
// are npm emulators; API Gateway is the local proxy-event adapter, not the AWS service.
import { request as httpRequest } from "node:http";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobStatus } from "../../functions/job-status/job-status";
import { startLocalApi } from "../../local/api-gateway";
import { STAND_IN_SOFTWARE } from "../../local/bedrock-stand-in";
import type { LoopbackServer } from "../../local/http-server";
import {
  type E2eStack,
  executionArnOf,
  getJob,
  imageKeyOf,
  listExecutions,
  objectExists,
  pollUntil,
  postGenerateImage,
  readImage,
  sendMessage,
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

  it("points statusUrl at the API itself whatever Host header the caller sends", async () => {
    const body = JSON.stringify({ prompt: "a lighthouse", width: 320, height: 320, model: NOVA_CANVAS });

    const answer = await new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const sent = httpRequest(
        `${env.stack.apiUrl}/generate-image`,
        { method: "POST", headers: { Host: "evil.example:666", "Content-Type": "application/json" } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () =>
            resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) }),
          );
        },
      );
      sent.on("error", reject);
      sent.end(body);
    });

    expect(answer.status).toBe(202);
    expect(answer.body.statusUrl).toBe(`${env.stack.apiUrl}/jobs/${answer.body.jobId}`);
    await waitForJob(env, String(answer.body.jobId));
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
      name: "JSON nested 5,000 levels deep",
      body: `{"prompt": "a lighthouse", "seed": ${"[".repeat(5000)}${"]".repeat(5000)}}`,
      status: 400,
      message: /^The request body is nested 5001 levels deep; at most 20 levels are accepted: send a flat JSON object/,
    },
    {
      name: "a charset other than UTF-8",
      body: '{"prompt": "caf\xe9"}',
      headers: { "Content-Type": "application/json; charset=latin1" },
      status: 415,
      message: /^Content-Type charset must be utf-8, got "latin1": send the body as UTF-8/,
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

describe("request bodies as bytes", () => {
  it("refuses bytes that are not UTF-8 (a Latin-1 é) with 400 instead of storing U+FFFD", async () => {
    const response = await fetch(`${env.stack.apiUrl}/generate-image`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: Buffer.from('{"prompt": "caf\xe9 on a hill"}', "latin1"),
    });

    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toBe(
      "The request body is not valid UTF-8: send the JSON encoded as UTF-8",
    );
  });

  it("accepts a UTF-8 body that starts with a byte-order mark, and stores the prompt without it", async () => {
    const jobId = await submitJob(
      env,
      `\ufeff${JSON.stringify({ prompt: "a lighthouse", width: 320, height: 320, model: NOVA_CANVAS })}`,
    );

    expect((await waitForJob(env, jobId)).prompt).toBe("a lighthouse");
  });
});

// Two API keys on one API, as two callers of a usage plan on AWS: a second local gateway with both keys in front of
// the handler modules the stack loaded (the stack's own gateway takes no key, so the tests above run as today).
describe("jobs belong to the API key that started them", () => {
  const KEY_A = "caller-a-key-value";
  const KEY_B = "caller-b-key-value";
  let keyed: LoopbackServer;

  beforeAll(async () => {
    const { apiHandler } = await import("../../functions/start-job/handler");
    const { handler: jobStatus } = await import("../../functions/job-status/handler");
    keyed = await startLocalApi({
      port: 0,
      apiKey: [KEY_A, KEY_B],
      routes: [
        { method: "POST", resource: "/generate-image", handler: apiHandler },
        { method: "GET", resource: "/jobs/{jobId}", handler: jobStatus },
      ],
    });
  });

  afterAll(async () => {
    await keyed?.close();
  });

  async function post(key: string, body: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${keyed.url}/generate-image`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "x-api-key": key, ...headers },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as Record<string, unknown>,
    };
  }

  async function read(jobId: string, key?: string): Promise<{ status: number; job: JobStatus }> {
    const url = `${key === undefined ? env.stack.apiUrl : keyed.url}/jobs/${encodeURIComponent(jobId)}`;
    const response = await fetch(url, { headers: key === undefined ? {} : { "x-api-key": key } });
    return { status: response.status, job: (await response.json()) as JobStatus };
  }

  it("answers the job to its own key, and 404 as for an unknown job to another key or to no key", async () => {
    const started = await post(KEY_A, { prompt: "a private lighthouse", width: 320, height: 320, model: NOVA_CANVAS });
    const jobId = String(started.body.jobId);
    await pollUntil(
      `job ${jobId} to end`,
      () => read(jobId, KEY_A),
      ({ job }) => job.status === "SUCCEEDED",
    );

    const [own, other, anonymous] = [await read(jobId, KEY_A), await read(jobId, KEY_B), await read(jobId)];

    expect(started.status).toBe(202);
    expect(own).toMatchObject({ status: 200, job: { jobId, status: "SUCCEEDED", prompt: "a private lighthouse" } });
    expect(other).toEqual({ status: 404, job: { message: `No job "${jobId}"` } });
    expect(anonymous).toEqual({ status: 404, job: { message: `No job "${jobId}"` } });
  });

  it("keeps each key's Idempotency-Key its own: same key, two callers, two jobs; replay and 409 per caller", async () => {
    const key = `shared-${Date.now()}`;
    const request = { prompt: "a shared name", width: 320, height: 320, model: NOVA_CANVAS };

    const firstA = await post(KEY_A, request, { "Idempotency-Key": key });
    const firstB = await post(KEY_B, { ...request, prompt: "another request" }, { "Idempotency-Key": key });
    const replayA = await post(KEY_A, request, { "Idempotency-Key": key });
    const conflictB = await post(KEY_B, request, { "Idempotency-Key": key });

    expect([firstA.status, firstB.status, replayA.status, conflictB.status]).toEqual([202, 202, 202, 409]);
    expect(firstA.body.jobId).not.toBe(firstB.body.jobId);
    expect(replayA.body.jobId).toBe(firstA.body.jobId);
    expect(replayA.headers.get("idempotent-replayed")).toBe("true");
    expect(firstB.headers.get("idempotent-replayed")).toBeNull();
    for (const jobId of [firstA.body.jobId, firstB.body.jobId]) {
      expect(String(jobId)).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
      expect((await listExecutions(env)).filter((execution) => execution.name === jobId)).toHaveLength(1);
    }
    expect(await getJob(env, key)).toMatchObject({ status: 404 });
  });

  it("lets any caller read a job from the queue by its message id (the producer's to share)", async () => {
    const messageId = await sendMessage(
      env,
      JSON.stringify({ prompt: "a queued lighthouse", width: 320, height: 320, model: NOVA_CANVAS }),
    );
    await waitForJob(env, messageId);

    expect((await read(messageId, KEY_A)).job).toMatchObject({ jobId: messageId, source: "sqs" });
    expect((await read(messageId, KEY_B)).status).toBe(200);
  });
});
