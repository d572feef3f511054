import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import { FAILURE_NOTICE_RUNBOOK, type FailedExecutionStatus } from "../shared/failure-notices";
import { failureAttributes, type PipelineLogger, SILENT_LOGGER } from "../shared/logger";
import { excerpt } from "../shared/quoted-text";

/** One execution that ended without an image: the fields of its "Step Functions Execution Status Change" event. */
export interface FailedExecution {
  /** The execution name: the jobId. */
  name: string;
  status: FailedExecutionStatus;
  /** Null for a timed-out execution and for one stopped without an error. */
  error?: string | null;
  cause?: string | null;
  executionArn: string;
  /** When it ended, in epoch milliseconds. */
  stopDate?: number;
  region: string;
}

/** Where a notice sends its reader: the AWS console and CLI, or the local stack's endpoints. */
export interface WhereToLook {
  /** One place that shows this execution: its console page, or a command. */
  execution(failure: FailedExecution): string;
  /** A command that lists the state machine's executions with this one's status. */
  listExecutions(failure: FailedExecution): string;
  /** Further places, one line each (the dashboard). */
  more: readonly string[];
}

export interface FailureNotice {
  subject: string;
  message: string;
  /** What the notice covers: every failure of its group as given, duplicates included. */
  failures: FailedExecution[];
}

export interface FailureNotifierDeps {
  sns: SNSClient;
  topicArn: string;
  whereToLook: WhereToLook;
  /** The batching window the notices are gathered over, named in a summary. */
  windowSeconds: number;
  /** @default SILENT_LOGGER */
  log?: PipelineLogger;
}

export interface FailureNoticeResult {
  published: FailureNotice[];
  /** The failures of the groups whose notice could not be published: their events must come back. */
  unpublished: FailedExecution[];
}

/** SNS takes a subject of fewer than 100 characters, without line breaks or control characters. */
export const MAX_SUBJECT_LENGTH = 99;
/** A summary names this many jobs; the list command finds the rest. */
export const LISTED_JOBS = 10;
// A Step Functions cause holds up to 32,768 characters: a detailed notice carries most of one, a summary an example.
const DETAILED_CAUSE_LENGTH = 8000;
const EXAMPLE_CAUSE_LENGTH = 1000;

/** What a group is named for: the error, else what the status implies (no error is given for either). */
export function errorKind(failure: FailedExecution): string {
  if (failure.error) return failure.error;
  if (failure.status === "TIMED_OUT") return "States.Timeout";
  if (failure.status === "ABORTED") return "ExecutionAborted";
  return "UnknownError";
}

/**
 * The notices for one batch of failed executions: one per status and error kind. A kind seen once gets the detailed
 * notice (job, error, cause, where to inspect it); a kind seen more often gets one summary (how many, when, the first
 * jobs, an example cause, where to look). An execution delivered twice (EventBridge and SQS deliver at least once)
 * counts once.
 */
export function failureNotices(
  failures: readonly FailedExecution[],
  where: WhereToLook,
  windowSeconds: number,
): FailureNotice[] {
  const groups = new Map<string, FailedExecution[]>();
  for (const failure of failures) {
    const key = `${failure.status} ${errorKind(failure)}`;
    const group = groups.get(key);
    if (group) group.push(failure);
    else groups.set(key, [failure]);
  }
  return [...groups.values()].map((group): FailureNotice => {
    const executions = [...new Map(group.map((failure) => [failure.executionArn, failure])).values()];
    const notice =
      executions.length === 1 ? detailedNotice(group[0]!, where) : summaryNotice(executions, where, windowSeconds);
    return { ...notice, failures: group };
  });
}

/** Publishes a batch's notices, all at once; a group whose notice fails is reported, the others stay sent. */
export async function publishFailureNotices(
  failures: readonly FailedExecution[],
  deps: FailureNotifierDeps,
): Promise<FailureNoticeResult> {
  const log = deps.log ?? SILENT_LOGGER;
  const notices = failureNotices(failures, deps.whereToLook, deps.windowSeconds);
  const results = await Promise.allSettled(
    notices.map((notice) =>
      deps.sns.send(new PublishCommand({ TopicArn: deps.topicArn, Subject: notice.subject, Message: notice.message })),
    ),
  );
  const result: FailureNoticeResult = { published: [], unpublished: [] };
  results.forEach((outcome, index) => {
    const notice = notices[index]!;
    const keys = { subject: notice.subject, events: notice.failures.length };
    if (outcome.status === "fulfilled") {
      log.info("Failure notice published", { ...keys, messageId: outcome.value.MessageId });
      result.published.push(notice);
    } else {
      log.error("Could not publish a failure notice; its events return to the queue", {
        ...keys,
        ...failureAttributes(outcome.reason),
      });
      result.unpublished.push(...notice.failures);
    }
  });
  return result;
}

