import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { FAILED_EXECUTION_STATUSES, type FailedExecutionStatus } from "../shared/failure-notices";
import { SILENT_LOGGER } from "../shared/logger";
import { type FailedExecution, type FailureNotifierDeps, publishFailureNotices } from "./failure-notifier";

/**
 * Reads one notice-queue message: a "Step Functions Execution Status Change" event as EventBridge delivers it, whole
 * or cut down by the rule's input transformer to `region`, `time` and these `detail` fields. Anything else, or a
 * status that is not a failure, is undefined.
 */
export function parseStatusChangeEvent(body: string): FailedExecution | undefined {
  let event: unknown;
  try {
    event = JSON.parse(body);
  } catch {
    return undefined;
  }
  const { region, time, detail } = (event ?? {}) as Record<string, unknown>;
  if (typeof region !== "string" || typeof detail !== "object" || detail === null) return undefined;
  const { name, status, error, cause, executionArn, stopDate } = detail as Record<string, unknown>;
  if (typeof name !== "string" || typeof executionArn !== "string") return undefined;
  if (!(FAILED_EXECUTION_STATUSES as readonly unknown[]).includes(status)) return undefined;
  const stopped = typeof stopDate === "number" ? stopDate : typeof time === "string" ? Date.parse(time) : Number.NaN;
  return {
    name,
    status: status as FailedExecutionStatus,
    error: typeof error === "string" ? error : null,
    cause: typeof cause === "string" ? cause : null,
    executionArn,
    ...(Number.isFinite(stopped) ? { stopDate: stopped } : {}),
    region,
  };
}

/**
 * One batch of the notice queue: the notices of every readable event; only the messages of groups whose notice could
 * not be published come back (ReportBatchItemFailures), so a retry does not resend the notices that went out. A
 * message that is no failed execution's event is logged and comes back too, to end in the DLQ where it can be read.
 */
export async function handleFailureEventBatch(event: SQSEvent, deps: FailureNotifierDeps): Promise<SQSBatchResponse> {
  const log = deps.log ?? SILENT_LOGGER;
  const messageOf = new Map<FailedExecution, SQSRecord>();
  const unreadable: SQSRecord[] = [];
  for (const record of event.Records) {
    const failure = parseStatusChangeEvent(record.body);
    if (failure) messageOf.set(failure, record);
    else unreadable.push(record);
  }
  for (const record of unreadable) {
    log.error("Not a failed execution's status-change event; it returns to the queue", {
      correlation_id: record.messageId,
      receiveCount: record.attributes.ApproximateReceiveCount,
    });
  }
  const { unpublished } = await publishFailureNotices([...messageOf.keys()], { ...deps, log });
  const returned = [...unreadable, ...unpublished.flatMap((failure) => messageOf.get(failure) ?? [])];
  return { batchItemFailures: returned.map((record) => ({ itemIdentifier: record.messageId })) };
}
