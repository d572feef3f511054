// The bad-input corpus (test/fixtures/bad-inputs.json) against one local stack: odd encodings, sizes, types, JSON and
// header abuse, path traversal, template syntax, prompt-injection text and invalid Idempotency-Key values, sent to
// POST /generate-image and to the SQS queue. Checks, for every case: never a 5xx; a rejection is the expected 4xx
// (API) or a REJECTED job (SQS) whose message says what is accepted; a weird-but-valid prompt is stored and drawn
// literally; and no bad prompt ever reaches Bedrock or leaves an image. The gateway is the local one (the handler
// runs as API Gateway's proxy integration runs it); API Gateway's own request validator and WAF are not in front.
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobStatus } from "../../functions/job-status/job-status";
import {
  type E2eStack,
  imageKeyOf,
  objectExists,
  readImage,
  sendMessage,
  startE2eStack,
  waitForJob,
} from "../e2e/helpers";

/**
 * The rule every rejection message is held to: it names what to send instead, so it contains one of these words
 * ("accepts at most 1024", "must be a string", "send at least one character", "is required", "omit it", "only
 * printable text", "use a new Idempotency-Key").
 */
const SAYS_WHAT_IS_ACCEPTED = /\b(accept(?:s|ed)?|must|send|required|omit|only|use a new)\b/i;

interface Repeat {
  prefix?: string;
  text: string;
  times: number;
  closing?: string;
  suffix?: string;
}

interface CorpusCase {
  name: string;
  via: "api" | "sqs";
  json?: unknown;
  body?: string;
  bodyBase64?: string;
  bodyRepeat?: Repeat;
  rawHttp?: string;
  headers?: Record<string, string | null>;
  path?: string;
  setup?: { json: unknown; headers: Record<string, string> };
  expect: { status?: number; answeredBy?: "gateway"; job?: string; storedPrompt?: string };
  failedWith?: string;
  checkMetadata?: boolean;
  note?: string;
}

interface Outcome {
  status?: number;
  message?: string;
  jobId?: string;
  job?: JobStatus;
}

const corpus = JSON.parse(readFileSync(new URL("../fixtures/bad-inputs.json", import.meta.url), "utf8")) as {
  cases: CorpusCase[];
};
const cases = corpus.cases;
const REACHES_BEDROCK = new Set(["SUCCEEDED", "FAILED"]);
const JOB_TIMEOUT_MS = 30_000;

let env: E2eStack;
const outcomes = new Map<string, Outcome>();
/** Idempotency-Keys the test gave API cases, by case name: no execution may exist under a rejected one. */
const givenKeys = new Map<string, string>();
const setupJobs: string[] = [];

beforeAll(async () => {
  env = await startE2eStack({ sqs: { visibilityTimeoutSeconds: 1, maxReceiveCount: 3 } });
  for (const entry of cases.filter((candidate) => candidate.setup)) {
    const setup = entry.setup!;
    const response = await fetch(`${env.stack.apiUrl}/generate-image`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...setup.headers },
      body: JSON.stringify(setup.json),
    });
    const body = (await response.json()) as { jobId?: string };
    if (response.status !== 202 || !body.jobId) throw new Error(`Setup of "${entry.name}" answered ${response.status}`);
    setupJobs.push(body.jobId);
  }
  await Promise.all(
    cases.map(async (entry, index) => {
      outcomes.set(entry.name, entry.via === "api" ? await sendToApi(entry, index) : await sendToQueue(entry));
    }),
  );
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

describe.each(cases.map((entry) => [entry.name, entry] as const))("%s", (_name, entry) => {
  it(expectation(entry), async () => {
    const outcome = outcomes.get(entry.name);
    expect(outcome, "the case was not sent").toBeDefined();
    if (!outcome) return;
    if (entry.via === "api") expect(outcome.status).toBeLessThan(500);

    if (entry.expect.status !== undefined && entry.expect.status !== 202) {
      expect(outcome.status).toBe(entry.expect.status);
      expect(outcome.status).toBeGreaterThanOrEqual(400);
      if (entry.expect.answeredBy !== "gateway") expect(outcome.message).toMatch(SAYS_WHAT_IS_ACCEPTED);
      const key = givenKeys.get(entry.name);
      if (entry.setup && key) {
        // The key's first job stands as it was sent.
        expect((await waitForJob(env, key, JOB_TIMEOUT_MS)).prompt).toBe(
          (entry.setup.json as { prompt: string }).prompt,
        );
      } else if (key) {
        expect(hasExecution(key), `an execution exists for rejected key ${key}`).toBe(false);
        expect(await objectExists(env, imageKeyOf(env, key))).toBe(false);
      }
      return;
    }

    if (entry.expect.status === 202) expect(outcome.status).toBe(202);
    const job = outcome.job;
    expect(job?.status).toBe(entry.expect.job);
    if (!job || !outcome.jobId) return;
    if (entry.expect.storedPrompt !== undefined) expect(job.prompt).toBe(entry.expect.storedPrompt);
    const imageStored = await objectExists(env, imageKeyOf(env, outcome.jobId));
    expect(imageStored).toBe(job.status === "SUCCEEDED");
    if (job.status === "REJECTED") expect(job.cause).toMatch(SAYS_WHAT_IS_ACCEPTED);
    if (job.status === "FAILED") expect(job.error).toBe(entry.failedWith);
    // A REJECTED record keeps no request fields; a job that ran records where it came from.
    if (entry.via === "sqs" && job.status !== "REJECTED") expect(job.source).toBe("sqs");
    if (entry.checkMetadata) {
      // The prompt travels in S3 metadata URI-encoded: line breaks cannot become headers of their own.
      const { metadata } = await readImage(env, outcome.jobId);
      expect(decodeURIComponent(metadata.prompt ?? "")).toBe(entry.expect.storedPrompt);
      expect(Object.keys(metadata).sort()).toEqual(["job-id", "model-id", "prompt", "seed"]);
    }
  });
});

