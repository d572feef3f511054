import type { JobStatus } from "../functions/job-status/job-status";
import { DEFAULT_MODEL_ID, MODEL_CATALOG } from "../functions/shared/models/catalog";
import { JobsApi } from "./api-client";
import {
  type Environment,
  type GlobalOptions,
  resolveApiSettings,
  resolveBedrockSettings,
  resolveQueueSettings,
} from "./config";
import { downloadImage, extensionDisagrees, imageExtension, type SavedImage } from "./download-image";
import { ExitCode, type ExitCodeValue } from "./exit-codes";
import { buildImageRequest, type ImageRequestOptions } from "./image-request";
import {
  bedrockError,
  checkModelLifecycle,
  createBedrockClient,
  type ModelLifecycleReport,
  type ModelReport,
} from "./model-lifecycle";
import { formatColumns, formatElapsed, type Output } from "./output";
import { enqueueImageRequest } from "./queue";
import { stateDetail, waitForJob } from "./wait-for-job";

export interface CommandContext {
  options: GlobalOptions;
  env: Environment;
  output: Output;
  /** The clock lifecycle dates are compared with. */
  now: () => Date;
}

export interface WaitFlags {
  wait?: boolean;
  out?: string;
  /** Seconds. */
  timeout: number;
  /** Seconds between status requests. */
  interval: number;
}

export async function enqueueCommand(
  prompt: string,
  flags: ImageRequestOptions & WaitFlags,
  context: CommandContext,
): Promise<ExitCodeValue> {
  const waiting = Boolean(flags.wait || flags.out);
  const queue = resolveQueueSettings(context.options, context.env);
  // Checked before sending: a missing API URL must not leave a message behind that nobody follows.
  const api = waiting ? new JobsApi(resolveApiSettings(context.options, context.env)) : undefined;
  const message = await enqueueImageRequest(queue, buildImageRequest(prompt, flags));
  if (!api) {
    context.output.result(
      message,
      table([
        ["messageId", message.messageId],
        ["jobId", message.jobId],
      ]),
    );
    context.output.note(`Follow it: ${followUp(context, "wait", message.jobId)}`);
    return ExitCode.Ok;
  }
  context.output.note(`Enqueued message ${message.messageId} (jobId ${message.jobId})`);
  // The message is on the queue, so the job will appear: it may stay unknown for the whole wait.
  const followed = await followJob(api, message.jobId, flags, context, flags.timeout * 1000);
  context.output.result({ ...message, job: followed.job, ...savedField(followed.saved) }, followed.lines);
  return followed.exitCode;
}

export async function generateCommand(
  prompt: string,
  flags: ImageRequestOptions & WaitFlags & { idempotencyKey?: string },
  context: CommandContext,
): Promise<ExitCodeValue> {
  const api = new JobsApi(resolveApiSettings(context.options, context.env));
  const submitted = await api.generate(buildImageRequest(prompt, flags), flags.idempotencyKey);
  const replayNote = submitted.replayed ? " (already started by an earlier request with this Idempotency-Key)" : "";
  if (!flags.wait && !flags.out) {
    context.output.result(
      submitted,
      table([
        ["jobId", submitted.jobId],
        ["executionArn", submitted.executionArn],
        ["statusUrl", submitted.statusUrl],
      ]),
    );
    context.output.note(`Follow it${replayNote}: ${followUp(context, "wait", submitted.jobId)}`);
    return ExitCode.Ok;
  }
  context.output.note(`Started job ${submitted.jobId}${replayNote}`);
  // The API answers 202 after StartExecution, so the job is known at once.
  const followed = await followJob(api, submitted.jobId, flags, context, 0);
  context.output.result({ ...submitted, job: followed.job, ...savedField(followed.saved) }, followed.lines);
  return followed.exitCode;
}

export async function statusCommand(jobId: string, context: CommandContext): Promise<ExitCodeValue> {
  const api = new JobsApi(resolveApiSettings(context.options, context.env));
  const job = await api.status(jobId);
  context.output.result(
    job,
    table([
      ["jobId", job.jobId],
      ["status", [job.status, stateDetail(job)].filter(Boolean).join(" ")],
      ["prompt", job.prompt],
      ["source", job.source],
      ["modelId", job.modelId],
      ["seed", job.seed?.toString()],
      ["s3Uri", job.s3Uri],
      ["imageUrl", job.imageUrl],
      ["imageUrlExpiresAt", job.imageUrlExpiresAt],
      ["error", job.error],
      ["cause", job.cause],
      ["executionArn", job.executionArn],
      ["createdAt", job.createdAt],
      ["updatedAt", job.updatedAt],
      ["waitingSince", job.waitingSince],
      ["waitedSeconds", job.waitedSeconds?.toString()],
      ["bedrockCalls", job.bedrockCalls?.toString()],
    ]),
  );
  return ExitCode.Ok;
}

export async function waitCommand(
  jobId: string,
  flags: WaitFlags & { startTimeout: number },
  context: CommandContext,
): Promise<ExitCodeValue> {
  const api = new JobsApi(resolveApiSettings(context.options, context.env));
  const followed = await followJob(api, jobId, flags, context, flags.startTimeout * 1000);
  context.output.result({ ...followed.job, ...savedField(followed.saved) }, followed.lines);
  return followed.exitCode;
}

export interface ModelsFlags {
  /** Repeatable. */
  model?: string[];
  all?: boolean;
  region?: string;
  check?: boolean;
}

