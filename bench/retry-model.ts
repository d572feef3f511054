import { seededRandom } from "../local/bedrock-stand-in";
import { median, percentile } from "./stats";

// The design before issue 9, kept as the report's "before": GenerateImage was a Lambda task that the state machine
// retried on Bedrock's ThrottlingException. The waiting room replaced it (bench/waiting-room-model.ts).

/** One ASL retrier, as the file writes it. */
export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  BackoffRate?: number;
  MaxAttempts?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}

export interface ModelSettings {
  jobs: number;
  requestsPerSecond: number;
  latencySeconds: number;
  /** Retrier for the model's refusals (ThrottlingException). */
  throttleRetrier: Retrier;
  /** Lambda reserved concurrency of GenerateImage and the retrier for its refusals; none: unbounded (the local stack). */
  concurrency?: { limit: number; retrier: Retrier };
  /** Jobs wait in a queue for one of this many slots before calling the model (admission control), instead of retrying. */
  admissionSlots?: number;
  runs: number;
}

export interface ModelResult {
  ratio: number;
  /** The 10th and 90th percentile of the ratio over the runs: how much one burst's makespan varies by luck alone. */
  ratioRange: [number, number];
  failedJobs: number;
  /** Mean billed transitions per succeeded job: the 6 of the happy path plus its retries. */
  transitionsPerJob: number;
  p95LatencySeconds: number;
}

const HAPPY_PATH_TRANSITIONS = 6;

/**
 * GenerateImage's retriers for Bedrock's throttling and for its own Lambda throttling, as
 * statemachine/image-pipeline.asl.json had them up to commit 1ee35aa (the ASL no longer has them).
 */
export const BEFORE_RETRIERS: { readonly throttle: Retrier; readonly lambda: Retrier } = {
  throttle: {
    ErrorEquals: [
      "ThrottlingException",
      "ModelTimeoutException",
      "ServiceUnavailableException",
      "ModelNotReadyException",
    ],
    IntervalSeconds: 3,
    BackoffRate: 2,
    MaxAttempts: 8,
    MaxDelaySeconds: 60,
    JitterStrategy: "FULL",
  },
  lambda: {
    ErrorEquals: ["Lambda.TooManyRequestsException"],
    IntervalSeconds: 5,
    BackoffRate: 1.5,
    MaxAttempts: 20,
    MaxDelaySeconds: 60,
    JitterStrategy: "FULL",
  },
};

/** GenerateImage's reserved concurrency by default before issue 9 (`-c generateConcurrency`). */
export const BEFORE_GENERATE_CONCURRENCY = 5;

/**
 * A discrete-event model of GenerateImage under a burst: N jobs arrive at once; the model accepts R requests in any
 * rolling second and takes L each; a refused call waits as the retrier says (FULL jitter: uniform up to the
 * capped backoff) and tries again until its attempts run out. No local overhead at all: what the policy alone costs.
 * Median over `runs` seeded runs.
 */
export function modelBurst(settings: ModelSettings): ModelResult {
  const runs = Array.from({ length: settings.runs }, (_, run) => modelOnce(settings, seededRandom(run + 1)));
  const ratios = runs.map((run) => run.ratio);
  return {
    ratio: median(ratios),
    ratioRange: [percentile(ratios, 10), percentile(ratios, 90)],
    failedJobs: median(runs.map((run) => run.failedJobs)),
    transitionsPerJob: median(runs.map((run) => run.transitionsPerJob)),
    p95LatencySeconds: median(runs.map((run) => run.p95LatencySeconds)),
  };
}

interface Job {
  throttleRetries: number;
  lambdaRetries: number;
  finishedAt?: number;
  failed?: boolean;
}

function modelOnce(settings: ModelSettings, random: () => number): ModelResult {
  const { jobs: count, requestsPerSecond, latencySeconds } = settings;
  const jobs: Job[] = Array.from({ length: count }, () => ({ throttleRetries: 0, lambdaRetries: 0 }));
  // Pending attempts as [time, job index], kept sorted by time (binary insertion).
  const queue: [number, number][] = jobs.map((_, index) => [0, index]);
  const accepted: number[] = [];
  const running: number[] = [];
  const waiting: number[] = [];
  const schedule = (time: number, index: number) => {
    let low = 0;
    let high = queue.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((queue[middle]?.[0] ?? 0) <= time) low = middle + 1;
      else high = middle;
    }
    queue.splice(low, 0, [time, index]);
  };
  const slots = settings.admissionSlots;
  if (slots !== undefined) {
    queue.length = 0;
    for (let index = 0; index < count; index++) {
      if (index < slots) schedule(0, index);
      else waiting.push(index);
    }
  }
  while (queue.length > 0) {
    const [now, index] = queue.shift() as [number, number];
    const job = jobs[index] as Job;
    while (running.length > 0 && (running[0] ?? 0) <= now) running.shift();
    if (settings.concurrency && running.length >= settings.concurrency.limit) {
      retryOrFail(job, "lambdaRetries", settings.concurrency.retrier, now, index);
      continue;
    }
    while (accepted.length > 0 && (accepted[0] ?? 0) <= now - 1) accepted.shift();
    if (accepted.length >= requestsPerSecond) {
      retryOrFail(job, "throttleRetries", settings.throttleRetrier, now, index);
      continue;
    }
    accepted.push(now);
    const done = now + latencySeconds;
    running.push(done);
    running.sort((a, b) => a - b);
    job.finishedAt = done;
    const next = waiting.shift();
    if (next !== undefined) schedule(done, next);
  }

  function retryOrFail(
    job: Job,
    counter: "throttleRetries" | "lambdaRetries",
    retrier: Retrier,
    now: number,
    index: number,
  ) {
    const attempt = job[counter];
    if (attempt >= (retrier.MaxAttempts ?? 3)) {
      job.failed = true;
      const next = waiting.shift();
      if (next !== undefined) schedule(now, next);
      return;
    }
    job[counter]++;
    const backoff = Math.min(
      (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** attempt,
      retrier.MaxDelaySeconds ?? Number.POSITIVE_INFINITY,
    );
    schedule(now + (retrier.JitterStrategy === "FULL" ? random() * backoff : backoff), index);
  }

  const finished = jobs.filter((job) => !job.failed && job.finishedAt !== undefined);
  const latencies = finished.map((job) => job.finishedAt ?? 0).sort((a, b) => a - b);
  const makespan = latencies.at(-1) ?? 0;
  return {
    ratio: makespan / (count / requestsPerSecond),
    ratioRange: [0, 0],
    failedJobs: count - finished.length,
    transitionsPerJob:
      finished.reduce((sum, job) => sum + HAPPY_PATH_TRANSITIONS + job.throttleRetries + job.lambdaRetries, 0) /
      Math.max(1, finished.length),
    p95LatencySeconds: latencies[Math.max(0, Math.ceil(0.95 * latencies.length) - 1)] ?? 0,
  };
}
