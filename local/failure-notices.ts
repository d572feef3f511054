import type { SNSClient } from "@aws-sdk/client-sns";
import {
  type FailedExecution,
  publishFailureNotices,
  stateMachineArnOf,
  type WhereToLook,
} from "../functions/failure-notifier/failure-notifier";
import {
  FAILED_EXECUTION_STATUSES,
  FAILURE_NOTICE_BATCH_SIZE,
  FAILURE_NOTICE_MAX_RECEIVES,
  type FailedExecutionStatus,
} from "../functions/shared/failure-notices";
import { createFunctionLogger, invocationLogger } from "../functions/shared/logger";
import { LOCAL_REGION } from "./emulators";
import type { ExecutionRecord } from "./executions";

/**
 * The local batching window. AWS waits FAILURE_NOTICE_WINDOW_SECONDS (5 minutes) to spare an inbox; someone who breaks
 * a job under `npm start` wants its notice in seconds, and the grouping is the same, only the window is shorter.
 */
export const DEFAULT_NOTICE_WINDOW_MS = 10_000;

export interface LocalFailureNoticesOptions {
  sns: SNSClient;
  topicArn: string;
  /** The local Step Functions endpoint the notices' commands name. */
  stepFunctionsUrl: string;
  /** How long the first failure after a quiet spell waits for others before the batch is noticed. */
  windowMs: number;
  /** The stack's own log lines. */
  log: (entry: Record<string, unknown>) => void;
}

export interface LocalFailureNotices {
  /** Takes a finished execution; one that did not end in failure is ignored, as the EventBridge rule filters it. */
  add(record: ExecutionRecord): void;
  /** Notices what is pending now and waits for the notices in progress: the stack is stopping. */
  flush(): Promise<void>;
}

/**
 * The local stand-in for "EventBridge rule → notice queue → event source mapping with a batching window → notifier":
 * failed executions gather for `windowMs` from the first one (or until FAILURE_NOTICE_BATCH_SIZE of them), then the
 * notifier's core notices the batch, one batch at a time. A batch's failures whose notice could not be published wait
 * for the next window, as their messages would return to the queue, until FAILURE_NOTICE_MAX_RECEIVES tries.
 */
export function startFailureNotices(options: LocalFailureNoticesOptions): LocalFailureNotices {
  if (!(Number.isFinite(options.windowMs) && options.windowMs > 0)) {
    throw new Error(`noticeWindowMs must be a positive number of milliseconds, got ${options.windowMs}`);
  }
  const logger = createFunctionLogger("failure-notifier");
  const deps = {
    sns: options.sns,
    topicArn: options.topicArn,
    whereToLook: localWhereToLook(options.stepFunctionsUrl),
    windowSeconds: options.windowMs / 1000,
  };
  const pending: { failure: FailedExecution; receives: number }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  let delivering = Promise.resolve();

  const deliver = (): Promise<void> => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending.splice(0, FAILURE_NOTICE_BATCH_SIZE);
    if (batch.length === 0) return delivering;
    delivering = delivering
      .then(async () => {
        const { unpublished } = await publishFailureNotices(
          batch.map((entry) => entry.failure),
          { ...deps, log: invocationLogger(logger) },
        );
        for (const entry of batch.filter((candidate) => unpublished.includes(candidate.failure))) {
          entry.receives += 1;
          if (stopping || entry.receives >= FAILURE_NOTICE_MAX_RECEIVES) {
            options.log({
              level: "WARN",
              message: "Gave up on the failure notice of a job",
              jobId: entry.failure.name,
              tries: entry.receives,
            });
          } else {
            enqueue(entry);
          }
        }
      })
      .catch((error: unknown) => {
        options.log({ level: "ERROR", message: "Could not notice a batch of failed jobs", error: String(error) });
      });
    return delivering;
  };
  const enqueue = (entry: { failure: FailedExecution; receives: number }) => {
    pending.push(entry);
    if (pending.length >= FAILURE_NOTICE_BATCH_SIZE) void deliver();
    else timer ??= setTimeout(() => void deliver(), options.windowMs);
  };

  return {
    add(record) {
      if (stopping || !(FAILED_EXECUTION_STATUSES as readonly string[]).includes(record.status)) return;
      enqueue({ failure: failedExecutionOf(record), receives: 0 });
    },
    async flush() {
      stopping = true;
      await deliver();
    },
  };
}

/** The local stack's places: a describe-execution and a list-executions command against its endpoint. */
export function localWhereToLook(stepFunctionsUrl: string): WhereToLook {
  const endpoint = `--no-sign-request --region ${LOCAL_REGION} --endpoint-url ${stepFunctionsUrl}`;
  return {
    execution: (failure) => `aws stepfunctions describe-execution ${endpoint} --execution-arn ${failure.executionArn}`,
    listExecutions: (failure) =>
      `aws stepfunctions list-executions ${endpoint} --state-machine-arn ${stateMachineArnOf(failure.executionArn)} ` +
      `--status-filter ${failure.status}`,
    more: [],
  };
}

function failedExecutionOf(record: ExecutionRecord): FailedExecution {
  return {
    name: record.name,
    status: record.status as FailedExecutionStatus,
    error: record.error ?? null,
    cause: record.cause ?? null,
    executionArn: record.executionArn,
    stopDate: record.stopDate?.getTime(),
    region: LOCAL_REGION,
  };
}
