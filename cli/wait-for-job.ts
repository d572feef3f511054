import { setTimeout as sleep } from "node:timers/promises";
import type { JobStatus } from "../functions/job-status/job-status";
import type { JobsApi } from "./api-client";
import { CliError, ExitCode } from "./exit-codes";
import { formatElapsed } from "./output";

export interface WaitOptions {
  /** Give up (ExitCode.TimedOut) when the job has not ended after this long. */
  timeoutMs: number;
  /** The longest time between two status requests (they start at FIRST_INTERVAL_MS and double up to it). */
  intervalMs: number;
  /**
   * How long the job may stay unknown to the API (404) before that is final: an enqueued message becomes a job only
   * when the queue's consumer takes it.
   */
  startTimeoutMs: number;
  /**
   * Each state seen before the final one, and "not started yet" while the job is unknown; `detail` is what changes
   * while the state stays (how long a WAITING job has waited).
   */
  onState: (state: string, detail?: string) => void;
  /** Ctrl-C: stop waiting at once (ExitCode.Interrupted). */
  signal?: AbortSignal;
  /** What to run to wait again, named in the timeout and interruption messages. @default couchgen wait <jobId> */
  resumeCommand?: string;
}

export const TERMINAL_STATES: ReadonlySet<string> = new Set(["SUCCEEDED", "FAILED", "REJECTED"]);

/** Status requests that may fail in a row (API unreachable or 5xx) before the wait gives up. */
const MAX_CONSECUTIVE_FAILURES = 5;
/** Short jobs (the local stack, a cached answer) end within a second: the first polls come quickly. */
const FIRST_INTERVAL_MS = 250;

/** Polls GET /jobs/{jobId} until the job ends, the timeout passes or the signal aborts; resolves the final status. */
export async function waitForJob(api: JobsApi, jobId: string, options: WaitOptions): Promise<JobStatus> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const resume = options.resumeCommand ?? `couchgen wait ${jobId}`;
  let failures = 0;
  let lastState: string | undefined;
  for (let poll = 0; ; poll++) {
    try {
      const job = await api.status(jobId, options.signal);
      failures = 0;
      lastState = job.status;
      if (TERMINAL_STATES.has(job.status)) return job;
      options.onState(job.status, stateDetail(job));
    } catch (error) {
      if (options.signal?.aborted) throw interrupted(jobId, lastState, resume);
      if (!(error instanceof CliError)) throw error;
      if (error.exitCode === ExitCode.NotFound) {
        if (elapsed() >= options.startTimeoutMs) throw notStarted(error, options.startTimeoutMs);
        options.onState("not started yet: waiting for the queue's consumer");
      } else if (error.exitCode === ExitCode.Unavailable && ++failures < MAX_CONSECUTIVE_FAILURES) {
        options.onState(`${lastState ?? "unknown"}: status request failed ${failures}×, retrying`);
      } else {
        throw error;
      }
    }
    const remaining = options.timeoutMs - elapsed();
    if (remaining <= 0) {
      throw new CliError(
        `Job ${jobId} is still ${lastState ?? "not started"} after ${Math.round(options.timeoutMs / 1000)} s; it goes on: ${resume}`,
        ExitCode.TimedOut,
        { jobId, lastState: lastState ?? null },
      );
    }
    try {
      const interval = Math.min(options.intervalMs, FIRST_INTERVAL_MS * 2 ** poll);
      await sleep(Math.min(interval, remaining), undefined, { signal: options.signal });
    } catch {
      throw interrupted(jobId, lastState, resume);
    }
  }
}

/** What the state means for a job still in progress, e.g. "for a Bedrock slot (waited 12.0 s)" for WAITING. */
export function stateDetail(job: JobStatus): string | undefined {
  if (job.status !== "WAITING") return undefined;
  return job.waitedSeconds === undefined
    ? "for a Bedrock slot"
    : `for a Bedrock slot (waited ${formatElapsed(job.waitedSeconds * 1000)})`;
}

function notStarted(error: CliError, startTimeoutMs: number): CliError {
  if (startTimeoutMs <= 0) return error;
  return new CliError(
    `${error.message}\nStill unknown after ${Math.round(startTimeoutMs / 1000)} s. An enqueued message becomes a job when the queue's consumer takes it: check the queue and its dead-letter queue.`,
    ExitCode.NotFound,
    error.details,
  );
}

function interrupted(jobId: string, lastState: string | undefined, resume: string): CliError {
  return new CliError(`Stopped waiting; job ${jobId} goes on: ${resume}`, ExitCode.Interrupted, {
    jobId,
    lastState: lastState ?? null,
  });
}
