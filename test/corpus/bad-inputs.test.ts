// Verifies the bad-input corpus (test/fixtures/bad-inputs.json) against one local stack whose default model is Stable
// Image Core and whose requests may name any catalog model in `model`: odd encodings and charsets, sizes, types, deep
// nesting, 15 KB values (each message kept short), JSON and header abuse (a foreign Host), path traversal, template
// syntax, prompt-injection text, invalid Idempotency-Key values and each model family's limits (Stability; Amazon's
// Nova Canvas and Titan), sent to POST /generate-image and to the SQS queue. For every case: never a 5xx; a rejection
// is the expected 4xx (API) or a REJECTED job (SQS, the content filter) whose message matches the case's pattern and
// says what is accepted; a weird-but-valid request is stored literally and drawn by the model it named. Over the
// corpus: Bedrock got only accepted requests (none it refused as invalid), each for the model it named; images exist
// only for jobs that succeeded, executions only for accepted requests. It cannot verify real Bedrock: every image and
// content-filter refusal comes from the local Bedrock stand-in, whose limits follow docs/MODELS.md. Nor API Gateway's
// own request validator and WAF, which are not in front of the local gateway (the handler runs as API Gateway's proxy
// integration runs it).
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobState, JobStatus } from "../../functions/job-status/job-status";
import { IMAGE_FORMATS, imageKey, outputFormatOf } from "../../functions/shared/image-keys";
import { MAX_REQUEST_BYTES } from "../../functions/shared/image-request";
import { DEFAULT_MODEL_ID, MODEL_CATALOG } from "../../functions/shared/models/catalog";
import type { OutputFormat } from "../../functions/shared/models/family";
import { PIPELINE_ERRORS } from "../../functions/shared/pipeline-errors";
import { type E2eStack, objectExists, readImage, sendMessage, startE2eStack, waitForJob } from "../e2e/helpers";

/**
 * The rule every rejection message is held to: it names what to send instead, so it contains one of these words
 * ("accepts at most 10000", "must be a string", "send at least one character", "is required", "omit it", "only
 * printable text", "use a new Idempotency-Key").
 */
const SAYS_WHAT_IS_ACCEPTED = /\b(accept(?:s|ed)?|must|send|required|omit|only|use a new)\b/i;

/**
 * A content-filter refusal cannot list what is accepted: it says to change the prompt (Stability's finish reason, as
 * the pipeline words it) or to adjust it (Amazon's ValidationException).
 */
const SAYS_TO_CHANGE_THE_PROMPT = /\b(change|adjust) (the|your text) prompt\b/i;

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
  /** Pads the body with trailing spaces to MAX_REQUEST_BYTES + this many bytes. */
  bytesOverRequestLimit?: number;
  headers?: Record<string, string | null>;
  path?: string;
  setup?: { json: unknown; headers: Record<string, string> };
  expect: {
    status?: number;
    answeredBy?: "gateway";
    job?: JobState;
    /** The job's error name; a REJECTED job's defaults to InvalidPrompt. */
    error?: string;
    /** A pattern for the API's message or the REJECTED job's cause; `{MAX_REQUEST_BYTES}` stands for the limit. */
    message?: string;
    storedPrompt?: string;
    image?: { format: OutputFormat; width: number; height: number };
    /** The API's message (or the REJECTED job's cause) is shorter than this: a bad value is quoted as an excerpt. */
    maxMessageLength?: number;
    /** The 202's statusUrl is on the API's own address, whatever the request's headers said. */
    statusUrlOnApi?: boolean;
  };
  checkMetadata?: boolean;
  note?: string;
}

interface Outcome {
  status?: number;
  message?: string;
  jobId?: string;
  statusUrl?: string;
  job?: JobStatus;
}

