import { BedrockRuntimeClient } from "@aws-sdk/client-bedrock-runtime";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from "@aws-sdk/client-sfn";
import { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import { generateFromQueue } from "../../functions/generate-image/generator";
import type { PipelineMetricKey, PipelineMetrics } from "../../functions/shared/metrics";
import { DEFAULT_MODEL_ID, MODEL_CATALOG } from "../../functions/shared/models/catalog";
import { GENERATE_MAX_RECEIVES, GENERATE_VISIBILITY_TIMEOUT_SECONDS } from "../../functions/shared/waiting-room";
import { storeImage } from "../../functions/store-image/store-image";
import { validatePromptStep } from "../../functions/validate-prompt/validate-prompt";
import { localDefinition, scaleRetryIntervals, withHeartbeatSeconds } from "../../local/state-machine-definition";
import { type EventLog, type LocalFunction, StateMachineRunner } from "../../local/state-machine-runner";

export const MODEL_ID = DEFAULT_MODEL_ID;
/** Every catalog model may be named in a request, as a deployment with them all in allowedModelIds. */
export const MODELS = { defaultModelId: MODEL_ID, allowedModelIds: MODEL_CATALOG.map((model) => model.id) };
export const BUCKET = "couch-images";
export const KEY_PREFIX = "candidate-7";
export const TABLE = "JobStatus";
export const GENERATE_QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/couch-imagegen-generate";
export const STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:ImagePipeline";
const FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function";

/** Every wait is scaled by this: the file's retry intervals (3 s → 3 ms) and the generate queue's visibility delays. */
const TIME_SCALE = 0.001;

export type SqsHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;
/** The waiting room's calls a test can make fail: the state machine's send, and the generator's answers. */
export type WaitingRoomCall = "SendMessage" | "SendTaskSuccess" | "SendTaskFailure" | "SendTaskHeartbeat";

export interface WaitingRoomOptions {
  /** Generator invocations at once (the event source's MaximumConcurrency); the rest wait in the queue. @default no cap */
  bedrockConcurrency?: number;
  /** The generate queue's maxReceiveCount, also given to the generator. @default GENERATE_MAX_RECEIVES */
  maxReceives?: number;
  /** GenerateImage's HeartbeatSeconds, unscaled (the ASL schema wants whole seconds). @default the file's */
  heartbeatSeconds?: number;
  /** Wraps the real generator: a test makes it take a message and never answer. @default none */
  wrapGenerator?: (generator: SqsHandler) => SqsHandler;
  /** The error the `count`-th call (from 1) of `call` fails with; undefined lets it through. @default none fail */
  fault?: (call: WaitingRoomCall, count: number) => Error | undefined;
}

export interface PipelineHarness {
  runner: StateMachineRunner;
  waitingRoom: GenerateQueueModel;
  /** The SQS client the runner sends with and the generator puts messages back with. */
  sqs: AwsClientStub<SQSClient>;
  /** The Step Functions client the generator answers with: its calls go to `runner.taskTokens`. */
  sfn: AwsClientStub<SFNClient>;
  /** What the generator recorded, summed by metric (`bedrockThrottles`, `imagesGenerated`, …). */
  metrics: Map<PipelineMetricKey, number>;
}

/**
 * The real ASL file with retry intervals scaled by 1/1000 (3 s → 3 ms, same backoff, attempts and jitter), run with
 * the real step cores, and GenerateImage's waiting room run by the real generator (`generateFromQueue`) behind an
 * in-memory model of the generate queue (GenerateQueueModel). The Bedrock, S3 and DynamoDB clients are the ones the
 * test mocks (by class); the SQS and Step Functions clients are mocked here, per harness, to be that queue and the
 * runner's task tokens.
 */
export function pipelineRunner(
  overrides: Partial<Record<"validate" | "store", LocalFunction>> = {},
  options: WaitingRoomOptions = {},
): PipelineHarness {
  const s3 = new S3Client({ region: "eu-west-1" });
  const bedrock = new BedrockRuntimeClient({ region: "us-east-1" });
  const dynamodb = new DynamoDBClient({ region: "eu-west-1" });
  const sqs = new SQSClient({ region: "eu-west-1" });
  const sfn = new SFNClient({ region: "eu-west-1" });
  const maxReceives = options.maxReceives ?? GENERATE_MAX_RECEIVES;
  const scaled = scaleRetryIntervals(localDefinition(FUNCTION_ARN, TABLE, GENERATE_QUEUE_URL), TIME_SCALE);
  const definition =
    options.heartbeatSeconds === undefined ? scaled : withHeartbeatSeconds(scaled, options.heartbeatSeconds);
  const runner = new StateMachineRunner({
    definition,
    dynamodb,
    sqs,
    functions: {
      [`${FUNCTION_ARN}:validate-prompt`]:
        overrides.validate ??
        (async (event) => validatePromptStep(event as never, { models: MODELS, retentionDays: 30 })),
      [`${FUNCTION_ARN}:store-image`]:
        overrides.store ?? ((event) => storeImage(event as never, { s3, bucket: BUCKET, keyPrefix: KEY_PREFIX })),
    },
  });

  const metrics = new Map<PipelineMetricKey, number>();
  const recording: PipelineMetrics = {
    record(metric, value) {
      metrics.set(metric, (metrics.get(metric) ?? 0) + value);
    },
  };
  const generator: SqsHandler = (event) =>
    generateFromQueue(event, {
      bedrock,
      s3,
      sfn,
      sqs,
      dynamodb,
      bucket: BUCKET,
      keyPrefix: KEY_PREFIX,
      queueUrl: GENERATE_QUEUE_URL,
      tableName: TABLE,
      maxReceives,
      metrics: recording,
    });
  const waitingRoom = new GenerateQueueModel({
    handler: options.wrapGenerator ? options.wrapGenerator(generator) : generator,
    concurrency: options.bedrockConcurrency ?? Number.POSITIVE_INFINITY,
    maxReceives,
  });

  const calls = new Map<WaitingRoomCall, number>();
  /** Throws the fault the test asked for on this call, if any. */
  const faultIn = (call: WaitingRoomCall) => {
    const count = (calls.get(call) ?? 0) + 1;
    calls.set(call, count);
    const error = options.fault?.(call, count);
    if (error) throw error;
  };
  const sqsMock = mockClient(sqs);
  sqsMock.on(SendMessageCommand).callsFake(async (input) => {
    faultIn("SendMessage");
    return { MessageId: waitingRoom.send(input.MessageBody ?? "") };
  });
  sqsMock.on(ChangeMessageVisibilityCommand).callsFake(async (input) => {
    waitingRoom.changeVisibility(input.ReceiptHandle ?? "", input.VisibilityTimeout ?? 0);
    return {};
  });
  // TaskTokens throws the errors Step Functions answers (TaskDoesNotExist, TaskTimedOut, InvalidToken…): they reach
  // the generator as the SDK's would.
  const sfnMock = mockClient(sfn);
  sfnMock.on(SendTaskSuccessCommand).callsFake(async (input) => {
    faultIn("SendTaskSuccess");
    runner.taskTokens.succeed(input.taskToken ?? "", input.output ?? "");
    return {};
  });
  sfnMock.on(SendTaskFailureCommand).callsFake(async (input) => {
    faultIn("SendTaskFailure");
    runner.taskTokens.fail(input.taskToken ?? "", input.error, input.cause);
    return {};
  });
  sfnMock.on(SendTaskHeartbeatCommand).callsFake(async (input) => {
    faultIn("SendTaskHeartbeat");
    runner.taskTokens.heartbeat(input.taskToken ?? "");
    return {};
  });

  return { runner, waitingRoom, sqs: sqsMock, sfn: sfnMock, metrics };
}

interface QueuedMessage {
  messageId: string;
  body: string;
  receiveCount: number;
}

/**
 * A model of the generate queue and the event source mapping that feeds the generator, in memory: not SQS.
 * - SendMessage queues the message; it is delivered after the send has returned, as an SQS event of one record
 *   (messageId, a receipt handle per receive, ApproximateReceiveCount).
 * - At most `concurrency` deliveries run at once (MaximumConcurrency); the other messages wait, in order.
 * - A message the generator names in batchItemFailures (every message, if it throws) comes back after the visibility
 *   timeout of that receive (what ChangeMessageVisibility set, else the queue's), scaled like the retry intervals,
 *   with its receive count + 1; one that fails its `maxReceives`-th receive goes to `deadLetters` (the redrive).
 *   Any other message is deleted.
 * It does not model duplicate deliveries, batches of several messages, or a receive that outlives its visibility.
 */
export class GenerateQueueModel {
  /** Every receive, in order. */
  readonly deliveries: { messageId: string; receiveCount: number }[] = [];
  /** Bodies of the messages the redrive policy took. */
  readonly deadLetters: string[] = [];
  private readonly queued: QueuedMessage[] = [];
  /** The visibility timeout, seconds, of each receive in flight, by receipt handle. */
  private readonly inFlight = new Map<string, number>();
  private running = 0;
  private comingBack = 0;
  private sent = 0;

  constructor(private readonly options: { handler: SqsHandler; concurrency: number; maxReceives: number }) {}

  send(body: string): string {
    this.sent += 1;
    const messageId = `generate-message-${this.sent}`;
    this.queued.push({ messageId, body, receiveCount: 0 });
    setImmediate(() => this.deliverQueued());
    return messageId;
  }

  changeVisibility(receiptHandle: string, seconds: number): void {
    if (!this.inFlight.has(receiptHandle)) {
      throw Object.assign(new Error(`The receipt handle "${receiptHandle}" is not in flight`), {
        name: "ReceiptHandleIsInvalid",
      });
    }
    this.inFlight.set(receiptHandle, seconds);
  }

  /** Resolves once no message is queued, being handled or due back; fails after `timeoutMs`. */
  async idle(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.queued.length + this.running + this.comingBack > 0) {
      if (Date.now() > deadline) throw new Error(`The generate queue still held messages after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  private deliverQueued(): void {
    while (this.running < this.options.concurrency) {
      const message = this.queued.shift();
      if (!message) return;
      void this.deliver(message);
    }
  }

  private async deliver(message: QueuedMessage): Promise<void> {
    this.running += 1;
    message.receiveCount += 1;
    const receiptHandle = `${message.messageId}#receive-${message.receiveCount}`;
    this.inFlight.set(receiptHandle, GENERATE_VISIBILITY_TIMEOUT_SECONDS);
    this.deliveries.push({ messageId: message.messageId, receiveCount: message.receiveCount });
    let failed: boolean;
    try {
      const response = await this.options.handler({ Records: [sqsRecord(message, receiptHandle)] });
      failed = response.batchItemFailures.some((failure) => failure.itemIdentifier === message.messageId);
    } catch {
      failed = true;
    }
    const visibilitySeconds = this.inFlight.get(receiptHandle) ?? 0;
    this.inFlight.delete(receiptHandle);
    this.running -= 1;
    if (failed && message.receiveCount >= this.options.maxReceives) {
      this.deadLetters.push(message.body);
    } else if (failed) {
      this.comingBack += 1;
      setTimeout(
        () => {
          this.comingBack -= 1;
          this.queued.push(message);
          this.deliverQueued();
        },
        visibilitySeconds * 1000 * TIME_SCALE,
      );
    }
    this.deliverQueued();
  }
}

function sqsRecord(message: QueuedMessage, receiptHandle: string): SQSRecord {
  const now = String(Date.now());
  return {
    messageId: message.messageId,
    receiptHandle,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: now,
      SenderId: "states.amazonaws.com",
      ApproximateFirstReceiveTimestamp: now,
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:couch-imagegen-generate",
    awsRegion: "eu-west-1",
  };
}

/** The caller start-job records for an API without keys; a test names another in `input.pipeline`. */
export const ANONYMOUS_PIPELINE = { caller: "anonymous" };

/**
 * Runs one execution named `jobId` to its end and returns the outcome with the full event log. The input is what
 * start-job would pass: the request fields, where and when, and the pipeline's own `pipeline` key. It returns once
 * the generate queue is empty too, so nothing of this job runs into the next test.
 */
export async function runJob(harness: PipelineHarness, jobId: string, input: Record<string, unknown>) {
  const execution = harness.runner.start(
    { jobId, source: "api", requestedAt: "2026-11-23T12:00:00.000Z", pipeline: ANONYMOUS_PIPELINE, ...input },
    {
      name: jobId,
      executionArn: `${STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")}:${jobId}`,
      stateMachineArn: STATE_MACHINE_ARN,
    },
  );
  const outcome = await execution.outcome;
  await harness.waitingRoom.idle();
  return { outcome, events: execution.events };
}

/** The names of the states entered, in order (a retried state appears once per entry, as in the console). */
export function statesEntered(events: EventLog[]): string[] {
  return events.filter((event) => event.type === "StateEntered").map((event) => event.state?.name ?? "");
}

export function retriesOf(events: EventLog[], stateName: string): EventLog[] {
  return events.filter((event) => event.type === "StateRetried" && event.state?.name === stateName);
}

/** The errors a state failed with, in order (each retried or caught failure once). */
export function failuresOf(events: EventLog[], stateName: string): (string | undefined)[] {
  return events
    .filter((event) => event.type === "StateFailed" && event.state?.name === stateName)
    .map((event) => event.Error);
}
