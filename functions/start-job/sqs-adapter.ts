import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { MAX_REQUEST_BYTES } from "../shared/image-request";
import { type StartJobDeps, startJob } from "./start-job";

export interface SqsAdapterDeps extends StartJobDeps {
  log?: (entry: Record<string, unknown>) => void;
}

/** The jobId an SQS message runs as: its message id, so a redelivered message never starts a second execution. */
export function jobIdForMessage(messageId: string): string {
  return messageId;
}

/**
 * A message body is JSON `{"prompt": ...}` or plain text (the whole body is the prompt). No validation here:
 * the state machine's ValidatePrompt is the authority and records REJECTED where a producer can see it.
 */
export function fieldsFromMessageBody(body: string): Record<string, unknown> {
  const bytes = Buffer.byteLength(body, "utf8");
  // Too big for any valid request, and maybe for an execution input (256 KB): the job starts only to be REJECTED,
  // so the producer finds out why, instead of the message failing every delivery into the DLQ.
  if (bytes > MAX_REQUEST_BYTES) return { oversizedBodyBytes: bytes };
  const trimmed = body.trim();
  if (trimmed.startsWith("{")) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
        return parsed as Record<string, unknown>;
      }
    } catch {
      // Not JSON after all: the whole body is the prompt.
    }
  }
  return { prompt: body };
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
        detail: String(error),
      });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  });
  return { batchItemFailures };
}

async function startFromMessage(record: SQSRecord, deps: SqsAdapterDeps): Promise<void> {
  const jobId = jobIdForMessage(record.messageId);
  try {
    await startJob(jobId, fieldsFromMessageBody(record.body), "sqs", deps);
  } catch (error) {
    // A redelivered message whose job already started is done, whatever the comparison of inputs says.
    if (error instanceof Error && error.name === "JobConflict") return;
    throw error;
  }
}