/**
 * Bedrock's word on each model in the pipeline's region: lifecycle, end-of-life date, whether this caller may invoke
 * it. With --check, exits ModelUnusable when one is past its end of life, not found or unknown to couchgen.
 */
export async function modelsCommand(flags: ModelsFlags, context: CommandContext): Promise<ExitCodeValue> {
  const settings = resolveBedrockSettings(context.options, flags, context.env);
  const ids = flags.all
    ? MODEL_CATALOG.map((model) => model.id)
    : flags.model?.length
      ? flags.model
      : [DEFAULT_MODEL_ID];
  const bedrock = createBedrockClient(settings);
  let report: ModelLifecycleReport;
  try {
    report = await checkModelLifecycle(bedrock, ids, { region: settings.region, now: context.now() });
  } catch (error) {
    throw bedrockError(error, settings);
  } finally {
    bedrock.destroy();
  }
  const unusable = report.models.filter((model) => model.verdict === "unusable");
  context.output.result({ ...report, usable: unusable.length === 0 }, modelTable(report));
  for (const model of report.models) {
    for (const note of model.notes)
      context.output.note(`${model.verdict === "unusable" ? "not usable" : "warning"}: ${note}`);
  }
  if (!flags.check || unusable.length === 0) return ExitCode.Ok;
  context.output.note(
    `couchgen: ${unusable.length} of ${report.models.length} model(s) not usable in ${report.region}: ${unusable.map((model) => model.id).join(", ")}`,
  );
  return ExitCode.ModelUnusable;
}

function modelTable(report: ModelLifecycleReport): string[] {
  const header = ["MODEL", "NAME", "STATUS", "LEGACY SINCE", "END OF LIFE", "INVOCABLE", "REPLACEMENT"];
  const rows = report.models.map((model) => [
    model.id,
    model.name ?? "-",
    model.status,
    model.legacySince ?? "-",
    model.endOfLife ?? "-",
    invocableCell(model),
    model.replacement ?? "-",
  ]);
  return [`Bedrock in ${report.region}:`, ...formatColumns([header, ...rows])];
}

function invocableCell(model: ModelReport): string {
  if (model.invocable === undefined) return "-";
  return model.invocable ? "yes" : `no (${model.notInvocableBecause?.join(", ")})`;
}

interface FollowedJob {
  job: JobStatus;
  saved?: SavedImage;
  /** What people see on stdout: the image's S3 URI when it succeeded. */
  lines: string[];
  exitCode: ExitCodeValue;
}

/** Waits with progress on stderr, downloads with --out, and maps the final state to the exit code. */
async function followJob(
  api: JobsApi,
  jobId: string,
  flags: WaitFlags,
  context: CommandContext,
  startTimeoutMs: number,
): Promise<FollowedJob> {
  const { output } = context;
  const progress = output.progress(`job ${jobId}`);
  const started = performance.now();
  const interrupt = new AbortController();
  const onInterrupt = () => interrupt.abort();
  process.once("SIGINT", onInterrupt);
  let job: JobStatus;
  try {
    job = await waitForJob(api, jobId, {
      timeoutMs: flags.timeout * 1000,
      intervalMs: flags.interval * 1000,
      startTimeoutMs,
      onState: (state, detail) => progress.update(state, detail),
      signal: interrupt.signal,
      resumeCommand: followUp(context, "wait", jobId),
    });
  } catch (error) {
    progress.stop();
    throw error;
  } finally {
    process.off("SIGINT", onInterrupt);
  }
  const elapsed = formatElapsed(performance.now() - started);
  if (job.status !== "SUCCEEDED") {
    progress.fail(`${job.status} after ${elapsed}`);
    output.note(
      `couchgen: job ${jobId} ${job.status}: ${[job.error, job.cause].filter(Boolean).join(": ") || "no cause recorded"}`,
    );
    return { job, lines: [], exitCode: job.status === "REJECTED" ? ExitCode.JobRejected : ExitCode.JobFailed };
  }
  progress.succeed(`SUCCEEDED in ${elapsed}`);
  let saved: SavedImage | undefined;
  if (flags.out) {
    if (!job.imageUrl) throw new Error(`Job ${jobId} SUCCEEDED but the API gave no imageUrl to download`);
    const extension = imageExtension(job.s3Uri);
    saved = await downloadImage(job.imageUrl, flags.out, jobId, extension);
    output.note(`Saved ${saved.path} (${saved.bytes} bytes)`);
    if (extensionDisagrees(saved.path, extension)) {
      output.note(
        `Note: the image is ${extension === ".jpg" ? "a JPEG" : "a PNG"}, whatever ${saved.path}'s name says`,
      );
    }
  }
  return { job, ...(saved ? { saved } : {}), lines: [job.s3Uri ?? ""], exitCode: ExitCode.Ok };
}

function savedField(saved: SavedImage | undefined): { file?: SavedImage } {
  return saved ? { file: saved } : {};
}

/** The command to run next, with --local kept so it can be pasted as it is. */
function followUp(context: CommandContext, command: string, jobId: string): string {
  return `couchgen${context.options.local ? " --local" : ""} ${command} ${jobId}`;
}

/** "name  value" lines, aligned, leaving out what is not set. */
function table(rows: [string, string | undefined][]): string[] {
  const present = rows.filter((row): row is [string, string] => row[1] !== undefined && row[1] !== "");
  const width = Math.max(...present.map(([name]) => name.length));
  return present.map(([name, value]) => `${name.padEnd(width)}  ${value}`);
}
