import { monitorEventLoopDelay } from "node:perf_hooks";
import {
  type BenchStack,
  listImageKeys,
  queueDepth,
  redeliver,
  type SubmittedJob,
  snapshotAndReset,
  startBenchStack,
  submitApiJob,
  submitSqsBatch,
  waitForExecutions,
} from "./bench-stack";
import { type JobMetrics, jobMetrics, perJob } from "./job-metrics";
import { type Spread, spread } from "./stats";

export interface BurstSettings {
  /** Jobs in the burst, half through the API and half through SQS. */
  jobs: number;
  /** The stand-in's quota, requests per second (before time scaling). */
  requestsPerSecond: number;
  /** The stand-in's latency per image, ms (before time scaling). */
  latencyMs: number;
  /**
   * Multiplies every duration of the scenario alike: retry intervals and caps, the stand-in's latency, and the
   * length of its quota window (by dividing the quota rate). 1 runs in real time.
   */
  timeScale: number;
  /** Share of SQS messages delivered twice, and of API requests sent twice with the same Idempotency-Key. */
  duplicateShare: number;
  /** Jobs in the clean phase that precedes the burst (no quota): the no-retry baseline of the cost model. */
  cleanJobs: number;
  /** C: generators at once, the waiting room's `bedrockConcurrency`; sized from the quota as ceil(R×L). */
  bedrockConcurrency: number;
  /**
   * Share of the burst's Bedrock calls the stand-in refuses at random on top of the quota (its `throttleRate`): the
   * quota shared with another workload. The clean phase never has it. @default 0
   */
  throttleRate?: number;
}

export interface PhaseResult {
  metrics: JobMetrics;
  /** Requests the pipeline made to S3, DynamoDB and Step Functions, per succeeded job, by operation. */
  requestsPerJob: Record<string, number>;
  /** How long POST /generate-image took to answer (the start-job API function and the local gateway), ms. */
  apiAnswerMs: Spread;
}

export interface BurstResult {
  settings: BurstSettings;
  clean: PhaseResult & { jobStatusMs: Spread };
  burst: PhaseResult & {
    makespanMs: number;
    /** N/R: the fastest the quota allows, ms (scaled). */
    idealMs: number;
    ratio: number;
    accepted: number;
    notAccepted: number;
    missing: number;
    timedOut: boolean;
    /** Executions beyond one per submitted job. */
    extraExecutions: number;
    images: number;
    /** Succeeded jobs with no image at their key, and images of jobs that did not succeed. */
    succeededWithoutImage: number;
    imagesWithoutSuccess: number;
    /** Images the stand-in drew beyond one per succeeded job: Bedrock calls paid twice. */
    extraModelImages: number;
    stagedLeft: number;
    dlqDepth: number;
    queueDepth: number;
    redeliveries: { sent: number; handlerFailures: number };
    apiRetries: { sent: number; replayed: number; other: number };
    bedrock: { requests: number; images: number; throttled: number; peakConcurrency: number };
    /**
     * The local stack's one process during the burst: CPU per succeeded job, CPU as a share of the makespan (1 = one
     * core busy throughout), and how late its event loop ran timers (every emulator and handler shares that thread).
     */
    host: { cpuMsPerJob: number; cpuShare: number; eventLoopDelayMs: { p50: number; p99: number } };
  };
}

/**
 * Burst under quota: a clean phase (no quota) as the baseline, then N jobs at once against a stand-in that accepts
 * R requests per rolling second and takes L per image; the real retry schedule (time-scaled with everything else).
 */
export async function runBurst(settings: BurstSettings): Promise<BurstResult> {
  const scale = settings.timeScale;
  const bench = await startBenchStack({
    retryTimeScale: scale,
    countRequests: true,
    bedrock: { latencyMs: settings.latencyMs * scale },
    bedrockConcurrency: settings.bedrockConcurrency,
  });
  try {
    const clean = await runCleanPhase(bench, settings.cleanJobs);
    // The quota window is one second of real time: let the clean phase's requests leave it.
    await sleep(1100);
    bench.stack.bedrock.setFaults({
      maxRequestsPerSecond: settings.requestsPerSecond / scale,
      throttleRate: settings.throttleRate ?? 0,
    });
    bench.stack.bedrock.resetStats();
    snapshotAndReset(bench.requests);
    const burst = await runBurstPhase(bench, settings, bench.stack.executions.list().length);
    return { settings, clean, burst };
  } finally {
    await bench.close();
  }
}

