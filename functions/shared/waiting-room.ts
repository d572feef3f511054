import type { ImageRequest } from "./image-request";

/**
 * The waiting room in front of Bedrock (docs/ARCHITECTURE.md §1.4): GenerateImage puts a `GenerateMessage` on the
 * generate queue and waits for its task token; the generator takes at most `bedrockConcurrency` messages at once.
 * These are the settings the infrastructure, the generator and the local stack share.
 */

/** The body GenerateImage's `sqs:sendMessage.waitForTaskToken` task sends (its MessageBody in the ASL file). */
export interface GenerateMessage {
  taskToken: string;
  jobId: string;
  request: ImageRequest;
}

/**
 * Receives of one generate message before SQS moves it to the generate DLQ: SQS's largest maxReceiveCount. Every
 * Bedrock throttle is a receive, so the budget is what a job may spend being refused (at least this many seconds,
 * one THROTTLE_DELAY_SECONDS each); on the last receive a throttled generator fails the task itself. A generator
 * that crashes on a message loses the job to the heartbeat long before (two visibility timeouts exceed
 * HeartbeatSeconds), and the message is dropped at its next heartbeat.
 */
export const GENERATE_MAX_RECEIVES = 1000;

/**
 * The generator's function timeout, and the generate queue's visibility timeout: six times it, as AWS recommends for
 * an SQS event source, so a message is not handed to a second generator while the first is still on it.
 */
export const GENERATOR_TIMEOUT_SECONDS = 100;
export const GENERATE_VISIBILITY_TIMEOUT_SECONDS = 6 * GENERATOR_TIMEOUT_SECONDS;

/**
 * Seconds a throttled message stays invisible before its next try: SQS's smallest visibility step, every time, no
 * growing backoff. The quota is protected by the number of slots (bedrockConcurrency), not by the delay: a slot that
 * was refused takes the next message at once, and a refused message waits one second, near the front of the queue.
 * A backoff that grows per message only leaves the quota idle at the end of a burst (bench/waiting-room-model.ts
 * measured 1.32 × N/R with 1..2^(n-1) s against 1.08 with 1 s, when a fifth of the calls are refused at random).
 */
export const THROTTLE_DELAY_SECONDS = 1;

/** The generator's environment, beside BEDROCK_REGION, IMAGE_BUCKET and KEY_PREFIX. */
export const GENERATOR_ENV = {
  queueUrl: "GENERATE_QUEUE_URL",
  maxReceives: "GENERATE_MAX_RECEIVES",
  table: "JOB_STATUS_TABLE",
} as const;

/** Reads a generate message body; anything else is a message the generator cannot act on. */
export function parseGenerateMessage(body: string): GenerateMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { taskToken, jobId, request } = parsed as Record<string, unknown>;
  if (typeof taskToken !== "string" || taskToken === "" || typeof jobId !== "string") return undefined;
  if (typeof request !== "object" || request === null) return undefined;
  return { taskToken, jobId, request: request as ImageRequest };
}
