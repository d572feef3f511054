import type { ExecutionRecord } from "../local/executions";
import type { SubmittedJob } from "./bench-stack";
import { stateDurations, stateTransitions, taskAttempts } from "./history-metrics";
import { mean, type Spread, spread } from "./stats";

/** What a set of finished executions says, for the report and the cost model. */
export interface JobMetrics {
  jobs: number;
  succeeded: number;
  /** Executions that ended in anything but SUCCEEDED, by error name. */
  failures: Record<string, number>;
  /** Client submit to execution end, ms. */
  latencyMs: Spread;
  /** Execution start to end, ms, and its mean rounded up to 100 ms as Express bills it. */
  executionMs: Spread & { meanBilled100Ms: number };
  /** Mean size of an execution's event history as JSON, and its number of events: what execution logging ingests. */
  historyBytes: number;
  historyEvents: number;
  /** Mean size of the PNGs the succeeded jobs stored. */
  imageBytes: number;
  /** Billed transitions per succeeded execution (states entered + retries). */
  transitions: { mean: number; p50: number; p95: number; max: number };
  /** Task attempts that failed and were retried or caught, by error name. */
  failedAttempts: Record<string, number>;
  /** Per state: how long it took from entered to exited, ms. */
  stateMs: Record<string, Spread>;
  /** Per task state: attempts (each a Lambda invocation or a DynamoDB request) and their summed duration, over all
   * executions, divided by the succeeded ones: what one delivered image pays for. */
  taskPerJob: Record<string, { attempts: number; ms: number }>;
}

export function jobMetrics(jobs: readonly SubmittedJob[], records: readonly ExecutionRecord[]): JobMetrics {
  const byName = new Map(records.map((record) => [record.name, record]));
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  const succeeded: ExecutionRecord[] = [];
  for (const job of jobs) {
    const record = byName.get(job.jobId);
    if (!record) continue;
    if (record.stopDate) latencies.push(record.stopDate.getTime() - job.submittedAt);
    if (record.status === "SUCCEEDED") succeeded.push(record);
    else if (record.status !== "RUNNING") {
      const key = `${record.status} ${record.error ?? ""}`.trim();
      failures[key] = (failures[key] ?? 0) + 1;
    }
  }
  const executionMs = succeeded.map((record) => (record.stopDate?.getTime() ?? 0) - record.startDate.getTime());
  const transitions = succeeded.map((record) => {
    const { entered, retries } = stateTransitions(record.history);
    return entered + retries;
  });
  const failedAttempts: Record<string, number> = {};
  const stateSamples: Record<string, number[]> = {};
  const taskTotals: Record<string, { attempts: number; ms: number }> = {};
  // Every attempt is paid for, those of failed executions too: per succeeded job, they are what an image costs.
  for (const record of records) {
    for (const attempt of taskAttempts(record.history)) {
      if (!attempt.succeeded) failedAttempts[attempt.error ?? "?"] = (failedAttempts[attempt.error ?? "?"] ?? 0) + 1;
      const total = taskTotals[attempt.state] ?? { attempts: 0, ms: 0 };
      total.attempts++;
      total.ms += attempt.ms;
      taskTotals[attempt.state] = total;
    }
  }
  for (const record of succeeded) {
    for (const { state, ms } of stateDurations(record.history))
      stateSamples[state] = [...(stateSamples[state] ?? []), ms];
  }
  const perJob = Math.max(1, succeeded.length);
  return {
    jobs: jobs.length,
    succeeded: succeeded.length,
    failures,
    latencyMs: spread(latencies),
    executionMs: {
      ...spread(executionMs),
      meanBilled100Ms: mean(executionMs.map((ms) => Math.ceil(ms / 100) * 100)),
    },
    historyBytes: mean(succeeded.map((record) => JSON.stringify(record.history).length)),
    historyEvents: mean(succeeded.map((record) => record.history.length)),
    imageBytes: mean(succeeded.map(imageBytesOf).filter((bytes) => bytes > 0)),
    transitions: { mean: mean(transitions), ...pick(spread(transitions)) },
    failedAttempts,
    stateMs: Object.fromEntries(Object.entries(stateSamples).map(([state, values]) => [state, spread(values)])),
    taskPerJob: Object.fromEntries(
      Object.entries(taskTotals).map(([state, total]) => [
        state,
        { attempts: total.attempts / perJob, ms: total.ms / perJob },
      ]),
    ),
  };
}

/** The PNG size GenerateImage reported (its result carries the size, not the bytes). */
function imageBytesOf(record: ExecutionRecord): number {
  for (const event of record.history) {
    const details = event.taskSucceededEventDetails as { output?: string } | undefined;
    if (event.type !== "TaskSucceeded" || !details?.output?.includes('"stagingKey"')) continue;
    // The task's own result, as AWS writes it: what the generator gave SendTaskSuccess.
    const output = JSON.parse(details.output) as { bytes?: number };
    return output.bytes ?? 0;
  }
  return 0;
}

function pick(values: Spread): { p50: number; p95: number; max: number } {
  return { p50: values.p50, p95: values.p95, max: values.max };
}

/** Requests per job from counts over a phase. */
export function perJob(counts: Record<string, number>, jobs: number): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([key, count]) => [key, count / Math.max(1, jobs)]));
}
