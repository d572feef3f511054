import type { BurstResult, PhaseResult } from "./burst";
import type { DeployedShape } from "./deployed-shape";
import { DEFAULT_MODEL_ID, MODEL_PRICES, type ModelPrice, modelPrice, PRICES } from "./prices";
import type { Spread } from "./stats";

/** One cost line, USD per 1,000 delivered images, for the clean run and the burst (its throttles and redeliveries: the field `withRetries`). */
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
  /** The waiting room in front of Bedrock (issue 9): the generate queue, the generator, its callbacks. In the totals. */
  waitingRoom: CostLine[];
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
/** The generator as the CDK stack names it, and its memory should the synthesized stack not have it yet. */
export const GENERATOR_FUNCTION = "generate-image";
const GENERATOR_MEMORY_MB_ASSUMED = 512;
/** What a throttled delivery bills: Bedrock's refusal and a ChangeMessageVisibility; nothing measures it locally. */
export const THROTTLED_DELIVERY_SECONDS = 0.1;
/** SQS requests every image pays once: SendMessage (the callback task) and DeleteMessage (the mapping, on success). */
const SQS_SEND_AND_DELETE = 2;
/**
 * The generator writes RUNNING once per image as it takes the job out of the waiting room. The counting proxy sees it
 * among `dynamodb:UpdateItem` (the local stack points every handler at the proxy), so it is priced in the waiting
 * room's lines and taken out of the DynamoDB line, not priced twice.
 */
const GENERATOR_WRITES_PER_IMAGE = 1;

/**
 * The waiting room's traffic per delivered image. Each Bedrock call is one delivery of the generate message: one
 * receive and one generator invocation (batch size 1); each throttled call is one ChangeMessageVisibility.
 */
export interface WaitingRoomTraffic {
  deliveries: number;
  throttles: number;
}

/** Traffic per succeeded job from the Bedrock stand-in's counters over a phase. */
export function waitingRoomTraffic(
  bedrock: { requests: number; throttled: number },
  succeeded: number,
): WaitingRoomTraffic {
  const jobs = Math.max(1, succeeded);
  return { deliveries: bedrock.requests / jobs, throttles: bedrock.throttled / jobs };
}

