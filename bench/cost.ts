import type { PhaseResult } from "./burst";
import type { DeployedShape } from "./deployed-shape";
import { DEFAULT_MODEL_ID, MODEL_PRICES, type ModelPrice, modelPrice, PRICES } from "./prices";
import type { Spread } from "./stats";

/** One cost line, USD per 1,000 delivered images, for the clean run and the run with retries. */
export interface CostLine {
  item: string;
  basis: string;
  clean: number;
  withRetries: number;
}

/** The Bedrock price of 1,000 images for one model, and what everything beyond Bedrock adds to it, as a share. */
export interface ModelCost {
  modelId: string;
  variant?: string;
  name: string;
  lifecycle: string;
  region: string;
  /** False where the price is not from an AWS source (bench/prices.ts MODEL_PRICES). */
  confirmed: boolean;
  source: string;
  bedrockPer1000: number;
  /** totals / bedrockPer1000: the beyond-Bedrock cost is the same for every model, the share is not. */
  share: { standard: { clean: number; withRetries: number }; express: { clean: number; withRetries: number } };
}

export interface CostResult {
  /** Everything but the orchestration itself: the same under Standard and Express. */
  shared: CostLine[];
  standard: CostLine;
  express: CostLine;
  totals: { standard: CostLine; express: CostLine };
  /** The model the headline figures use (DEFAULT_MODEL_ID). */
  defaultModelId: string;
  /** The default model's Bedrock price for 1,000 images. */
  bedrockPer1000: number;
  /** Every model in MODEL_PRICES, the default first. */
  perModel: ModelCost[];
  assumptions: string[];
}

// Assumptions shared with docs/ARCHITECTURE.md §2.1 (its ids in brackets); everything else here is measured.
/** GET /jobs/{jobId} calls per job, and downloads of each image through its presigned URL [A3]. */
export const STATUS_POLLS_PER_JOB = 5;
const DOWNLOADS_PER_IMAGE = 1;
/** CloudWatch Logs: the envelope each execution-log event adds to its payload; Lambda platform lines and API access log lines per job [A8]. */
const LOG_EVENT_ENVELOPE_BYTES = 300;
const LAMBDA_LOG_BYTES_PER_JOB = 5_000;
const ACCESS_LOG_BYTES_PER_JOB = 4_000;
/** X-Ray traces recorded per job: every request traced at this volume (POST, the polls, the execution) [A9]. */
const TRACES_PER_JOB = 1 + STATUS_POLLS_PER_JOB + 1;
/** One write unit per status update, one read unit per consistent GetItem (items under 1 KB) [A6]. */
const WRITE_UNITS_PER_UPDATE = 1;
/** Express bills the execution's memory in 64 MB chunks; this pipeline's payloads keep it in the first chunk. */
const EXPRESS_MEMORY_GB = 64 / 1024;

interface RunFigures {
  transitions: number;
  lambdaInvocations: number;
  lambdaGbSeconds: number;
  dynamodbWrites: number;
  s3Puts: number;
  s3Gets: number;
  imageBytes: number;
  logBytes: number;
  expressBilledSeconds: number;
}

/**
 * Cost per 1,000 images beyond Bedrock, for a job sent through the API whose caller polls its status: every figure
 * measured in the local runs (transitions and task attempts from the event histories, requests counted at the
 * emulators, durations measured) except those named in `assumptions`; priced with PRICES.
 */
