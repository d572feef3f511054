import { DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { CopyObjectCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../local/emulators";
import {
  type BenchStack,
  promptSha,
  type SubmittedJob,
  startBenchStack,
  submitApiJob,
  submitSqsBatch,
  waitForExecutions,
} from "./bench-stack";
import { type JobMetrics, jobMetrics } from "./job-metrics";
import { median, type Spread, spread } from "./stats";

export interface OverheadSettings {
  /** Jobs run one after another through the API (the per-job figures). */
  sequentialJobs: number;
  /** Jobs run one after another through SQS (the poller's pickup included). */
  sequentialSqsJobs: number;
  /** Jobs sent at once, half API and half SQS (the jobs/s figure). */
  concurrentJobs: number;
  /** Jobs run first and not measured: module caches, JIT, connection pools. */
  warmupJobs: number;
}

export interface OverheadResult {
  settings: OverheadSettings & { width: number; height: number };
  sequential: {
    metrics: JobMetrics;
    /** Client submit to execution end, minus the stand-in's own time drawing the image: the pipeline's share. */
    overheadMs: Spread;
    standInMs: Spread;
    apiAnswerMs: Spread;
  };
  sequentialSqs: { metrics: JobMetrics };
  concurrent: { metrics: JobMetrics; makespanMs: number; jobsPerSecond: number };
  /** The emulators alone, called directly the way a job calls them (medians, ms): what a job spends in them. */
  emulatorMs: { put: number; copy: number; delete: number; update: number; perJob: number };
}

// The smallest image Nova Canvas accepts, so drawing the placeholder takes as little of the machine as it can.
const SIZE = { width: 320, height: 320 };

/**
 * Orchestration overhead: the stand-in answers at once (latency 0, no quota), so the time a job takes is the local
 * pipeline's own: API and start-job, the Step Functions endpoint and runner, the handlers, S3 and DynamoDB emulators.
 */
export async function runOverhead(settings: OverheadSettings): Promise<OverheadResult> {
  const bench = await startBenchStack({ retryTimeScale: 1, countRequests: false, bedrock: { latencyMs: 0 } });
  try {
    await runSequentialApi(bench, "warmup", settings.warmupJobs);
    const sequential = await runSequentialApi(bench, "sequential", settings.sequentialJobs);
    const sequentialSqs = await runSequentialSqs(bench, settings.sequentialSqsJobs);
    const concurrent = await runConcurrent(bench, settings.concurrentJobs);
    const emulatorMs = await timeEmulators(bench, sequential.pngBytes);
    return { settings: { ...settings, ...SIZE }, sequential, sequentialSqs, concurrent, emulatorMs };
  } finally {
    await bench.close();
  }
}

async function runSequentialApi(bench: BenchStack, phase: string, count: number) {
  const jobs: SubmittedJob[] = [];
  const overhead: number[] = [];
  const standIn: number[] = [];
  for (let index = 0; index < count; index++) {
    const job = await submitApiJob(bench.stack.apiUrl, `${phase}-${index}`, {
      prompt: `${phase} job ${index}: a lighthouse on a cliff at dawn`,
      ...SIZE,
    });
    jobs.push(job);
    const { records } = await waitForExecutions(bench.stack, [job.jobId], 30_000, 5);
    const stop = records[0]?.stopDate?.getTime();
    const drawMs = bench.standInMs.get(promptSha(job.prompt))?.[0];
    if (stop !== undefined && drawMs !== undefined) {
      overhead.push(stop - job.submittedAt - drawMs);
      standIn.push(drawMs);
    }
  }
  const { records } = await waitForExecutions(
    bench.stack,
    jobs.map((job) => job.jobId),
    30_000,
  );
  const metrics = jobMetrics(jobs, records);
  return {
    metrics,
    overheadMs: spread(overhead),
    standInMs: spread(standIn),
    apiAnswerMs: spread(jobs.map((job) => job.answerMs ?? Number.NaN)),
    pngBytes: metrics.imageBytes,
  };
}

async function runSequentialSqs(bench: BenchStack, count: number) {
  const jobs: SubmittedJob[] = [];
  for (let index = 0; index < count; index++) {
    const prompt = `sequential SQS job ${index}: a red fox in fresh snow`;
    const submittedAt = Date.now();
    const sent = await bench.sqs.send(
      new SendMessageCommand({ QueueUrl: bench.stack.queueUrl, MessageBody: JSON.stringify({ prompt, ...SIZE }) }),
    );
    const job: SubmittedJob = { jobId: sent.MessageId ?? "", source: "sqs", prompt, submittedAt, accepted: true };
    jobs.push(job);
    await waitForExecutions(bench.stack, [job.jobId], 30_000, 5);
  }
  const { records } = await waitForExecutions(
    bench.stack,
    jobs.map((job) => job.jobId),
    30_000,
  );
  return { metrics: jobMetrics(jobs, records) };
}

async function runConcurrent(bench: BenchStack, count: number) {
  const startedAt = Date.now();
  const apiCount = Math.floor(count / 2);
  const api = Array.from({ length: apiCount }, (_, index) =>
    submitApiJob(bench.stack.apiUrl, `concurrent-${index}`, {
      prompt: `concurrent job ${index}: a lighthouse on a cliff at dawn`,
      ...SIZE,
    }),
  );
  const messages = Array.from({ length: count - apiCount }, (_, index) => {
    const prompt = `concurrent SQS job ${index}: a red fox in fresh snow`;
    return { prompt, body: JSON.stringify({ prompt, ...SIZE }) };
  });
  const batches = Array.from({ length: Math.ceil(messages.length / 10) }, (_, batch) =>
    submitSqsBatch(bench.sqs, bench.stack.queueUrl, messages.slice(batch * 10, batch * 10 + 10)),
  );
  const jobs = [...(await Promise.all(api)), ...(await Promise.all(batches)).flat()];
  const { records } = await waitForExecutions(
    bench.stack,
    jobs.map((job) => job.jobId),
    120_000,
  );
  const makespanMs = Math.max(...records.map((record) => record.stopDate?.getTime() ?? Number.NaN)) - startedAt;
  return { metrics: jobMetrics(jobs, records), makespanMs, jobsPerSecond: (records.length / makespanMs) * 1000 };
}

/**
 * Times the S3 and DynamoDB emulators on their own, with the requests a job makes (staging PUT of a PNG of the
 * jobs' size, COPY to the final key, DELETE, and a status UpdateItem), so the report can say how much of a job's
 * local time is emulator work. 10 unmeasured rounds, then the median of 50.
 */
async function timeEmulators(bench: BenchStack, pngBytes: number) {
  const clientConfig = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const s3 = new S3Client({
    ...clientConfig,
    endpoint: bench.stack.s3Url,
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
  const dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: bench.stack.dynamodbUrl });
  const body = Buffer.alloc(Number.isFinite(pngBytes) ? Math.round(pngBytes) : 10_000, 1);
  const samples = { put: [] as number[], copy: [] as number[], delete: [] as number[], update: [] as number[] };
  const timed = async (into: number[], round: number, call: () => Promise<unknown>) => {
    const started = performance.now();
    await call();
    if (round >= 10) into.push(performance.now() - started);
  };
  const { bucket, keyPrefix, tableName } = bench.stack;
  for (let round = 0; round < 60; round++) {
    const staged = `${keyPrefix}/staging/emulator-timing-${round}.png`;
    await timed(samples.put, round, () =>
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: staged, Body: body, ContentType: "image/png" })),
    );
    await timed(samples.copy, round, () =>
      s3.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: `${keyPrefix}/emulator-timing/${round}.png`,
          CopySource: `${bucket}/${staged}`,
        }),
      ),
    );
    await timed(samples.delete, round, () => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: staged })));
    await timed(samples.update, round, () =>
      dynamodb.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: { jobId: { S: `emulator-timing-${round}` } },
          UpdateExpression: "SET #status = :status",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: { ":status": { S: "RUNNING" } },
        }),
      ),
    );
  }
  s3.destroy();
  dynamodb.destroy();
  const put = median(samples.put);
  const copy = median(samples.copy);
  const remove = median(samples.delete);
  const update = median(samples.update);
  return { put, copy, delete: remove, update, perJob: put + copy + remove + 2 * update };
}
