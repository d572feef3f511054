// Verifies bench/cost.ts's waiting-room lines on hand-made run figures: the generate queue's SQS requests (send,
// one receive per delivery, delete, one ChangeMessageVisibility per throttle), the generator's invocations and
// GB-seconds, its status write (taken out of the counted DynamoDB writes, not priced twice), the free Step Functions
// callbacks, that the totals include them, and that GenerateImage is no Lambda task any more.
// It cannot verify the prices themselves (bench/prices.ts cites where each was read) or the local runs' figures.
import { describe, expect, it } from "vitest";
import type { BurstResult, PhaseResult } from "../../bench/burst";
import { costPer1000Images, THROTTLED_DELIVERY_SECONDS, waitingRoomTraffic } from "../../bench/cost";
import type { DeployedFunction, DeployedShape } from "../../bench/deployed-shape";
import type { JobMetrics } from "../../bench/job-metrics";
import { PRICES } from "../../bench/prices";
import type { Spread } from "../../bench/stats";

const spread = (value: number): Spread => ({ count: 1, p50: value, p95: value, max: value });

function metrics(overrides: Partial<JobMetrics> = {}): JobMetrics {
  return {
    jobs: 100,
    succeeded: 100,
    failures: {},
    latencyMs: spread(2000),
    executionMs: { ...spread(1500), meanBilled100Ms: 1500 },
    historyBytes: 10_000,
    historyEvents: 30,
    imageBytes: 100_000,
    transitions: { mean: 6, p50: 6, p95: 6, max: 6 },
    failedAttempts: {},
    stateMs: { GenerateImage: spread(1200) },
    taskPerJob: { ValidatePrompt: { attempts: 1, ms: 20 }, StoreImage: { attempts: 1, ms: 40 } },
    ...overrides,
  };
}

function phase(requestsPerJob: Record<string, number>, overrides: Partial<JobMetrics> = {}): PhaseResult {
  return { metrics: metrics(overrides), requestsPerJob, apiAnswerMs: spread(10) };
}

const COUNTED = {
  "dynamodb:UpdateItem": 3,
  "s3:PutObject": 1,
  "s3:CopyObject": 1,
  "s3:HeadObject": 1,
  "stepFunctions:SendTaskSuccess": 1,
  "stepFunctions:SendTaskHeartbeat": 1,
};

const fn = (name: string, memoryMb: number): DeployedFunction => ({
  name,
  source: "store-image",
  exportName: "handler",
  memoryMb,
  architecture: "arm64",
  environment: {},
});

function shape(functions: DeployedFunction[]): DeployedShape {
  return {
    functions,
    taskFunctions: { ValidatePrompt: "validate-prompt", StoreImage: "store-image" },
    integrationTasks: {
      RecordRunning: "arn:aws:states:::dynamodb:updateItem",
      GenerateImage: "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
      RecordSucceeded: "arn:aws:states:::dynamodb:updateItem",
    },
    stateMachineType: "STANDARD",
    stateMachineLogging: { level: "ERROR", includeExecutionData: false },
  };
}

const FUNCTIONS = [
  fn("start-job (API)", 256),
  fn("job-status", 256),
  fn("validate-prompt", 256),
  fn("generate-image", 512),
  fn("store-image", 256),
];

// 100 images; 120 Bedrock calls, 20 of them throttled: 1.2 deliveries and 0.2 throttles per image.
const BEDROCK: BurstResult["burst"]["bedrock"] = { requests: 120, throttled: 20, images: 100, peakConcurrency: 10 };

function cost(functions = FUNCTIONS) {
  const clean = { ...phase(COUNTED), jobStatusMs: spread(8) };
  const burst = { ...phase(COUNTED, { transitions: { mean: 6, p50: 6, p95: 6, max: 6 } }), bedrock: BEDROCK };
  return costPer1000Images(clean, burst, shape(functions));
}

function line(item: string, functions = FUNCTIONS) {
  const found = cost(functions).waitingRoom.find((entry) => entry.item === item);
  if (!found) throw new Error(`no waiting-room line "${item}"`);
  return found;
}