/** The clean phase has no quota and no faults: one delivery per image, none throttled. */
const CLEAN_TRAFFIC: WaitingRoomTraffic = { deliveries: 1, throttles: 0 };

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
  withRetries: PhaseResult & Pick<BurstResult["burst"], "bedrock">,
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
      dynamodbWrites:
        Math.max(0, (requests["dynamodb:UpdateItem"] ?? 0) - GENERATOR_WRITES_PER_IMAGE) * WRITE_UNITS_PER_UPDATE,
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
  const generator = shape.functions.find((fn) => fn.name === GENERATOR_FUNCTION);
  const generatorGb = (generator?.memoryMb ?? GENERATOR_MEMORY_MB_ASSUMED) / 1024;
  // GenerateImage's state time in the clean run (no wait for a slot): send, pickup, Bedrock, staging, SendTaskSuccess.
  const acceptedSeconds = (clean.metrics.stateMs.GenerateImage?.p50 ?? 0) / 1000;
  const perModelSecond = generatorGb * PRICES.lambdaArmGbSecond.usd * 1000;
  const a = figures(clean);
  const b = figures(withRetries);
  const traffic = {
    clean: CLEAN_TRAFFIC,
    withRetries: waitingRoomTraffic(withRetries.bedrock, withRetries.metrics.succeeded),
  };
  const callbacks = (phase: PhaseResult) =>
    (phase.requestsPerJob["stepFunctions:SendTaskSuccess"] ?? 0) +
    (phase.requestsPerJob["stepFunctions:SendTaskHeartbeat"] ?? 0);
  const line = (item: string, basis: string, price: (run: RunFigures) => number): CostLine => ({
    item,
    basis,
    clean: price(a) * 1000,
    withRetries: price(b) * 1000,
  });
  const shared: CostLine[] = [
    line(
      "Lambda requests",
      `start-job + Lambda task attempts (${Object.keys(shape.taskFunctions).join(", ")}) + ${STATUS_POLLS_PER_JOB} job-status (clean ${a.lambdaInvocations.toFixed(2)}, burst ${b.lambdaInvocations.toFixed(2)}/image)`,
      (run) => run.lambdaInvocations * PRICES.lambdaRequest.usd,
    ),
    line(
      "Lambda compute (arm64)",
      `measured durations x configured memory (clean ${a.lambdaGbSeconds.toFixed(3)}, burst ${b.lambdaGbSeconds.toFixed(3)} GB-s/image)`,
      (run) => run.lambdaGbSeconds * PRICES.lambdaArmGbSecond.usd,
    ),
    line(
      "DynamoDB",
      `${a.dynamodbWrites.toFixed(2)} writes (counted, the generator's taken out) + ${STATUS_POLLS_PER_JOB} strongly consistent reads per image`,
      (run) => run.dynamodbWrites * PRICES.dynamodbWrite.usd + STATUS_POLLS_PER_JOB * PRICES.dynamodbRead.usd,
    ),
    line(
      "S3 requests",
      `PUT+COPY (counted: clean ${a.s3Puts.toFixed(2)}, burst ${b.s3Puts.toFixed(2)}), HEAD + ${DOWNLOADS_PER_IMAGE} download GET; DELETE free`,
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
  const roomLine = (item: string, basis: string, price: (run: WaitingRoomTraffic) => number): CostLine => ({
    item,
    basis,
    clean: price(traffic.clean) * 1000,
    withRetries: price(traffic.withRetries) * 1000,
  });
  const deliveries = `clean ${traffic.clean.deliveries.toFixed(2)}, burst ${traffic.withRetries.deliveries.toFixed(2)}`;
  const waitingRoom: CostLine[] = [
    roomLine(
      "Waiting room: SQS requests",
      `1 SendMessage (the callback task) + 1 receive per delivery (${deliveries}) + 1 DeleteMessage + 1 ChangeMessageVisibility per throttle (burst ${traffic.withRetries.throttles.toFixed(2)}); one 64 KB chunk each`,
      (run) => (SQS_SEND_AND_DELETE + run.deliveries + run.throttles) * PRICES.sqsRequest.usd,
    ),
    roomLine(
      "Waiting room: generator Lambda requests",
      `one invocation per delivery, batch size 1 (${deliveries})`,
      (run) => run.deliveries * PRICES.lambdaRequest.usd,
    ),
    roomLine(
      "Waiting room: generator Lambda compute (arm64)",
      `${generator ? `${generator.memoryMb} MB (CDK stack)` : `${GENERATOR_MEMORY_MB_ASSUMED} MB (assumed: no ${GENERATOR_FUNCTION} in the synthesized stack)`} x (${acceptedSeconds.toFixed(2)} s per image, the clean run's GenerateImage state time, + ${THROTTLED_DELIVERY_SECONDS} s per throttle)`,
      (run) =>
        ((run.deliveries - run.throttles) * acceptedSeconds + run.throttles * THROTTLED_DELIVERY_SECONDS) *
        generatorGb *
        PRICES.lambdaArmGbSecond.usd,
    ),
    roomLine(
      "Waiting room: generator's status write (DynamoDB)",
      `${GENERATOR_WRITES_PER_IMAGE} UpdateItem (RUNNING) per image`,
      () => GENERATOR_WRITES_PER_IMAGE * WRITE_UNITS_PER_UPDATE * PRICES.dynamodbWrite.usd,
    ),
    {
      item: "Waiting room: SendTaskHeartbeat + SendTaskSuccess",
      basis: `Step Functions API requests (counted: clean ${callbacks(clean).toFixed(2)}, burst ${callbacks(withRetries).toFixed(2)} per image), not billed: Standard bills state transitions`,
      clean: callbacks(clean) * PRICES.stepFunctionsApiRequest.usd * 1000,
      withRetries: callbacks(withRetries) * PRICES.stepFunctionsApiRequest.usd * 1000,
    },
  ];
  const standard = line(
    "Step Functions Standard",
    `state transitions per image, from the histories (clean ${a.transitions.toFixed(2)}, burst ${b.transitions.toFixed(2)})`,
    (run) => run.transitions * PRICES.standardTransition.usd,
  );
  const express = line(
    "Step Functions Express (instead)",
    `1 request + measured execution time rounded to 100 ms (clean ${a.expressBilledSeconds.toFixed(1)} s, burst ${b.expressBilledSeconds.toFixed(1)} s) x 64 MB`,
    (run) => PRICES.expressRequest.usd + run.expressBilledSeconds * EXPRESS_MEMORY_GB * PRICES.expressGbSecond.usd,
  );
  const sharedTotal = (run: "clean" | "withRetries") =>
    [...shared, ...waitingRoom].reduce((sum, entry) => sum + entry[run], 0);
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
    waitingRoom,
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
      `the generator's billed time per image is the clean run's GenerateImage state time (${acceptedSeconds.toFixed(1)} s: the stand-in's latency L plus the queue's pickup and the callback, an upper bound); each second of model latency costs $${perModelSecond.toFixed(4)} per 1,000 images at its memory, so Nova Canvas's ~8.3 s (A1; no latency was measured for the Stability models) would add about $${(Math.max(0, 8.3 - acceptedSeconds) * perModelSecond).toFixed(3)}`,
      `the waiting room's traffic comes from the Bedrock stand-in's counters (each call one delivery of the generate message, each throttle one ChangeMessageVisibility); the mapping's ReceiveMessage can return up to 10 messages, so one receive per delivery is an upper bound; a throttled delivery bills ${THROTTLED_DELIVERY_SECONDS} s of the generator (not measured); the mapping's idle long polling (empty receives) is a fixed monthly cost, not a per-image one, and is left out`,
      "transitions are the states entered plus retries, the Succeed state included (A10: an upper bound if AWS does not bill it); GenerateImage is one transition whether it waits a second or a minute",
      `no free tiers; on-demand prices, us-east-1 beyond Bedrock; Bedrock per model as bench/prices.ts MODEL_PRICES has it (the Stability models: us-west-2, the only Region serving them; their prices are not confirmed on an AWS page), headline model ${DEFAULT_MODEL_ID}`,
    ],
  };
}
