import { createHash } from "node:crypto";

/**
 * Who started a job, as the execution input (`pipeline.caller`) and the status record (`caller`) keep it:
 * `apiKey:<API key id>` for an API caller with a key, `anonymous` for one without (an API that takes no keys, the
 * local stack without --api-key), `queue:<queue ARN>` for an SQS message. Never the API key itself.
 */
export type JobCaller = string;

export const ANONYMOUS_CALLER: JobCaller = "anonymous";

const QUEUE_PREFIX = "queue:";
const MAX_JOB_ID_LENGTH = 80;

/** The caller of an API request, from the API key id API Gateway puts in `requestContext.identity`. */
export function apiCaller(apiKeyId: string | null | undefined): JobCaller {
  return apiKeyId ? `apiKey:${apiKeyId}` : ANONYMOUS_CALLER;
}

/** The caller of an SQS message: the queue it came from (the event source ARN). */
export function queueCaller(eventSourceArn: string): JobCaller {
  return `${QUEUE_PREFIX}${eventSourceArn}`;
}

/**
 * Whether `reader` may see a job `owner` started. Its own jobs, always. A queue's jobs, by any reader with the jobId:
 * it is the message id SQS assigned, which only the producer learns (and `couchgen enqueue --wait` follows through
 * the API). A job that names no caller (a direct StartExecution) counts as anonymous: no API key holder sees it.
 */
export function mayRead(owner: unknown, reader: JobCaller): boolean {
  const recorded = typeof owner === "string" ? owner : ANONYMOUS_CALLER;
  return recorded === reader || recorded.startsWith(QUEUE_PREFIX);
}

/**
 * The jobId an Idempotency-Key names for this caller. Without an API key, the key itself. With one, the key behind a
 * prefix drawn from the key's id, so two callers' same key are two jobs and neither can guess the other's; a key too
 * long for the prefix is hashed, since a jobId is an execution name of at most 80 characters.
 */
export function jobIdForKey(idempotencyKey: string, caller: JobCaller): string {
  if (caller === ANONYMOUS_CALLER) return idempotencyKey;
  const prefix = digest(caller).slice(0, 10);
  const named = `${prefix}-${idempotencyKey}`;
  return named.length <= MAX_JOB_ID_LENGTH ? named : `${prefix}-${digest(idempotencyKey)}`;
}

/** SHA-256 in base64url: 43 characters of [A-Za-z0-9_-], all valid in an execution name. */
function digest(text: string): string {
  return createHash("sha256").update(text).digest("base64url");
}