const corpus = JSON.parse(readFileSync(new URL("../fixtures/bad-inputs.json", import.meta.url), "utf8")) as {
  cases: CorpusCase[];
};
const cases = corpus.cases;
const JOB_TIMEOUT_MS = 30_000;
const RAW_ANSWER_MS = 10_000;
/** The model each case asks for (its JSON body's `model`, else the deploy default), by case name. */
const requestedModels = new Map(cases.map((entry) => [entry.name, requestedModel(entry)]));

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
      if (entry.expect.message !== undefined) expect(outcome.message).toMatch(messagePattern(entry.expect.message));
      if (entry.expect.maxMessageLength !== undefined) {
        expect(outcome.message?.length).toBeLessThan(entry.expect.maxMessageLength);
      }
      const key = givenKeys.get(entry.name);
      if (entry.setup && key) {
        // The key's first job stands as it was sent.
        expect((await waitForJob(env, key, JOB_TIMEOUT_MS)).prompt).toBe(
          (entry.setup.json as { prompt: string }).prompt,
        );
      } else if (key) {
        expect(hasExecution(key), `an execution exists for rejected key ${key}`).toBe(false);
        expect(await storedImageKeys(key)).toEqual([]);
      }
      return;
    }

    if (entry.expect.status === 202) expect(outcome.status).toBe(202);
    if (entry.expect.statusUrlOnApi) expect(outcome.statusUrl).toBe(`${env.stack.apiUrl}/jobs/${outcome.jobId}`);
    const job = outcome.job;
    expect(job?.status, `the job ended ${JSON.stringify(job)}`).toBe(entry.expect.job);
    if (!job || !outcome.jobId) return;
    if (entry.expect.storedPrompt !== undefined) expect(job.prompt).toBe(entry.expect.storedPrompt);
    const imageKeys = await storedImageKeys(outcome.jobId);
    if (job.status === "SUCCEEDED") {
      expect(job.modelId).toBe(requestedModels.get(entry.name));
      expect(imageKeys).toEqual([imageKey(env.stack.keyPrefix, outcome.jobId, outputFormatOf(job.outputFormat))]);
    } else {
      expect(imageKeys).toEqual([]);
    }
    if (job.status === "REJECTED") {
      expect(job.error).toBe(entry.expect.error ?? PIPELINE_ERRORS.invalidPrompt);
      const rule = job.error === PIPELINE_ERRORS.contentBlocked ? SAYS_TO_CHANGE_THE_PROMPT : SAYS_WHAT_IS_ACCEPTED;
      expect(job.cause).toMatch(rule);
      if (entry.expect.message !== undefined) expect(job.cause).toMatch(messagePattern(entry.expect.message));
      if (entry.expect.maxMessageLength !== undefined) {
        expect(job.cause?.length).toBeLessThan(entry.expect.maxMessageLength);
      }
    }
    if (job.status === "FAILED") expect(job.error).toBe(entry.expect.error);
    // A REJECTED record keeps no request fields; a job that ran records where it came from.
    if (entry.via === "sqs" && job.status !== "REJECTED") expect(job.source).toBe("sqs");
    if (entry.expect.image) {
      const { format, width, height } = entry.expect.image;
      expect(job.outputFormat).toBe(format);
      expect(await decodeStoredImage(outcome.jobId, format)).toEqual({
        contentType: IMAGE_FORMATS[format].contentType,
        width,
        height,
      });
    }
    if (entry.checkMetadata) {
      // The prompt travels in S3 metadata URI-encoded: line breaks cannot become headers of their own.
      const { metadata } = await readImage(env, outcome.jobId);
      expect(decodeURIComponent(metadata.prompt ?? "")).toBe(entry.expect.storedPrompt);
      expect(Object.keys(metadata).sort()).toEqual(["aspect-ratio", "job-id", "model-id", "prompt", "seed"]);
    }
  });
});

