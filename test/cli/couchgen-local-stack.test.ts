// Verifies couchgen end to end against the real local stack (emulated SQS, S3, DynamoDB, Step Functions runner, the
// real handlers): the image's entry point enqueues like the old Java client, generate/status/wait follow jobs to
// SUCCEEDED, FAILED and REJECTED with their exit codes, --model/--aspect-ratio/--format reach the model, --out saves
// the S3 object byte for byte (a JPEG as .jpg), and --json parses.
// The CLI runs as a child process from the same esbuild bundle the image ships. Not covered here: real AWS (SigV4
// against SQS, API Gateway's usage plans) and Docker itself (there is no engine here; dockerfile.test.ts lints it).
import { readFileSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../cli/exit-codes";
import type { JobStatus } from "../../functions/job-status/job-status";
import { apiCaller, jobIdForKey } from "../../functions/shared/job-caller";
import { DEFAULT_MODEL_ID, resolveModel } from "../../functions/shared/models/catalog";
import { limitsOf } from "../../functions/shared/models/families";
import { localApiKeyId } from "../../local/api-gateway";
import { FREE_PORTS, type LocalStack, startLocalStack } from "../../local/local-stack";
import { buildBundle, type CouchgenRun, imageEntrypoint, isolatedEnv, run } from "./couchgen-process";

const API_KEY = "cli-test-key";
const ULTRA = "stability.stable-image-ultra-v1:1";
// The Bedrock stand-in refuses prompts containing this word as a content-filter block: the job is REJECTED.
const BLOCK_WORD = "forbidden-landmark";

let stack: LocalStack;
let bundle: string;
let workDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "couchgen-cli-"));
  [stack, bundle] = await Promise.all([
    startLocalStack({
      dataDir: join(workDir, "stack"),
      ports: FREE_PORTS,
      retryTimeScale: 0.01,
      apiKey: API_KEY,
      bedrock: { contentFilterWord: BLOCK_WORD },
      log: () => {},
    }),
    buildBundle(),
  ]);
  env = isolatedEnv({
    SQS_QUEUE_URL: stack.queueUrl,
    COUCHGEN_API_URL: stack.apiUrl,
    COUCHGEN_API_KEY: API_KEY,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
  });
});

afterAll(async () => {
  await stack?.stop();
});

/** `couchgen args...` from the bundle, polling fast so the suite stays quick. */
function couchgen(args: string[], extraEnv: Record<string, string> = {}): Promise<CouchgenRun> {
  return run([process.execPath, bundle, ...args], { ...env, ...extraEnv });
}

function parseJson<T>(result: CouchgenRun): T {
  expect(result.stderr).toBe("");
  return JSON.parse(result.stdout) as T;
}

async function s3Object(s3Uri: string): Promise<Buffer> {
  const { bucket, key } = /^s3:\/\/(?<bucket>[^/]+)\/(?<key>.+)$/.exec(s3Uri)?.groups ?? {};
  const s3 = new S3Client({
    region: "us-east-1",
    endpoint: stack.s3Url,
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await object.Body!.transformToByteArray());
  } finally {
    s3.destroy();
  }
}

function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe("the container's entry point (docker run -e SQS_QUEUE_URL=... IMAGE prompt)", () => {
  it("enqueues a prompt given with no command, and the job ends with an image in S3", async () => {
    const enqueued = await run([...imageEntrypoint(bundle), "me on top of a pyramid"], env);

    expect(enqueued.code).toBe(ExitCode.Ok);
    const messageId = /^messageId\s+(\S+)$/m.exec(enqueued.stdout)?.[1];
    expect(messageId).toBeTruthy();
    expect(enqueued.stdout).toMatch(new RegExp(`^jobId\\s+${messageId}$`, "m"));

    const waited = await couchgen(["wait", messageId!, "--interval", "0.1", "--timeout", "20", "--json"]);
    expect(waited.code).toBe(ExitCode.Ok);
    const job = parseJson<JobStatus>(waited);
    expect(job).toMatchObject({
      jobId: messageId,
      status: "SUCCEEDED",
      source: "sqs",
      prompt: "me on top of a pyramid",
    });
    expect(pngSize(await s3Object(job.s3Uri!))).toEqual({ width: 1024, height: 1024 });
  });
});