/** Jobs per wave in the clean phase: few enough that the machine is not what they wait for. */
const CLEAN_WAVE = 5;

async function runCleanPhase(bench: BenchStack, count: number): Promise<BurstResult["clean"]> {
  // A first wave warms module caches, the JIT and connection pools; it is not measured.
  const warmup = await submitJobs(bench, "warmup", CLEAN_WAVE);
  await waitForExecutions(bench.stack, ids(warmup.jobs), 120_000);
  snapshotAndReset(bench.requests);
  const jobs: SubmittedJob[] = [];
  const apiAnswers: number[] = [];
  for (let wave = 0; wave * CLEAN_WAVE < count; wave++) {
    const submitted = await submitJobs(bench, `clean${wave}`, Math.min(CLEAN_WAVE, count - wave * CLEAN_WAVE));
    await waitForExecutions(bench.stack, ids(submitted.jobs), 120_000);
    jobs.push(...submitted.jobs);
    apiAnswers.push(...submitted.apiAnswers);
  }
  const accepted = jobs.filter((job) => job.accepted);
  const { records } = await waitForExecutions(bench.stack, ids(accepted), 120_000);
  const jobStatus: number[] = [];
  for (const job of accepted) {
    const started = performance.now();
    const response = await fetch(`${bench.stack.apiUrl}/jobs/${job.jobId}`);
    await response.arrayBuffer();
    jobStatus.push(performance.now() - started);
  }
  const metrics = jobMetrics(accepted, records);
  // Status polls are the caller's choice: counted apart (one GET per job here), not in the pipeline's requests.
  const requests = snapshotAndReset(bench.requests);
  delete requests["dynamodb:GetItem"];
  return {
    metrics,
    requestsPerJob: perJob(requests, metrics.succeeded),
    apiAnswerMs: spread(apiAnswers),
    jobStatusMs: spread(jobStatus),
  };
}