function detailedNotice(failure: FailedExecution, where: WhereToLook) {
  return {
    subject: subjectLine(`couch-imagegen: job ${failure.name} ${failure.status} (${errorKind(failure)})`),
    message: [
      `couch-imagegen job ${failure.name} ended ${failure.status}.`,
      `Error: ${failure.error || "(none)"}`,
      `Cause: ${failure.cause ? excerpt(failure.cause, DETAILED_CAUSE_LENGTH) : "(none)"}`,
      `Execution: ${failure.executionArn}`,
      `Inspect: ${where.execution(failure)}`,
      ...where.more,
      `Runbook: ${FAILURE_NOTICE_RUNBOOK}`,
    ].join("\n"),
  };
}

function summaryNotice(executions: FailedExecution[], where: WhereToLook, windowSeconds: number) {
  const [first] = executions as [FailedExecution, ...FailedExecution[]];
  const kind = errorKind(first);
  const count = executions.length;
  const example = executions.find((failure) => failure.cause) ?? first;
  const listed = executions.slice(0, LISTED_JOBS);
  return {
    subject: subjectLine(`couch-imagegen: ${count} jobs ${first.status} with ${kind}`),
    message: [
      `${count} couch-imagegen jobs ended ${first.status} with error ${kind}${timeSpan(executions)}.`,
      `This one notice covers them all: failures are gathered for up to ${windowSeconds} s and noticed once per ` +
        "error kind, not once per job.",
      "",
      `Example cause (job ${example.name}):`,
      example.cause ? excerpt(example.cause, EXAMPLE_CAUSE_LENGTH) : "(none)",
      "",
      `${listed.length === count ? "The" : `The first ${listed.length} of the`} ${count} jobs:`,
      ...listed.map((failure) => `- ${failure.name}: ${where.execution(failure)}`),
      ...(count > listed.length ? [`- and ${count - listed.length} more`] : []),
      "",
      "Where to look:",
      `- Every ${first.status} execution: ${where.listExecutions(first)}`,
      ...where.more.map((line) => `- ${line}`),
      `- Runbook: ${FAILURE_NOTICE_RUNBOOK}`,
    ].join("\n"),
  };
}

/** " between <first> and <last> (<span>)", from the stop dates known; "" when none is. */
function timeSpan(executions: FailedExecution[]): string {
  const stops = executions.flatMap((failure) => (failure.stopDate === undefined ? [] : [failure.stopDate]));
  if (stops.length === 0) return "";
  const first = Math.min(...stops);
  const last = Math.max(...stops);
  const seconds = Math.round((last - first) / 1000);
  const span = seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return ` between ${isoSecond(first)} and ${isoSecond(last)} (${span})`;
}

function isoSecond(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19)}Z`;
}

/** Printable ASCII (an error name or a jobId may hold anything), fewer than 100 characters. */
export function subjectLine(text: string): string {
  return excerpt(text.replace(/[^\x20-\x7E]/g, "?"), MAX_SUBJECT_LENGTH);
}

/** The state machine an execution ARN belongs to (`...:execution:<machine>:<name>`). */
export function stateMachineArnOf(executionArn: string): string {
  const parts = executionArn.split(":");
  return parts[5] === "execution" ? [...parts.slice(0, 5), "stateMachine", parts[6]].join(":") : executionArn;
}

/** On AWS: the execution's console page, the CLI's list command, and the dashboard when one is named. */
export function awsWhereToLook(options: { region: string; dashboardName?: string }): WhereToLook {
  const { region } = options;
  return {
    execution: (failure) =>
      `https://${failure.region}.console.aws.amazon.com/states/home?region=${failure.region}` +
      `#/v2/executions/details/${failure.executionArn}`,
    listExecutions: (failure) =>
      `aws stepfunctions list-executions --region ${failure.region} --state-machine-arn ` +
      `${stateMachineArnOf(failure.executionArn)} --status-filter ${failure.status}`,
    more: options.dashboardName
      ? [
          `Dashboard: https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}` +
            `#dashboards/dashboard/${options.dashboardName}`,
        ]
      : [],
  };
}
