import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { DescribeExecutionCommand, type SFNClient } from "@aws-sdk/client-sfn";
import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { parseS3Uri } from "../shared/image-keys";
import { ANONYMOUS_CALLER, type JobCaller, mayRead } from "../shared/job-caller";
import { executionArnFor, isValidJobId } from "../shared/job-id";
import { pipelineFactsOf } from "../shared/pipeline-facts";
import { quote } from "../shared/quoted-text";

/** WAITING: in the waiting room for a Bedrock slot; RUNNING: the generator has taken it. */
export type JobState = "QUEUED" | "WAITING" | "RUNNING" | "SUCCEEDED" | "FAILED" | "REJECTED";

/** States the state machine has not finished with: its execution may have ended without a final record. */
const IN_PROGRESS_STATES: ReadonlySet<unknown> = new Set<JobState>(["WAITING", "RUNNING"]);

/** What GET /jobs/{jobId} answers. Fields absent from the record are absent here. */
export interface JobStatus {
  jobId: string;
  status: JobState;
  prompt?: string;
  source?: string;
  modelId?: string;
  /** The seed the model reports it used, once SUCCEEDED; the one asked for before. */
  seed?: number;
  aspectRatio?: string;
  outputFormat?: string;
  s3Uri?: string;
  imageUrl?: string;
  imageUrlExpiresAt?: string;
  error?: string;
  cause?: string;
  executionArn?: string;
  createdAt?: string;
  updatedAt?: string;
  /** When the job entered the waiting room (ISO-8601). Records from before the waiting room have none. */
  waitingSince?: string;
  /**
   * Seconds in the waiting room, to one decimal: up to now while WAITING; up to when the generator took the job
   * (fixed from then on); up to its end for a job that ended without being taken. Present with `waitingSince`.
   */
  waitedSeconds?: number;
  /**
   * How many times a generator called Bedrock for the job: each throttle that put it back in the waiting room and
   * each retry of the state machine is one more. Absent until a generator takes the job.
   */
  bedrockCalls?: number;
}

export interface JobStatusDeps {
  documents: DynamoDBDocumentClient;
  sfn: SFNClient;
  s3: S3Client;
  tableName: string;
  stateMachineArn: string;
  /** Seconds a presigned image URL stays valid. */
  urlExpiresIn?: number;
  now?: () => Date;
}

export type JobStatusResult = { found: true; job: JobStatus } | { found: false; message: string };

const DEFAULT_URL_EXPIRES_IN = 15 * 60;

/**
 * The status record when there is one; before RecordRunning has written it, the execution itself
 * (DescribeExecution, ARN derived from the jobId) tells whether the job exists and is still QUEUED. A job `reader`
 * may not see (job-caller.ts: `mayRead`) is answered exactly as a job that does not exist.
 */
export async function getJobStatus(
  jobId: string,
  deps: JobStatusDeps,
  reader: JobCaller = ANONYMOUS_CALLER,
): Promise<JobStatusResult> {
  if (!isValidJobId(jobId)) {
    return {
      found: false,
      message: `No job ${quote(jobId)}: job ids are 1 to 80 characters of A-Z, a-z, 0-9, _ and -`,
    };
  }
  const { Item } = await deps.documents.send(
    new GetCommand({ TableName: deps.tableName, Key: { jobId }, ConsistentRead: true }),
  );
  if (!Item) return fromExecution(jobId, deps, reader);
  if (!mayRead(Item.caller, reader)) return unknownJob(jobId);
  const record = IN_PROGRESS_STATES.has(Item.status) ? await reconcileInProgress(jobId, Item, deps) : Item;
  return { found: true, job: await fromRecord(record, deps) };
}

function unknownJob(jobId: string): JobStatusResult {
  return { found: false, message: `No job "${jobId}"` };
}

/**
 * A WAITING or RUNNING record whose execution timed out or was aborted is never updated by the state machine (no
 * state runs after a timeout or a stop): the execution's own status is the truth then, answered as the record would
 * say it. When Step Functions cannot answer (throttled), the record stands.
 */
const ENDED_WITHOUT_ERROR = { TIMED_OUT: "States.Timeout", ABORTED: "ExecutionAborted", FAILED: "ExecutionFailed" };

async function reconcileInProgress(
  jobId: string,
  record: Record<string, unknown>,
  deps: JobStatusDeps,
): Promise<Record<string, unknown>> {
  try {
    const execution = await deps.sfn.send(
      new DescribeExecutionCommand({ executionArn: executionArnFor(deps.stateMachineArn, jobId) }),
    );
    if (execution.status === "TIMED_OUT" || execution.status === "ABORTED" || execution.status === "FAILED") {
      // The state machine writes REJECTED or FAILED just before it ends: a record newer than the first read wins.
      const { Item: latest } = await deps.documents.send(
        new GetCommand({ TableName: deps.tableName, Key: { jobId }, ConsistentRead: true }),
      );
      if (latest && !IN_PROGRESS_STATES.has(latest.status)) return latest;
      return {
        // The latest read may know more (the generator took the job after the first read: generatingSince).
        ...(latest ?? record),
        status: "FAILED",
        error: execution.error ?? ENDED_WITHOUT_ERROR[execution.status],
        ...(execution.cause ? { cause: execution.cause } : {}),
        ...(execution.stopDate ? { updatedAt: execution.stopDate.toISOString() } : {}),
      };
    }
  } catch {
    // Keep the record's answer.
  }
  return record;
}

