import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { MAX_NESTING_DEPTH, MAX_REQUEST_BYTES } from "../shared/image-request";
import { queueCaller } from "../shared/job-caller";
import { jsonTextDepth } from "../shared/json-depth";
import { failureAttributes, type PipelineLogger, SILENT_LOGGER } from "../shared/logger";
import type { PipelineFacts } from "../shared/pipeline-facts";
import { type StartJobDeps, startJob } from "./start-job";

export interface SqsAdapterDeps extends StartJobDeps {
  /**
   * This invocation's logger; the adapter adds `source`, and to each message's lines its jobId and its message id
   * (`correlation_id`): one batch starts several jobs.
   * @default SILENT_LOGGER
   */
  log?: PipelineLogger;
}

/** StartExecution failures that only ask for patience: the message returns to the queue and is tried again. */
const BUSY_ERRORS = new Set(["ThrottlingException", "ExecutionLimitExceeded"]);

/** What a message body starts its job with: the request fields, or only why the body cannot be a request. */
export interface MessageRequest {
  fields: Record<string, unknown>;
  /** What the body says beyond its fields; it travels in the execution input's `pipeline` facts. */
  facts?: Omit<PipelineFacts, "caller">;
}

/** The jobId an SQS message runs as: its message id, so a redelivered message never starts a second execution. */
export function jobIdForMessage(messageId: string): string {
  return messageId;
}

/**
 * A message body is JSON `{"prompt": ...}` or plain text (the whole body is the prompt). No validation here:
 * the state machine's ValidatePrompt is the authority and records REJECTED where a producer can see it. A body too
 * big for any request, or nested too deep to serialise safely, starts its job with only that fact, so the producer
 * finds out why instead of the message failing every delivery into the DLQ. SQS bodies are Unicode text already.
 */
export function readMessageBody(body: string): MessageRequest {
  const bytes = Buffer.byteLength(body, "utf8");
  // Also keeps the execution input under 256 KB: re-serialised, a body at most doubles (every " or \ escaped).
  if (bytes > MAX_REQUEST_BYTES) return { fields: {}, facts: { oversizedBodyBytes: bytes } };
  const trimmed = body.trim();
  const parsed = trimmed.startsWith("{") ? jsonObject(trimmed) : undefined;
  if (!parsed) return { fields: { prompt: body } };
  // JSON.parse reads any depth; StartExecution's serialiser and the logs recurse, and overflow on thousands of levels.
  const depth = jsonTextDepth(trimmed);
  if (depth > MAX_NESTING_DEPTH) return { fields: {}, facts: { bodyNestingDepth: depth } };
  const numbersTooLarge = Object.keys(parsed).filter((field) => {
    const value = parsed[field];
    return typeof value === "number" && !Number.isFinite(value);
  });
  return numbersTooLarge.length > 0 ? { fields: parsed, facts: { numbersTooLarge } } : { fields: parsed };
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // Not JSON after all: the whole body is the prompt.
  }
  return undefined;
}

/** Starts one execution per message; failed messages are reported so only they return to the queue. */
export async function handleSqsBatch(event: SQSEvent, deps: SqsAdapterDeps): Promise<SQSBatchResponse> {
  const log = deps.log ?? SILENT_LOGGER;
  log.appendKeys({ source: "sqs" });
  const results = await Promise.allSettled(event.Records.map((record) => startFromMessage(record, deps, log)));
  const batchItemFailures: SQSBatchResponse["batchItemFailures"] = [];
  results.forEach((result, index) => {
    const record = event.Records[index];
    if (result.status === "rejected" && record) {
      const failure = failureAttributes(result.reason);
      const attributes = {
        ...messageKeys(record),
        receiveCount: record.attributes.ApproximateReceiveCount,
        ...failure,
      };
      const message = "Could not start the job for an SQS message; it returns to the queue";
      if (BUSY_ERRORS.has(failure.error)) log.warn(message, attributes);
      else log.error(message, attributes);
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  });
  return { batchItemFailures };
}

function messageKeys(record: SQSRecord): { jobId: string; correlation_id: string } {
  return { jobId: jobIdForMessage(record.messageId), correlation_id: record.messageId };
}

async function startFromMessage(record: SQSRecord, deps: StartJobDeps, log: PipelineLogger): Promise<void> {
  const jobId = jobIdForMessage(record.messageId);
  const { fields, facts } = readMessageBody(record.body);
  try {
    const job = await startJob(jobId, fields, "sqs", deps, { caller: queueCaller(record.eventSourceARN), ...facts });
    log.info(job.replayed ? "Job already started for this message (a redelivery)" : "Job started", {
      ...messageKeys(record),
      executionArn: job.executionArn,
      receiveCount: record.attributes.ApproximateReceiveCount,
    });
  } catch (error) {
    // A redelivered message whose job already started is done, whatever the comparison of inputs says.
    if (error instanceof Error && error.name === "JobConflict") {
      log.info("Job already started for this message (a redelivery)", {
        ...messageKeys(record),
        receiveCount: record.attributes.ApproximateReceiveCount,
      });
      return;
    }
    throw error;
  }
}
