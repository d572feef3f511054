import "../local/promise-with-resolvers";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { GetQueueAttributesCommand, SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { LOG_PREFIX } from "../local/bedrock-stand-in";
import { LOCAL_ACCOUNT, LOCAL_CREDENTIALS, LOCAL_REGION } from "../local/emulators";
import type { ExecutionRecord } from "../local/executions";
import { FREE_PORTS, type LocalStack, type LocalStackOptions, startLocalStack } from "../local/local-stack";
import { type Interposer, startInterposer } from "./interposer";

/** A local stack started for one benchmark process, with what the benchmark reads beside it. */
export interface BenchStack {
  stack: LocalStack;
  sqs: SQSClient;
  /** The start-job SQS adapter, the very module the stack's poller calls: invoked directly to redeliver a message. */
  sqsHandler: (event: SQSEvent) => Promise<SQSBatchResponse>;
  /** Requests the pipeline made to S3, DynamoDB and Step Functions, by operation (only with `countRequests`). */
  requests: Map<string, number>;
  /** The Bedrock stand-in's own time for each image it drew, by prompt SHA-256 (first 12 hex digits). */
  standInMs: Map<string, number[]>;
  close: () => Promise<void>;
}

export interface BenchStackOptions {
  retryTimeScale: number;
  bedrock: NonNullable<LocalStackOptions["bedrock"]>;
  /** Put a counting proxy between the pipeline and S3, DynamoDB and Step Functions (one loopback hop each). */
  countRequests: boolean;
  /** Generators at once (the waiting room's `bedrockConcurrency`). @default the local stack's (5, as deployed) */
  bedrockConcurrency?: number;
}

// `<prefix> 200 <model> <w>x<h> images=1 seed=<n> prompt-sha256=<12 hex> <ms>ms`: the stand-in's line per image.
const STAND_IN_IMAGE_LINE = /\s200\s.*prompt-sha256=([0-9a-f]{12})\s(\d+)ms$/;

export const BENCH_MODEL_ID = "amazon.nova-canvas-v1:0";

/** Starts a fresh local stack in a temporary data directory; `close` stops it and deletes the directory. */
export async function startBenchStack(options: BenchStackOptions): Promise<BenchStack> {
  const dataDir = mkdtempSync(join(tmpdir(), "couch-imagegen-bench-"));
  const requests = new Map<string, number>();
  const standInMs = new Map<string, number[]>();
  const interposers: Interposer[] = [];
  const stack = await startLocalStack({
    fresh: true,
    dataDir,
    ports: FREE_PORTS,
    // Nova Canvas takes pixel sizes, so the stand-in can draw the smallest (320x320) pictures and leave the two cores
    // to the pipeline: what is measured is orchestration, not drawing. Prices are per model (bench/prices.ts).
    modelId: BENCH_MODEL_ID,
    retryTimeScale: options.retryTimeScale,
    bedrock: options.bedrock,
    waitingRoom: { bedrockConcurrency: options.bedrockConcurrency },
    log: (line) => {
      if (!line.startsWith(LOG_PREFIX)) return;
      const match = STAND_IN_IMAGE_LINE.exec(line);
      if (match?.[1] && match[2]) standInMs.set(match[1], [...(standInMs.get(match[1]) ?? []), Number(match[2])]);
    },
    ...(options.countRequests
      ? {
          interpose: async (service, url) => {
            const interposer = await startInterposer(url, service, (request) => {
              const key = `${service}:${request.operation}`;
              requests.set(key, (requests.get(key) ?? 0) + 1);
              return undefined;
            });
            interposers.push(interposer);
            return interposer.url;
          },
        }
      : {}),
  });
  const { sqsHandler } = await import("../functions/start-job/handler");
  const sqs = new SQSClient({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: new URL(stack.queueUrl).origin,
  });
  return {
    stack,
    sqs,
    sqsHandler,
    requests,
    standInMs,
    close: async () => {
      await stack.stop();
      await Promise.all(interposers.map((interposer) => interposer.close()));
      sqs.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function promptSha(prompt: string): string {
  return createHash("sha256").update(prompt).digest("hex").slice(0, 12);
}

/** A job the benchmark submitted: its execution name and when the client sent it (epoch ms). */
export interface SubmittedJob {
  jobId: string;
  source: "api" | "sqs";
  prompt: string;
  submittedAt: number;
  /** The 202 arrived (API) or SendMessage succeeded (SQS). */
  accepted: boolean;
  /** Milliseconds the API took to answer (API jobs). */
  answerMs?: number;
  /** The SQS message body, to redeliver it. */
  body?: string;
}

/** POST /generate-image with an Idempotency-Key, so the jobId is known and a retry is a replay. */
export async function submitApiJob(
  apiUrl: string,
  jobId: string,
  request: Record<string, unknown>,
): Promise<SubmittedJob & { status: number; replayed: boolean }> {
  const submittedAt = Date.now();
  const started = performance.now();
  const response = await fetch(`${apiUrl}/generate-image`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": jobId },
    body: JSON.stringify(request),
  });
  await response.arrayBuffer();
  return {
    jobId,
    source: "api",
    prompt: String(request.prompt),
    submittedAt,
    accepted: response.status === 202,
    answerMs: performance.now() - started,
    status: response.status,
    replayed: response.headers.get("idempotent-replayed") === "true",
  };
}

/** Sends up to 10 messages in one SendMessageBatch, as batch producers do; the jobId is each message id. */
export async function submitSqsBatch(
  sqs: SQSClient,
  queueUrl: string,
  messages: readonly { prompt: string; body: string }[],
): Promise<SubmittedJob[]> {
  const submittedAt = Date.now();
  const result = await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: messages.map((message, index) => ({ Id: String(index), MessageBody: message.body })),
    }),
  );
  return messages.map((message, index) => {
    const sent = result.Successful?.find((entry) => entry.Id === String(index));
    return {
      jobId: sent?.MessageId ?? `unsent-${index}-${submittedAt}`,
      source: "sqs",
      prompt: message.prompt,
      body: message.body,
      submittedAt,
      accepted: sent !== undefined,
    };
  });
}