async function fromRecord(item: Record<string, unknown>, deps: JobStatusDeps): Promise<JobStatus> {
  const job: JobStatus = {
    jobId: String(item.jobId),
    status: item.status as JobState,
    ...pickStrings(item, [
      "prompt",
      "source",
      "modelId",
      "aspectRatio",
      "outputFormat",
      "s3Uri",
      "error",
      "executionArn",
      "createdAt",
      "updatedAt",
    ]),
  };
  if (typeof item.seed === "number") job.seed = item.seed;
  if (typeof item.bedrockCalls === "number") job.bedrockCalls = item.bedrockCalls;
  if (typeof item.cause === "string") job.cause = readableCause(item.cause);
  const now = deps.now?.() ?? new Date();
  Object.assign(job, waitingRoomFields(item, job.status, now));
  if (job.status === "SUCCEEDED" && job.s3Uri) {
    const expiresIn = deps.urlExpiresIn ?? DEFAULT_URL_EXPIRES_IN;
    const { bucket, key } = parseS3Uri(job.s3Uri);
    job.imageUrl = await getSignedUrl(deps.s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn });
    job.imageUrlExpiresAt = new Date(now.getTime() + expiresIn * 1000).toISOString();
  }
  return job;
}

/**
 * The wait ends when the generator takes the job (generatingSince); a job that ended without being taken (failed or
 * timed out while waiting) waited until it ended (updatedAt).
 */
function waitingRoomFields(
  item: Record<string, unknown>,
  status: JobState,
  now: Date,
): Pick<JobStatus, "waitingSince" | "waitedSeconds"> {
  if (typeof item.waitingSince !== "string") return {};
  const leftAt = status === "WAITING" ? now.getTime() : Date.parse(String(item.generatingSince ?? item.updatedAt));
  const waited = (leftAt - Date.parse(item.waitingSince)) / 1000;
  if (!Number.isFinite(waited)) return { waitingSince: item.waitingSince };
  // The writers' clocks (Step Functions, the generator, this function) may disagree a little: a wait is never negative.
  return { waitingSince: item.waitingSince, waitedSeconds: Math.max(0, Math.round(waited * 10) / 10) };
}

async function fromExecution(jobId: string, deps: JobStatusDeps, reader: JobCaller): Promise<JobStatusResult> {
  const executionArn = executionArnFor(deps.stateMachineArn, jobId);
  try {
    const execution = await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
    // No record yet: the caller is in the execution input, where start-job put it.
    if (!mayRead(pipelineFactsOf(parsedInput(execution.input)).caller, reader)) return unknownJob(jobId);
    const job: JobStatus = { jobId, status: "QUEUED", executionArn, createdAt: execution.startDate?.toISOString() };
    if (execution.status !== "RUNNING" && execution.status !== "PENDING_REDRIVE") {
      // The state machine writes the record before it ends, so one may have appeared since the first read: it wins.
      const { Item } = await deps.documents.send(
        new GetCommand({ TableName: deps.tableName, Key: { jobId }, ConsistentRead: true }),
      );
      if (Item) return { found: true, job: await fromRecord(Item, deps) };
      // The execution ended without a status record (a status write failed for good): report what the execution says.
      job.status = execution.status === "SUCCEEDED" ? "SUCCEEDED" : "FAILED";
      if (execution.error) job.error = execution.error;
      if (execution.cause) job.cause = readableCause(execution.cause);
    }
    return { found: true, job };
  } catch (error) {
    if (error instanceof Error && error.name === "ExecutionDoesNotExist") return unknownJob(jobId);
    throw error;
  }
}

function parsedInput(input: string | undefined): unknown {
  try {
    return JSON.parse(input ?? "{}");
  } catch {
    return {};
  }
}

/** A Lambda task's cause is the function's error as JSON; people want its message. */
export function readableCause(cause: string): string {
  try {
    const parsed: unknown = JSON.parse(cause);
    if (
      typeof parsed === "object" &&
      parsed !== null &&
      typeof (parsed as { errorMessage?: unknown }).errorMessage === "string"
    ) {
      return (parsed as { errorMessage: string }).errorMessage;
    }
  } catch {
    // Not JSON: already readable.
  }
  return cause;
}

function pickStrings(item: Record<string, unknown>, keys: readonly (keyof JobStatus)[]): Partial<JobStatus> {
  const picked: Record<string, string> = {};
  for (const key of keys) {
    const value = item[key];
    if (typeof value === "string") picked[key] = value;
  }
  return picked as Partial<JobStatus>;
}
