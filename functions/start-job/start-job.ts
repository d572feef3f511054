import { DescribeExecutionCommand, type SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { REQUEST_FIELDS } from "../shared/image-request";
import { ANONYMOUS_CALLER } from "../shared/job-caller";
import { executionArnFor } from "../shared/job-id";
import { NamedError } from "../shared/named-error";
import { PIPELINE_KEY, type PipelineFacts, pipelineFactsOf } from "../shared/pipeline-facts";

/**
 * The execution input (docs/ARCHITECTURE.md): the request fields as the caller sent them (ValidatePrompt is the
 * authority on their values), where and when the job came in, and under `pipeline` what only the pipeline may say
 * (who started it; why an SQS body could not be read). Fields the caller did not send are left out.
 */
export interface JobInput {
  jobId: string;
  prompt: unknown;
  negativePrompt?: unknown;
  seed?: unknown;
  aspectRatio?: unknown;
  width?: unknown;
  height?: unknown;
  outputFormat?: unknown;
  quality?: unknown;
  model?: unknown;
  source: "api" | "sqs";
  requestedAt: string;
  [PIPELINE_KEY]: PipelineFacts;
}

export interface StartJobDeps {
  sfn: SFNClient;
  stateMachineArn: string;
  now?: () => Date;
}

export interface StartedJob {
  jobId: string;
  executionArn: string;
  /** True when an execution with this jobId already existed for the same request (an idempotent replay). */
  replayed: boolean;
}

/** The jobId is already taken by an execution whose request differs. */
export class JobConflictError extends NamedError {
  constructor(jobId: string) {
    super(
      "JobConflict",
      `Job "${jobId}" already exists with a different request; use a new Idempotency-Key for a new request`,
    );
  }
}

/**
 * Builds the execution input: the request fields the contract knows, copied by name from the caller's fields, and
 * the pipeline's facts from the adapter, never from `fields`.
 */
export function buildJobInput(
  jobId: string,
  fields: Record<string, unknown>,
  source: JobInput["source"],
  now: Date,
  pipeline: PipelineFacts,
): JobInput {
  const input: JobInput = {
    jobId,
    prompt: fields.prompt,
    source,
    requestedAt: now.toISOString(),
    [PIPELINE_KEY]: pipeline,
  };
  for (const field of REQUEST_FIELDS) {
    if (field !== "prompt" && fields[field] != null) {
      (input as unknown as Record<string, unknown>)[field] = fields[field];
    }
  }
  return input;
}

/**
 * Starts one execution named after the jobId. Standard executions are idempotent by name: when the name is taken,
 * the existing execution is the job if it was started for the same request, and a conflict otherwise.
 */
export async function startJob(
  jobId: string,
  fields: Record<string, unknown>,
  source: JobInput["source"],
  deps: StartJobDeps,
  pipeline: PipelineFacts,
): Promise<StartedJob> {
  const input = buildJobInput(jobId, fields, source, deps.now?.() ?? new Date(), pipeline);
  try {
    const started = await deps.sfn.send(
      new StartExecutionCommand({ stateMachineArn: deps.stateMachineArn, name: jobId, input: JSON.stringify(input) }),
    );
    return {
      jobId,
      executionArn: started.executionArn ?? executionArnFor(deps.stateMachineArn, jobId),
      replayed: false,
    };
  } catch (error) {
    // By name, not instanceof: the error may come from another copy of the SDK (a bundle, the local stack).
    if (!(error instanceof Error && error.name === "ExecutionAlreadyExists")) throw error;
    const executionArn = executionArnFor(deps.stateMachineArn, jobId);
    const existing = await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (!sameRequest(parseInput(existing.input), input)) throw new JobConflictError(jobId);
    return { jobId, executionArn, replayed: true };
  }
}

function parseInput(text: string | undefined): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text ?? "{}");
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The same caller sending the same request fields from the same entry path. */
function sameRequest(existing: Record<string, unknown>, next: JobInput): boolean {
  const nextFields = next as unknown as Record<string, unknown>;
  return (
    existing.source === next.source &&
    // An execution that names no caller (started before callers were recorded) counts as anonymous, as in job-status.
    (pipelineFactsOf(existing).caller ?? ANONYMOUS_CALLER) === next[PIPELINE_KEY].caller &&
    REQUEST_FIELDS.every((field) => existing[field] === nextFields[field])
  );
}
