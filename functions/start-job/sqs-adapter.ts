import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { MAX_NESTING_DEPTH, MAX_REQUEST_BYTES } from "../shared/image-request";
import { queueCaller } from "../shared/job-caller";
import { jsonTextDepth } from "../shared/json-depth";
import type { PipelineFacts } from "../shared/pipeline-facts";
import { excerpt } from "../shared/quoted-text";
import { type StartJobDeps, startJob } from "./start-job";

export interface SqsAdapterDeps extends StartJobDeps {
  log?: (entry: Record<string, unknown>) => void;
}

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
  const results = await Promise.allSettled(event.Records.map((record) => startFromMessage(record, deps)));
  const batchItemFailures: SQSBatchResponse["batchItemFailures"] = [];
  results.forEach((result, index) => {
    const record = event.Records[index];
    if (result.status === "rejected" && record) {
      const error = result.reason;
      deps.log?.({
        level: "ERROR",
        message: "Could not start the job for an SQS message; it returns to the queue",
        messageId: record.messageId,
        receiveCount: record.attributes.ApproximateReceiveCount,
        error: error instanceof Error ? error.name : "UnknownError",
        // A service's message may quote what it was sent.
        detail: excerpt(String(error), 200),
      });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  });
  return { batchItemFailures };
}

async function startFromMessage(record: SQSRecord, deps: SqsAdapterDeps): Promise<void> {
  const jobId = jobIdForMessage(record.messageId);
  const { fields, facts } = readMessageBody(record.body);
  try {
    await startJob(jobId, fields, "sqs", deps, { caller: queueCaller(record.eventSourceARN), ...facts });
  } catch (error) {
    // A redelivered message whose job already started is done, whatever the comparison of inputs says.
    if (error instanceof Error && error.name === "JobConflict") return;
    throw error;
  }
}