describe("generate", () => {
  it("--wait --out saves the very bytes of the S3 object, and stdout ends with the S3 URI", async () => {
    const out = join(workDir, "lighthouse.png");
    const [width, height] = limitsOf(resolveModel(DEFAULT_MODEL_ID)).aspectRatios["16:9"] ?? [];

    const result = await couchgen([
      "generate",
      "a lighthouse at dawn",
      "--aspect-ratio",
      "16:9",
      "--seed",
      "7",
      "--negative",
      "fog",
      "--wait",
      "--out",
      out,
      "--interval",
      "0.1",
    ]);

    expect(result.code).toBe(ExitCode.Ok);
    const s3Uri = result.stdout.trim().split("\n").at(-1) ?? "";
    expect(s3Uri).toMatch(/^s3:\/\/couch-imagegen-local\/local\/generated_images\/[\w-]+\.png$/);
    expect(result.stderr).toMatch(/SUCCEEDED in \d+\.\d s/);
    expect(result.stderr).toContain(`Saved ${out}`);
    const saved = await readFile(out);
    expect(saved.equals(await s3Object(s3Uri))).toBe(true);
    expect(pngSize(saved)).toEqual({ width, height });
  });

  it("--format jpeg --out <directory> saves <jobId>.jpg, the JPEG stored in S3", async () => {
    const result = await couchgen([
      "generate",
      "a harbour at noon",
      "--model",
      ULTRA,
      "--format",
      "jpeg",
      "--out",
      workDir,
      "--json",
      "--interval",
      "0.1",
    ]);

    expect(result.code).toBe(ExitCode.Ok);
    const { jobId, job, file } = parseJson<{ jobId: string; job: JobStatus; file: { path: string } }>(result);
    expect(job).toMatchObject({ status: "SUCCEEDED", modelId: ULTRA });
    expect(job.s3Uri).toMatch(/\.jpg$/);
    expect(file.path).toBe(join(workDir, `${jobId}.jpg`));
    const saved = await readFile(file.path);
    expect(saved.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    expect(saved.equals(await s3Object(job.s3Uri!))).toBe(true);
  });

  it("--model with --size and --quality drives a legacy pixel model", async () => {
    const result = await couchgen([
      "generate",
      "a windmill",
      "--model",
      "amazon.titan-image-generator-v1",
      "--size",
      "512x512",
      "--quality",
      "premium",
      "--wait",
      "--json",
      "--interval",
      "0.1",
    ]);

    expect(result.code).toBe(ExitCode.Ok);
    const { job } = parseJson<{ job: JobStatus }>(result);
    expect(job).toMatchObject({ status: "SUCCEEDED", modelId: "amazon.titan-image-generator-v1" });
    expect(pngSize(await s3Object(job.s3Uri!))).toEqual({ width: 512, height: 512 });
  });

  it("prints the API's 400 naming the accepted ratios for an aspect ratio the model does not take (exit 3)", async () => {
    const result = await couchgen(["generate", "a kite", "--aspect-ratio", "7:3"]);

    expect(result.code).toBe(ExitCode.Refused);
    expect(result.stderr).toContain('couchgen: API 400: "aspectRatio" must be one of');
    expect(result.stderr).toContain('got "7:3"');
  });

  it("prints the API's 400 message and status for a prompt with a control character (exit 3)", async () => {
    const result = await couchgen(["generate", "a bell\u0007 tower"]);

    expect(result.code).toBe(ExitCode.Refused);
    expect(result.stderr).toBe(
      'couchgen: API 400: "prompt" contains the control character U+0007 at position 6; only printable text, tabs and line breaks are accepted\n',
    );
    expect(result.stdout).toBe("");
  });

  it("prints the API's 400 message for a blank prompt, as a JSON error with --json", async () => {
    const result = await couchgen(["generate", "   ", "--json"]);

    expect(result.code).toBe(ExitCode.Refused);
    expect(parseJson(result)).toEqual({
      error: {
        message: 'API 400: "prompt" is empty: send at least one non-whitespace character',
        exitCode: ExitCode.Refused,
        status: 400,
        serverMessage: '"prompt" is empty: send at least one non-whitespace character',
      },
    });
  });

  it("returns the same job for the same Idempotency-Key, marked as a replay", async () => {
    const args = ["generate", "a quiet harbour", "--idempotency-key", "cli-test-harbour", "--json"];

    const first = parseJson<{ jobId: string; replayed: boolean }>(await couchgen(args));
    const second = parseJson<{ jobId: string; replayed: boolean }>(await couchgen(args));

    // With an API key the jobId is the key scoped to its caller, so two callers' keys never collide.
    const jobId = jobIdForKey("cli-test-harbour", apiCaller(localApiKeyId(API_KEY)));
    expect(jobId).toMatch(/-cli-test-harbour$/);
    expect(first).toMatchObject({ jobId, replayed: false });
    expect(second).toMatchObject({ jobId, replayed: true });
  });

  it("says which setting is missing when the API wants a key (403 Forbidden)", async () => {
    const result = await couchgen(["generate", "a red kite"], { COUCHGEN_API_KEY: "" });

    expect(result.code).toBe(ExitCode.Refused);
    expect(result.stderr).toContain("API 403: Forbidden");
    expect(result.stderr).toContain("set COUCHGEN_API_KEY or pass --api-key");
  });
});

describe("wait", () => {
  it("exits 6 with the recorded reason when an enqueued prompt is REJECTED by the state machine", async () => {
    // SQS messages reach ValidatePrompt unvalidated: the rejection is only visible through the job.
    const enqueued = parseJson<{ jobId: string }>(await couchgen(["enqueue", "   ", "--json"]));

    const result = await couchgen(["wait", enqueued.jobId, "--interval", "0.1", "--timeout", "20"]);

    expect(result.code).toBe(ExitCode.JobRejected);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain(
      `couchgen: job ${enqueued.jobId} REJECTED: InvalidPrompt: "prompt" is empty: send at least one non-whitespace character`,
    );
  });

  it("exits 6 with ContentBlocked when the model's content filter refused the prompt", async () => {
    const result = await couchgen(["generate", `a ${BLOCK_WORD} at night`, "--wait", "--json", "--interval", "0.1"]);

    expect(result.code).toBe(ExitCode.JobRejected);
    const { job } = parseJson<{ job: JobStatus }>(result);
    expect(job).toMatchObject({ status: "REJECTED", error: "ContentBlocked" });
    expect(job.cause).toBeTruthy();
  });

  it("exits 5 with the cause when the job FAILED (Bedrock kept failing through the retries)", async () => {
    stack.bedrock.setFaults({ internalErrorRate: 1 });
    try {
      const result = await couchgen(["generate", "a quiet field", "--wait", "--json", "--interval", "0.1"]);

      expect(result.code).toBe(ExitCode.JobFailed);
      const { job } = parseJson<{ job: JobStatus }>(result);
      expect(job.status).toBe("FAILED");
      expect(job.error).toBeTruthy();
      expect(job.cause).toBeTruthy();
    } finally {
      stack.bedrock.setFaults({ internalErrorRate: 0 });
    }
  });

  it("downloads with --out into a directory as <jobId>.png", async () => {
    const started = parseJson<{ jobId: string }>(await couchgen(["generate", "a small boat", "--json"]));

    const result = await couchgen(["wait", started.jobId, "--out", workDir, "--json", "--interval", "0.1"]);

    expect(result.code).toBe(ExitCode.Ok);
    const waited = parseJson<JobStatus & { file: { path: string; bytes: number } }>(result);
    expect(waited.file.path).toBe(join(workDir, `${started.jobId}.png`));
    expect(readFileSync(waited.file.path).length).toBe(waited.file.bytes);
  });

  it("gives up after --timeout with exit 7 while a job is still unknown", async () => {
    const result = await couchgen([
      "wait",
      "not-enqueued-yet",
      "--timeout",
      "1",
      "--start-timeout",
      "5",
      "--interval",
      "0.2",
    ]);

    expect(result.code).toBe(ExitCode.TimedOut);
    expect(result.stderr).toContain("Job not-enqueued-yet is still not started after 1 s");
  });
});

describe("status", () => {
  it("exits 4 with the API's message for an unknown job, without a stack trace", async () => {
    const result = await couchgen(["status", "nope"]);

    expect(result.code).toBe(ExitCode.NotFound);
    expect(result.stderr).toBe('couchgen: API 404: No job "nope"\n');
  });

  it("--json prints the API's status document of a finished job", async () => {
    const started = parseJson<{ jobId: string }>(
      await couchgen(["generate", "a paper crane", "--wait", "--json", "--interval", "0.1"]),
    );

    const result = await couchgen(["status", started.jobId, "--json"]);

    expect(result.code).toBe(ExitCode.Ok);
    const job = parseJson<JobStatus>(result);
    expect(job).toMatchObject({ jobId: started.jobId, status: "SUCCEEDED", source: "api", prompt: "a paper crane" });
    expect(new URL(job.imageUrl!).searchParams.get("X-Amz-Signature")).toBeTruthy();
  });
});