describe("cost per 1,000 images: the waiting room", () => {
  it("reads the traffic from the stand-in's counters: a delivery per call, a visibility change per throttle", () => {
    expect(waitingRoomTraffic(BEDROCK, 100)).toEqual({ deliveries: 1.2, throttles: 0.2 });
    expect(waitingRoomTraffic({ requests: 0, throttled: 0 }, 0)).toEqual({ deliveries: 0, throttles: 0 });
  });

  it("prices SQS: SendMessage, a receive per delivery, DeleteMessage, and ChangeMessageVisibility per throttle", () => {
    const sqs = line("Waiting room: SQS requests");
    expect(sqs.clean).toBeCloseTo((1 + 1 + 1 + 0) * PRICES.sqsRequest.usd * 1000, 12);
    expect(sqs.withRetries).toBeCloseTo((1 + 1.2 + 1 + 0.2) * PRICES.sqsRequest.usd * 1000, 12);
  });

  it("prices one generator invocation per delivery", () => {
    const requests = line("Waiting room: generator Lambda requests");
    expect(requests.clean).toBeCloseTo(1 * PRICES.lambdaRequest.usd * 1000, 12);
    expect(requests.withRetries).toBeCloseTo(1.2 * PRICES.lambdaRequest.usd * 1000, 12);
  });

  it("prices the generator's GB-seconds at its memory: the measured call per image, a short one per throttle", () => {
    const compute = line("Waiting room: generator Lambda compute (arm64)");
    const gbSecond = PRICES.lambdaArmGbSecond.usd * 1000;
    expect(compute.clean).toBeCloseTo(1.2 * 0.5 * gbSecond, 12);
    expect(compute.withRetries).toBeCloseTo((1 * 1.2 + 0.2 * THROTTLED_DELIVERY_SECONDS) * 0.5 * gbSecond, 12);
    expect(compute.basis).toContain("512 MB (CDK stack)");
  });

  it("assumes 512 MB, and says so, when the synthesized stack has no generator", () => {
    const compute = line(
      "Waiting room: generator Lambda compute (arm64)",
      FUNCTIONS.filter((entry) => entry.name !== "generate-image"),
    );
    expect(compute.basis).toContain("512 MB (assumed");
    expect(compute.clean).toBeCloseTo(1.2 * 0.5 * PRICES.lambdaArmGbSecond.usd * 1000, 12);
  });

  it("prices the generator's status write once, taken out of the DynamoDB writes the proxy counted", () => {
    const result = cost();
    expect(line("Waiting room: generator's status write (DynamoDB)").clean).toBeCloseTo(
      PRICES.dynamodbWrite.usd * 1000,
      12,
    );
    const dynamodb = result.shared.find((entry) => entry.item === "DynamoDB");
    expect(dynamodb?.clean).toBeCloseTo((2 * PRICES.dynamodbWrite.usd + 5 * PRICES.dynamodbRead.usd) * 1000, 12);
  });

  it("prices SendTaskHeartbeat and SendTaskSuccess at nothing: Standard bills state transitions", () => {
    const callbacks = line("Waiting room: SendTaskHeartbeat + SendTaskSuccess");
    expect(PRICES.stepFunctionsApiRequest.usd).toBe(0);
    expect(callbacks).toMatchObject({ clean: 0, withRetries: 0 });
    expect(callbacks.basis).toContain("clean 2.00, burst 2.00 per image");
  });

  it("adds the waiting room to both totals", () => {
    const result = cost();
    const sum = (run: "clean" | "withRetries") =>
      [...result.shared, ...result.waitingRoom].reduce((total, entry) => total + entry[run], 0);
    expect(result.totals.standard.clean).toBeCloseTo(sum("clean") + result.standard.clean, 12);
    expect(result.totals.express.withRetries).toBeCloseTo(sum("withRetries") + result.express.withRetries, 12);
    expect(result.waitingRoom.reduce((total, entry) => total + entry.withRetries, 0)).toBeGreaterThan(0);
  });

  it("invokes no GenerateImage Lambda from the state machine: start-job, the Lambda tasks and the polls only", () => {
    const requests = cost().shared.find((entry) => entry.item === "Lambda requests");
    expect(requests?.clean).toBeCloseTo((1 + 1 + 1 + 5) * PRICES.lambdaRequest.usd * 1000, 12);
    expect(requests?.basis).toContain("(ValidatePrompt, StoreImage)");
  });
});