describe("the corpus as a whole", () => {
  it("has at least 100 cases, through both the API and SQS", () => {
    expect(cases.length).toBeGreaterThanOrEqual(100);
    expect(new Set(cases.map((entry) => entry.via))).toEqual(new Set(["api", "sqs"]));
  });

  it("states the message of every rejection the function or the state machine makes", () => {
    const rejections = cases.filter(
      (entry) =>
        (entry.expect.status !== undefined && entry.expect.status >= 400 && entry.expect.answeredBy !== "gateway") ||
        entry.expect.job === "REJECTED",
    );
    expect(rejections.filter((entry) => entry.expect.message === undefined).map((entry) => entry.name)).toEqual([]);
  });

  it("holds every model family to its limits: each has rejections whose message names one of its models", () => {
    for (const family of new Set(MODEL_CATALOG.map((model) => model.family))) {
      const modelPatterns = MODEL_CATALOG.filter((model) => model.family === family).map((model) =>
        model.id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
      );
      const limitCases = cases.filter((entry) =>
        modelPatterns.some((pattern) => entry.expect.message?.includes(pattern)),
      );
      expect(limitCases.length, `cases holding ${family} to its limits`).toBeGreaterThanOrEqual(5);
    }
  });

  it("never answered a 5xx", () => {
    const serverErrors = cases.filter((entry) => (outcomes.get(entry.name)?.status ?? 0) >= 500);
    expect(serverErrors.map((entry) => entry.name)).toEqual([]);
  });

  it("sent Bedrock only the requests it accepted, each to the model it named, and drew images only for successes", () => {
    const reaching = cases.filter(reachesBedrock);
    const { stats } = env.stack.bedrock;
    expect({
      requests: stats.requests,
      images: stats.images,
      blocked: stats.blocked,
      // Validation is at least as strict as each model: Bedrock never refused a body the pipeline let through.
      invalid: stats.invalid,
    }).toEqual({
      requests: reaching.length + setupJobs.length,
      images: cases.filter((entry) => entry.expect.job === "SUCCEEDED").length + setupJobs.length,
      blocked: cases.filter((entry) => entry.expect.error === PIPELINE_ERRORS.contentBlocked).length,
      invalid: 0,
    });
    const expectedByModel: Record<string, number> = {};
    for (const modelId of [
      ...reaching.map((entry) => requestedModels.get(entry.name) ?? DEFAULT_MODEL_ID),
      ...setupJobs.map(() => DEFAULT_MODEL_ID),
    ]) {
      expectedByModel[modelId] = (expectedByModel[modelId] ?? 0) + 1;
    }
    const requestsByModel = Object.fromEntries(
      Object.entries(stats.byModel).map(([modelId, counts]) => [modelId, counts.requests]),
    );
    expect(requestsByModel).toEqual(expectedByModel);
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
  const { status, job, answeredBy, error } = entry.expect;
  if (status !== undefined && status !== 202) {
    return answeredBy
      ? `is refused with ${status} by the ${answeredBy}`
      : `is refused with ${status}, saying what is accepted`;
  }
  const taken = entry.via === "api" ? "is accepted" : "is taken";
  if (job === "REJECTED" && error === PIPELINE_ERRORS.contentBlocked) {
    return `${taken}, then ends REJECTED by the content filter with its reason, with no image`;
  }
  if (job === "REJECTED") return "ends REJECTED, saying what is accepted, with no image";
  return `${taken} and ends ${job}${job === "SUCCEEDED" ? " with its image" : ", with no image"}`;
}

/** Whether the case's request is one Bedrock is asked for: it succeeded, failed there, or its filter refused it. */
function reachesBedrock(entry: CorpusCase): boolean {
  const { job, error } = entry.expect;
  return job === "SUCCEEDED" || job === "FAILED" || error === PIPELINE_ERRORS.contentBlocked;
}

/** The `model` a case's JSON body names, else the deploy default (a plain-text or unparsable body is a prompt). */
function requestedModel(entry: CorpusCase): string {
  if (entry.rawHttp !== undefined || entry.bodyBase64 !== undefined) return DEFAULT_MODEL_ID;
  try {
    const parsed: unknown = JSON.parse(String(bodyOf(entry)));
    const model = typeof parsed === "object" && parsed !== null ? (parsed as { model?: unknown }).model : undefined;
    return typeof model === "string" ? model : DEFAULT_MODEL_ID;
  } catch {
    return DEFAULT_MODEL_ID;
  }
}

function messagePattern(source: string): RegExp {
  return new RegExp(source.replaceAll("{MAX_REQUEST_BYTES}", String(MAX_REQUEST_BYTES)));
}

/** The keys under which the job has an image, in any output format. */
async function storedImageKeys(jobId: string): Promise<string[]> {
  const keys = (Object.keys(IMAGE_FORMATS) as OutputFormat[]).map((format) =>
    imageKey(env.stack.keyPrefix, jobId, format),
  );
  const exists = await Promise.all(keys.map((key) => objectExists(env, key)));
  return keys.filter((_key, index) => exists[index]);
}

/** The stored image's Content-Type and the size its decoder reads (pngjs and jpeg-js check the bytes). */
async function decodeStoredImage(jobId: string, format: OutputFormat) {
  const key = imageKey(env.stack.keyPrefix, jobId, format);
  const object = await env.s3.send(new GetObjectCommand({ Bucket: env.stack.bucket, Key: key }));
  const bytes = Buffer.from(await object.Body!.transformToByteArray());
  const { width, height } = format === "jpeg" ? jpeg.decode(bytes) : PNG.sync.read(bytes);
  return { contentType: object.ContentType, width, height };
}

function hasExecution(name: string): boolean {
  return env.stack.executions.list().some((record) => record.name === name);
}

function bodyOf(entry: CorpusCase): string | Buffer {
  if (entry.bodyBase64 !== undefined) return Buffer.from(entry.bodyBase64, "base64");
  const text = bodyText(entry);
  if (entry.bytesOverRequestLimit === undefined) return text;
  // Trailing whitespace leaves a JSON body (and a plain-text prompt, once trimmed) as it was: only the size changes.
  return `${text}${" ".repeat(MAX_REQUEST_BYTES + entry.bytesOverRequestLimit - Buffer.byteLength(text, "utf8"))}`;
}

function bodyText(entry: CorpusCase): string {
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
    // As bytes: fetch gives a string body Content-Type text/plain when the case sends none.
    body: Buffer.from(bodyOf(entry)),
  });
  return answered(response.status, (await response.json()) as Answer);
}

type Answer = { message?: string; jobId?: string; statusUrl?: string };

/** The outcome of an API answer; an accepted job is followed to its end. */
async function answered(status: number, answer: Answer): Promise<Outcome> {
  const outcome: Outcome = { status, message: answer.message, jobId: answer.jobId, statusUrl: answer.statusUrl };
  if (status === 202 && answer.jobId) outcome.job = await waitForJob(env, answer.jobId, JOB_TIMEOUT_MS);
  return outcome;
}

/**
 * Writes the request byte for byte (each character one byte) and reads the answer until the server closes
 * (`Connection: close`). The socket stays open for writing meanwhile: a client that half-closes may get no answer
 * from a handler still at work. If the server has not closed after RAW_ANSWER_MS, the socket is ended.
 */
async function sendRaw(request: string): Promise<Outcome> {
  const { port } = new URL(env.stack.apiUrl);
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), "127.0.0.1");
    const chunks: Buffer[] = [];
    const giveUp = setTimeout(() => socket.end(), RAW_ANSWER_MS);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(giveUp);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    socket.write(Buffer.from(request, "latin1"));
  });
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  const json = /\{.*\}/s.exec(text.slice(text.indexOf("\r\n\r\n")))?.[0];
  return answered(status, json ? (JSON.parse(json) as Answer) : {});
}

async function sendToQueue(entry: CorpusCase): Promise<Outcome> {
  const messageId = await sendMessage(env, String(bodyOf(entry)));
  return { jobId: messageId, job: await waitForJob(env, messageId, JOB_TIMEOUT_MS) };
}