async function runBurstPhase(
  bench: BenchStack,
  settings: BurstSettings,
  executionsBefore: number,
): Promise<BurstResult["burst"]> {
  const scale = settings.timeScale;
  const idealMs = (settings.jobs / (settings.requestsPerSecond / scale)) * 1000;
  const every = settings.duplicateShare > 0 ? Math.max(1, Math.round(1 / settings.duplicateShare)) : 0;
  const redeliveries: Promise<number>[] = [];
  const apiRetries: Promise<{ status: number; replayed: boolean }>[] = [];
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const cpuBefore = process.cpuUsage();
  const startedAt = Date.now();
  const { jobs, apiAnswers } = await submitJobs(bench, "burst", settings.jobs, (job, index) => {
    if (every === 0 || index % every !== 0 || !job.accepted) return;
    // Half come back at once (racing the first delivery), half later in the burst (the job running or done).
    const delayMs = (index / every) % 2 === 0 ? 0 : Math.random() * idealMs;
    if (job.source === "sqs") redeliveries.push(sleep(delayMs).then(() => redeliver(bench, job)));
    else
      apiRetries.push(sleep(delayMs).then(() => submitApiJob(bench.stack.apiUrl, job.jobId, { prompt: job.prompt })));
  });
  const accepted = jobs.filter((job) => job.accepted);
  const { records, timedOut } = await waitForExecutions(bench.stack, ids(accepted), Math.max(120_000, 20 * idealMs));
  const redelivered = await Promise.all(redeliveries);
  const retried = await Promise.all(apiRetries);
  const lastStop = Math.max(...records.map((record) => record.stopDate?.getTime() ?? Number.NaN));
  loopDelay.disable();
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const metrics = jobMetrics(accepted, records);
  const { images, staged } = await listImageKeys(bench.stack);
  const bedrock = bench.stack.bedrock.stats;
  const jobIds = new Set(ids(accepted));
  const imageJobs = new Set(
    images
      .map(
        (key) =>
          key
            .split("/")
            .at(-1)
            ?.replace(/\.png$/, "") ?? "",
      )
      .filter((jobId) => jobIds.has(jobId)),
  );
  const succeededIds = new Set(records.filter((record) => record.status === "SUCCEEDED").map((record) => record.name));
  return {
    metrics,
    requestsPerJob: perJob(snapshotAndReset(bench.requests), metrics.succeeded),
    apiAnswerMs: spread(apiAnswers),
    makespanMs: lastStop - startedAt,
    host: {
      cpuMsPerJob: cpuMs / Math.max(1, metrics.succeeded),
      cpuShare: cpuMs / Math.max(1, Date.now() - startedAt),
      eventLoopDelayMs: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6 },
    },
    idealMs,
    ratio: (lastStop - startedAt) / idealMs,
    accepted: accepted.length,
    notAccepted: jobs.length - accepted.length,
    missing: accepted.length - records.length,
    timedOut,
    extraExecutions: bench.stack.executions.list().length - executionsBefore - accepted.length,
    images: imageJobs.size,
    succeededWithoutImage: [...succeededIds].filter((jobId) => !imageJobs.has(jobId)).length,
    imagesWithoutSuccess: [...imageJobs].filter((jobId) => !succeededIds.has(jobId)).length,
    extraModelImages: bedrock.images - metrics.succeeded,
    stagedLeft: staged.length,
    dlqDepth: await queueDepth(bench.sqs, bench.stack.dlqUrl),
    queueDepth: await queueDepth(bench.sqs, bench.stack.queueUrl),
    redeliveries: { sent: redelivered.length, handlerFailures: redelivered.reduce((a, b) => a + b, 0) },
    apiRetries: {
      sent: retried.length,
      replayed: retried.filter((answer) => answer.status === 202 && answer.replayed).length,
      other: retried.filter((answer) => answer.status !== 202).length,
    },
    bedrock: {
      requests: bedrock.requests,
      images: bedrock.images,
      throttled: bedrock.throttled,
      peakConcurrency: bedrock.peakConcurrency,
    },
  };
}

/**
 * Sends `count` jobs at once: half as POST /generate-image (Idempotency-Key `<phase>-api-<i>`), half as SQS messages
 * in batches of 10, alternately JSON and plain-text bodies (both are in use). `onAccepted` sees each job as it lands.
 */
async function submitJobs(
  bench: BenchStack,
  phase: string,
  count: number,
  onAccepted: (job: SubmittedJob, index: number) => void = () => undefined,
): Promise<{ jobs: SubmittedJob[]; apiAnswers: number[] }> {
  const apiCount = Math.floor(count / 2);
  const apiAnswers: number[] = [];
  const api = Array.from({ length: apiCount }, async (_, index) => {
    const job = await submitApiJob(bench.stack.apiUrl, `${phase}-api-${index}`, {
      prompt: `${phase} job ${index} via the API: a lighthouse on a cliff at dawn`,
    });
    apiAnswers.push(job.answerMs ?? Number.NaN);
    onAccepted(job, index);
    return job;
  });
  const messages = Array.from({ length: count - apiCount }, (_, index) => {
    const prompt = `${phase} job ${index} via SQS: a red fox in fresh snow`;
    return { prompt, body: index % 2 === 0 ? JSON.stringify({ prompt }) : prompt };
  });
  const batches = Array.from({ length: Math.ceil(messages.length / 10) }, async (_, batch) => {
    const sent = await submitSqsBatch(bench.sqs, bench.stack.queueUrl, messages.slice(batch * 10, batch * 10 + 10));
    sent.forEach((job, offset) => {
      onAccepted(job, batch * 10 + offset);
    });
    return sent;
  });
  const jobs = [...(await Promise.all(api)), ...(await Promise.all(batches)).flat()];
  return { jobs, apiAnswers };
}

function ids(jobs: readonly SubmittedJob[]): string[] {
  return jobs.map((job) => job.jobId);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