export function costPer1000Images(
  clean: PhaseResult & { jobStatusMs: Spread },
  withRetries: PhaseResult,
  shape: DeployedShape,
): CostResult {
  const memoryGb = (name: string) => (shape.functions.find((fn) => fn.name === name)?.memoryMb ?? 0) / 1024;
  const figures = (phase: PhaseResult): RunFigures => {
    let lambdaInvocations = 1 + STATUS_POLLS_PER_JOB;
    // start-job measured on the clean run: the burst's POSTs queue behind 300 executions starting on one machine.
    let lambdaGbSeconds =
      (clean.apiAnswerMs.p50 / 1000) * memoryGb("start-job (API)") +
      STATUS_POLLS_PER_JOB * (clean.jobStatusMs.p50 / 1000) * memoryGb("job-status");
    for (const [state, fn] of Object.entries(shape.taskFunctions)) {
      const task = phase.metrics.taskPerJob[state];
      if (!task) continue;
      lambdaInvocations += task.attempts;
      lambdaGbSeconds += (task.ms / 1000) * memoryGb(fn);
    }
    const requests = phase.requestsPerJob;
    return {
      transitions: phase.metrics.transitions.mean,
      lambdaInvocations,
      lambdaGbSeconds,
      dynamodbWrites: (requests["dynamodb:UpdateItem"] ?? 0) * WRITE_UNITS_PER_UPDATE,
      s3Puts: (requests["s3:PutObject"] ?? 0) + (requests["s3:CopyObject"] ?? 0),
      s3Gets: (requests["s3:HeadObject"] ?? 0) + (requests["s3:GetObject"] ?? 0) + DOWNLOADS_PER_IMAGE,
      imageBytes: phase.metrics.imageBytes,
      logBytes:
        phase.metrics.historyBytes +
        phase.metrics.historyEvents * LOG_EVENT_ENVELOPE_BYTES +
        LAMBDA_LOG_BYTES_PER_JOB +
        ACCESS_LOG_BYTES_PER_JOB,
      expressBilledSeconds: phase.metrics.executionMs.meanBilled100Ms / 1000,
    };
  };
  const measuredGenerateSeconds = (clean.metrics.taskPerJob.GenerateImage?.ms ?? 0) / 1000;
  const perModelSecond = memoryGb("generate-image") * PRICES.lambdaArmGbSecond.usd * 1000;
  const a = figures(clean);
  const b = figures(withRetries);
  const line = (item: string, basis: string, price: (run: RunFigures) => number): CostLine => ({
    item,
    basis,
    clean: price(a) * 1000,
    withRetries: price(b) * 1000,
  });
  const shared: CostLine[] = [
    line(
      "Lambda requests",
      `start-job + task attempts + ${STATUS_POLLS_PER_JOB} job-status (clean ${a.lambdaInvocations.toFixed(2)}, retries ${b.lambdaInvocations.toFixed(2)}/image)`,
      (run) => run.lambdaInvocations * PRICES.lambdaRequest.usd,
    ),
    line(
      "Lambda compute (arm64)",
      `measured durations x configured memory (clean ${a.lambdaGbSeconds.toFixed(3)}, retries ${b.lambdaGbSeconds.toFixed(3)} GB-s/image)`,
      (run) => run.lambdaGbSeconds * PRICES.lambdaArmGbSecond.usd,
    ),
    line(
      "DynamoDB",
      `${a.dynamodbWrites.toFixed(2)} writes (counted) + ${STATUS_POLLS_PER_JOB} strongly consistent reads per image`,
      (run) => run.dynamodbWrites * PRICES.dynamodbWrite.usd + STATUS_POLLS_PER_JOB * PRICES.dynamodbRead.usd,
    ),
    line(
      "S3 requests",
      `PUT+COPY (counted: clean ${a.s3Puts.toFixed(2)}, retries ${b.s3Puts.toFixed(2)}), HEAD + ${DOWNLOADS_PER_IMAGE} download GET; DELETE free`,
      (run) => run.s3Puts * PRICES.s3Put.usd + run.s3Gets * PRICES.s3Get.usd,
    ),
    line(
      "S3 storage, first month",
      `${(a.imageBytes / 1024).toFixed(0)} KiB stand-in PNG (a real 1024x1024 PNG is larger)`,
      (run) => (run.imageBytes / 1e9) * PRICES.s3GbMonth.usd,
    ),
    line(
      "API Gateway (REST)",
      `1 POST + ${STATUS_POLLS_PER_JOB} GET /jobs per image`,
      () => (1 + STATUS_POLLS_PER_JOB) * PRICES.apiGatewayRequest.usd,
    ),
    line(
      "CloudWatch Logs",
      `execution log ALL with data: the measured history (clean ${(clean.metrics.historyBytes / 1024).toFixed(1)} KiB, ${clean.metrics.historyEvents.toFixed(0)} events) + ${LOG_EVENT_ENVELOPE_BYTES} B per event; Lambda and access logs per A8`,
      (run) => (run.logBytes / 1e9) * PRICES.logsIngestedGb.usd,
    ),
    line(
      "X-Ray",
      `${TRACES_PER_JOB} traces per job, every request sampled (A9)`,
      () => TRACES_PER_JOB * PRICES.xrayTrace.usd,
    ),
  ];
  const standard = line(
    "Step Functions Standard",
    `state transitions per image, from the histories (clean ${a.transitions.toFixed(2)}, retries ${b.transitions.toFixed(2)})`,
    (run) => run.transitions * PRICES.standardTransition.usd,
  );
  const express = line(
    "Step Functions Express (instead)",
    `1 request + measured execution time rounded to 100 ms (clean ${a.expressBilledSeconds.toFixed(1)} s, retries ${b.expressBilledSeconds.toFixed(1)} s) x 64 MB`,
    (run) => PRICES.expressRequest.usd + run.expressBilledSeconds * EXPRESS_MEMORY_GB * PRICES.expressGbSecond.usd,
  );
  const sharedTotal = (run: "clean" | "withRetries") => shared.reduce((sum, entry) => sum + entry[run], 0);
  const totalWith = (orchestration: CostLine, item: string): CostLine => ({
    item,
    basis: "everything beyond Bedrock",
    clean: sharedTotal("clean") + orchestration.clean,
    withRetries: sharedTotal("withRetries") + orchestration.withRetries,
  });
  const totals = {
    standard: totalWith(standard, "Total with Standard"),
    express: totalWith(express, "Total with Express"),
  };
  const modelCost = (price: ModelPrice): ModelCost => {
    const bedrockPer1000 = price.usd * 1000;
    return {
      modelId: price.modelId,
      ...(price.variant === undefined ? {} : { variant: price.variant }),
      name: price.name,
      lifecycle: price.lifecycle,
      region: price.region,
      confirmed: price.confirmed,
      source: price.source,
      bedrockPer1000,
      share: {
        standard: {
          clean: totals.standard.clean / bedrockPer1000,
          withRetries: totals.standard.withRetries / bedrockPer1000,
        },
        express: {
          clean: totals.express.clean / bedrockPer1000,
          withRetries: totals.express.withRetries / bedrockPer1000,
        },
      },
    };
  };
  const defaultPrice = modelPrice(DEFAULT_MODEL_ID);
  return {
    shared,
    standard,
    express,
    totals,
    defaultModelId: DEFAULT_MODEL_ID,
    bedrockPer1000: defaultPrice.usd * 1000,
    perModel: [defaultPrice, ...MODEL_PRICES.filter((price) => price !== defaultPrice)].map(modelCost),
    assumptions: [
      `${STATUS_POLLS_PER_JOB} status polls (GET /jobs) per job and ${DOWNLOADS_PER_IMAGE} image download (A3); the SQS path has no API requests but about 1.2 SQS requests per job`,
      "start-job's billed duration is the whole local POST round trip of the clean run (an upper bound); job-status's the local GET round trip",
      "one write unit per status update and one read unit per poll (A6; a 1,024-character prompt makes the item about 1.3 KB: 2 write units)",
      `log volume: the execution history measured, plus ${LOG_EVENT_ENVELOPE_BYTES} B of envelope per event, ${LAMBDA_LOG_BYTES_PER_JOB / 1000} KB of Lambda and ${ACCESS_LOG_BYTES_PER_JOB / 1000} KB of access logs per job (A8)`,
      `GenerateImage's measured duration holds the stand-in's latency L (clean: ${(measuredGenerateSeconds).toFixed(1)} s); each second of model latency costs $${perModelSecond.toFixed(4)} per 1,000 images at its memory, so Nova Canvas's ~8.3 s (A1; no latency was measured for the Stability models) would add about $${(Math.max(0, 8.3 - measuredGenerateSeconds) * perModelSecond).toFixed(3)}`,
      "transitions are the states entered plus retries, the Succeed state included (A10: an upper bound if AWS does not bill it)",
      `no free tiers; on-demand prices, us-east-1 beyond Bedrock; Bedrock per model as bench/prices.ts MODEL_PRICES has it (the Stability models: us-west-2, the only Region serving them; their prices are not confirmed on an AWS page), headline model ${DEFAULT_MODEL_ID}`,
    ],
  };
}