describe("the corpus as a whole", () => {
  it("has at least 40 cases, through both the API and SQS", () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    expect(new Set(cases.map((entry) => entry.via))).toEqual(new Set(["api", "sqs"]));
  });

  it("never answered a 5xx", () => {
    const serverErrors = cases.filter((entry) => (outcomes.get(entry.name)?.status ?? 0) >= 500);
    expect(serverErrors.map((entry) => entry.name)).toEqual([]);
  });

  it("sent Bedrock only the prompts it accepted, and drew an image only for the jobs that succeeded", () => {
    const reaching = cases.filter((entry) => entry.expect.job && REACHES_BEDROCK.has(entry.expect.job));
    const succeeding = cases.filter((entry) => entry.expect.job === "SUCCEEDED");
    expect(env.stack.bedrock.stats.requests).toBe(reaching.length + setupJobs.length);
    expect(env.stack.bedrock.stats.images).toBe(succeeding.length + setupJobs.length);
  });

  it("started an execution only for accepted requests and SQS messages that could start one", () => {
    const expected = [
      ...setupJobs,
      ...cases.flatMap((entry) => {
        const outcome = outcomes.get(entry.name);
        const executes = entry.expect.status === 202 || entry.via === "sqs";
        return executes && outcome?.jobId ? [outcome.jobId] : [];
      }),
    ];
    expect(
      env.stack.executions
        .list()
        .map((record) => record.name)
        .sort(),
    ).toEqual(expected.sort());
  });
});

function expectation(entry: CorpusCase): string {
  const { status, job, answeredBy } = entry.expect;
  if (status !== undefined && status !== 202) {
    return answeredBy
      ? `is refused with ${status} by the ${answeredBy}`
      : `is refused with ${status}, saying what is accepted`;
  }
  if (job === "REJECTED") return "ends REJECTED, saying what is accepted, with no image";
  return `${entry.via === "api" ? "is accepted" : "is taken"} and ends ${job}${job === "SUCCEEDED" ? " with its image" : ", with no image"}`;
}

function hasExecution(name: string): boolean {
  return env.stack.executions.list().some((record) => record.name === name);
}

function bodyOf(entry: CorpusCase): string | Buffer {
  if (entry.bodyBase64 !== undefined) return Buffer.from(entry.bodyBase64, "base64");
  if (entry.bodyRepeat) {
    const { prefix = "", text, times, closing = "", suffix = "" } = entry.bodyRepeat;
    return `${prefix}${text.repeat(times)}${closing.repeat(times)}${suffix}`;
  }
  if (entry.body !== undefined) return entry.body;
  return JSON.stringify(entry.json);
}

async function sendToApi(entry: CorpusCase, index: number): Promise<Outcome> {
  if (entry.rawHttp !== undefined) return sendRaw(entry.rawHttp);
  const headers = new Map<string, string>([
    ["content-type", "application/json"],
    ["idempotency-key", `corpus-${index}`],
  ]);
  for (const [name, value] of Object.entries(entry.headers ?? {})) {
    if (value === null) headers.delete(name.toLowerCase());
    else headers.set(name.toLowerCase(), value);
  }
  const key = headers.get("idempotency-key");
  if (key) givenKeys.set(entry.name, key);
  const response = await fetch(`${env.stack.apiUrl}${entry.path ?? "/generate-image"}`, {
    method: "POST",
    headers: Object.fromEntries(headers),
    body: bodyOf(entry),
  });
  const answer = (await response.json()) as { message?: string; jobId?: string };
  const outcome: Outcome = { status: response.status, message: answer.message, jobId: answer.jobId };
  if (response.status === 202 && answer.jobId) outcome.job = await waitForJob(env, answer.jobId, JOB_TIMEOUT_MS);
  return outcome;
}

/** Writes the request byte for byte (each character one byte) and reads the answer until the server closes. */
function sendRaw(request: string): Promise<Outcome> {
  const { port } = new URL(env.stack.apiUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const json = /\{.*\}/s.exec(text.slice(text.indexOf("\r\n\r\n")))?.[0];
      resolve({ status, message: json ? (JSON.parse(json) as { message?: string }).message : undefined });
    });
    socket.end(Buffer.from(request, "latin1"));
  });
}

async function sendToQueue(entry: CorpusCase): Promise<Outcome> {
  const messageId = await sendMessage(env, String(bodyOf(entry)));
  return { jobId: messageId, job: await waitForJob(env, messageId, JOB_TIMEOUT_MS) };
}