/**
 * Delivers an already-sent message to the start-job SQS adapter once more, as the event source mapping does when a
 * message comes back (visibility timeout, a lost delete): same message id and body, a higher receive count.
 */
export async function redeliver(bench: BenchStack, job: SubmittedJob): Promise<number> {
  const queueName = new URL(bench.stack.queueUrl).pathname.split("/").at(-1) ?? "";
  const now = String(Date.now());
  const result = await bench.sqsHandler({
    Records: [
      {
        messageId: job.jobId,
        receiptHandle: `bench-redelivery-${job.jobId}`,
        body: job.body ?? "",
        attributes: {
          ApproximateReceiveCount: "2",
          SentTimestamp: String(job.submittedAt),
          SenderId: "bench",
          ApproximateFirstReceiveTimestamp: now,
        },
        messageAttributes: {},
        md5OfBody: createHash("md5")
          .update(job.body ?? "")
          .digest("hex"),
        eventSource: "aws:sqs",
        eventSourceARN: `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${queueName}`,
        awsRegion: LOCAL_REGION,
      },
    ],
  });
  return result.batchItemFailures.length;
}

/**
 * Waits until every named execution exists and has ended, or the deadline passes; returns the records found.
 * Polls the in-process execution store (no HTTP); the times measured come from the records, not from the polling.
 */
export async function waitForExecutions(
  stack: LocalStack,
  jobIds: readonly string[],
  timeoutMs: number,
  pollMs = 50,
): Promise<{ records: ExecutionRecord[]; timedOut: boolean }> {
  const deadline = Date.now() + timeoutMs;
  const arnOf = (jobId: string) => `${stack.stateMachineArn.replace(":stateMachine:", ":execution:")}:${jobId}`;
  for (;;) {
    const records = jobIds.flatMap((jobId) => {
      try {
        return [stack.executions.describe(arnOf(jobId))];
      } catch {
        return [];
      }
    });
    const done = records.length === jobIds.length && records.every((record) => record.status !== "RUNNING");
    if (done || Date.now() > deadline) return { records, timedOut: !done };
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Messages in a queue: visible plus in flight. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages ?? 0) + Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

export function snapshotAndReset(counts: Map<string, number>): Record<string, number> {
  const snapshot = Object.fromEntries([...counts.entries()].sort());
  counts.clear();
  return snapshot;
}

/** Object keys under the stack's final-image and staging prefixes (the emulator, read directly). */
export async function listImageKeys(stack: LocalStack): Promise<{ images: string[]; staged: string[] }> {
  const s3 = new S3Client({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: stack.s3Url,
    forcePathStyle: true,
  });
  const list = async (prefix: string) => {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      keys.push(...(page.Contents ?? []).map((object) => object.Key ?? ""));
      token = page.NextContinuationToken;
    } while (token);
    return keys;
  };
  try {
    return {
      images: await list(`${stack.keyPrefix}/generated_images/`),
      staged: await list(`${stack.keyPrefix}/staging/`),
    };
  } finally {
    s3.destroy();
  }
}
