// Verifies the generator (functions/generate-image/generator.ts), the generate queue's consumer, step by step for one
// message: a body it cannot act on; 1. the heartbeat (a task that is over drops the message, another failure puts it
// back); 2. the staged-image check (a redelivery answers from S3 without Bedrock); 3. the RUNNING status write and
// that its failure does not stop the job; 4. Bedrock (a throttle puts the message back for THROTTLE_DELAY_SECONDS, on
// the last receive it fails the task; any other error fails the task by its name); 5. the answer (a task that is over
// is done, another failure puts the message back). Also the waiting room's shared parts (THROTTLE_DELAY_SECONDS,
// parseGenerateMessage). Every client is an aws-sdk-client-mock mock: this cannot verify the event source mapping,
// SQS's redrive, or that Step Functions accepts the answers (test/statemachine runs them against the state machine).
import { BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { ConditionalCheckFailedException, DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from "@aws-sdk/client-sfn";
import { ChangeMessageVisibilityCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { type GeneratorDeps, generateFromQueue } from "../../functions/generate-image/generator";
import type { PipelineLogger } from "../../functions/shared/logger";
import {
  type GenerateMessage,
  parseGenerateMessage,
  THROTTLE_DELAY_SECONDS,
} from "../../functions/shared/waiting-room";
import { imageRequest } from "../fixtures/image-request";
import { awsError, modelEndOfLifeError, stabilityResponse, TINY_PNG_BASE64 } from "../fixtures/tiny-png";

const credentials = { accessKeyId: "test", secretAccessKey: "test" };
const CORE = "stability.stable-image-core-v1:1";
const BUCKET = "couch-images";
const KEY_PREFIX = "candidate-7";
const QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/couch-imagegen-generate";
const TABLE = "JobStatus";
const MAX_RECEIVES = 5;
const REPORTED_SEED = 2130420379;
const NOW = new Date("2026-12-02T10:00:00.000Z");
const TOKEN = "task-token-1";

const bedrock = new BedrockRuntimeClient({ region: "us-west-2", credentials });
const s3 = new S3Client({ region: "eu-west-1", credentials });
const sfn = new SFNClient({ region: "eu-west-1", credentials });
const sqs = new SQSClient({ region: "eu-west-1", credentials });
const dynamodb = new DynamoDBClient({ region: "eu-west-1", credentials });
const bedrockMock = mockClient(bedrock);
const s3Mock = mockClient(s3);
const sfnMock = mockClient(sfn);
const sqsMock = mockClient(sqs);
const dynamodbMock = mockClient(dynamodb);

/** The log lines written, as level and message with their attributes. */
let logged: { level: string; message: string; attributes: Record<string, unknown> }[];
let keys: Record<string, unknown>;

function deps(overrides: Partial<GeneratorDeps> = {}): GeneratorDeps {
  const line =
    (level: string) =>
    (message: string, attributes: Record<string, unknown> = {}) => {
      logged.push({ level, message, attributes });
    };
  const log: PipelineLogger = {
    debug: line("DEBUG"),
    info: line("INFO"),
    warn: line("WARN"),
    error: line("ERROR"),
    appendKeys(more) {
      Object.assign(keys, more);
    },
  };
  return {
    bedrock,
    s3,
    sfn,
    sqs,
    dynamodb,
    bucket: BUCKET,
    keyPrefix: KEY_PREFIX,
    queueUrl: QUEUE_URL,
    tableName: TABLE,
    maxReceives: MAX_RECEIVES,
    now: () => NOW,
    log,
    ...overrides,
  };
}

function generateMessage(fields: Record<string, unknown> = {}): GenerateMessage {
  return { taskToken: TOKEN, jobId: "job-1", request: imageRequest(CORE, fields) };
}

/** An SQS record as the event source delivers it, on its `receiveCount`-th receive. */
function sqsRecord(body: unknown, receiveCount = 1, messageId = "message-1"): SQSRecord {
  return {
    messageId,
    receiptHandle: `${messageId}-receipt-${receiveCount}`,
    body: typeof body === "string" ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: String(NOW.getTime()),
      SenderId: "states.amazonaws.com",
      ApproximateFirstReceiveTimestamp: String(NOW.getTime()),
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:couch-imagegen-generate",
    awsRegion: "eu-west-1",
  };
}

function generate(record: SQSRecord, overrides: Partial<GeneratorDeps> = {}) {
  return generateFromQueue({ Records: [record] }, deps(overrides));
}

/** The one SendTaskFailure input; fails the test when there was not exactly one. */
function taskFailure() {
  const calls = sfnMock.commandCalls(SendTaskFailureCommand);
  expect(calls).toHaveLength(1);
  return calls[0]?.args[0].input;
}

/** The one SendTaskSuccess output, parsed; fails the test when there was not exactly one. */
function taskOutput(): Record<string, unknown> {
  const calls = sfnMock.commandCalls(SendTaskSuccessCommand);
  expect(calls).toHaveLength(1);
  return JSON.parse(calls[0]?.args[0].input.output ?? "");
}

const PUT_BACK = { batchItemFailures: [{ itemIdentifier: "message-1" }] };
const DONE = { batchItemFailures: [] };

beforeEach(() => {
  for (const mock of [bedrockMock, s3Mock, sfnMock, sqsMock, dynamodbMock]) mock.reset();
  logged = [];
  keys = {};
  bedrockMock.on(InvokeModelCommand).resolves({ body: stabilityResponse(REPORTED_SEED) } as never);
  s3Mock.on(HeadObjectCommand).rejects(awsError("NotFound", "Not Found", 404));
  s3Mock.on(PutObjectCommand).resolves({});
  sfnMock.on(SendTaskHeartbeatCommand).resolves({});
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  sfnMock.on(SendTaskFailureCommand).resolves({});
  sqsMock.on(ChangeMessageVisibilityCommand).resolves({});
  dynamodbMock.on(UpdateItemCommand).resolves({});
});

describe("generateFromQueue: the whole way", () => {
  it("heartbeats, finds nothing staged, records RUNNING, calls Bedrock once and answers SendTaskSuccess", async () => {
    // Act
    const response = await generate(sqsRecord(generateMessage({ aspectRatio: "16:9" })));

    // Assess
    expect(response).toEqual(DONE);
    expect(sfnMock.commandCalls(SendTaskHeartbeatCommand)[0]?.args[0].input).toEqual({ taskToken: TOKEN });
    expect(s3Mock.commandCalls(HeadObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: `${KEY_PREFIX}/staging/job-1.png`,
    });
    expect(dynamodbMock.commandCalls(UpdateItemCommand)).toHaveLength(1);
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(1);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input.taskToken).toBe(TOKEN);
    expect(taskOutput()).toEqual({
      bucket: BUCKET,
      stagingKey: `${KEY_PREFIX}/staging/job-1.png`,
      bytes: Buffer.from(TINY_PNG_BASE64, "base64").length,
      seed: REPORTED_SEED,
      modelId: CORE,
      aspectRatio: "16:9",
      outputFormat: "png",
    });
    expect(sqsMock.commandCalls(ChangeMessageVisibilityCommand)).toHaveLength(0);
    expect(keys).toMatchObject({ jobId: "job-1" });
  });

  it("handles the messages of a batch one after another and puts back only the throttled one", async () => {
    // Prepare
    bedrockMock
      .on(InvokeModelCommand)
      .rejectsOnce(awsError("ThrottlingException", "Too many requests", 429))
      .resolves({ body: stabilityResponse(REPORTED_SEED) } as never);

    // Act
    const response = await generateFromQueue(
      {
        Records: [
          sqsRecord(generateMessage(), 1, "message-a"),
          sqsRecord({ ...generateMessage(), taskToken: "task-token-2", jobId: "job-2" }, 1, "message-b"),
        ],
      },
      deps(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "message-a" }] });
    expect(sfnMock.commandCalls(SendTaskSuccessCommand).map((call) => call.args[0].input.taskToken)).toEqual([
      "task-token-2",
    ]);
  });
});

describe("generateFromQueue: a body it cannot act on", () => {
  it.each([
    ["not JSON", "{not json"],
    ["no task token", JSON.stringify({ jobId: "job-1", request: {} })],
    ["no request", JSON.stringify({ taskToken: TOKEN, jobId: "job-1" })],
  ])("drops a body with %s: no heartbeat, no Bedrock, an ERROR line", async (_what, body) => {
    // Act
    const response = await generate(sqsRecord(body));

    // Assess
    expect(response).toEqual(DONE);
    expect(sfnMock.calls()).toHaveLength(0);
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(0);
    expect(logged).toEqual([
      { level: "ERROR", message: "Not a generate message; dropped", attributes: expect.objectContaining({ body }) },
    ]);
  });
});

describe("generateFromQueue 1: the heartbeat", () => {
  it.each(["TaskDoesNotExist", "TaskTimedOut", "InvalidToken"])(
    "drops the message of a task that is over (%s) without writing the status or calling Bedrock",
    async (name) => {
      // Prepare
      sfnMock.on(SendTaskHeartbeatCommand).rejects(awsError(name, "Task is over", 400));

      // Act
      const response = await generate(sqsRecord(generateMessage(), 3));

      // Assess
      expect(response).toEqual(DONE);
      // The staged-image check runs beside the heartbeat; nothing after them does.
      expect(s3Mock.commandCalls(HeadObjectCommand)).toHaveLength(1);
      expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
      expect(dynamodbMock.commandCalls(UpdateItemCommand)).toHaveLength(0);
      expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(0);
      expect(sqsMock.commandCalls(ChangeMessageVisibilityCommand)).toHaveLength(0);
      expect(logged.at(-1)).toMatchObject({ level: "INFO", attributes: { receiveCount: 3, error: name } });
    },
  );

  it("puts the message back when the heartbeat fails otherwise, without calling Bedrock", async () => {
    // Prepare
    sfnMock.on(SendTaskHeartbeatCommand).rejects(awsError("ThrottlingException", "Rate exceeded", 400));

    // Act
    const response = await generate(sqsRecord(generateMessage(), 2));

    // Assess
    expect(response).toEqual(PUT_BACK);
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(0);
    expect(sqsMock.commandCalls(ChangeMessageVisibilityCommand)[0]?.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      ReceiptHandle: "message-1-receipt-2",
      VisibilityTimeout: THROTTLE_DELAY_SECONDS,
    });
    expect(logged.at(-1)).toMatchObject({
      level: "WARN",
      message: `Could not send the heartbeat; the message comes back in ${THROTTLE_DELAY_SECONDS} s`,
    });
  });
});

describe("generateFromQueue 2: the staged image", () => {
  it("answers from the image an earlier receive staged, with the seed of its metadata, without Bedrock", async () => {
    // Prepare
    s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 1234, Metadata: { seed: "987654" } });

    // Act
    const response = await generate(sqsRecord(generateMessage({ seed: 0, aspectRatio: "3:2" }), 2));

    // Assess
    expect(response).toEqual(DONE);
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(0);
    expect(dynamodbMock.commandCalls(UpdateItemCommand)).toHaveLength(0);
    expect(taskOutput()).toEqual({
      bucket: BUCKET,
      stagingKey: `${KEY_PREFIX}/staging/job-1.png`,
      bytes: 1234,
      seed: 987_654,
      modelId: CORE,
      aspectRatio: "3:2",
      outputFormat: "png",
    });
  });

  it("looks for a JPEG under its .jpg staging key", async () => {
    // Prepare
    s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 99, Metadata: { seed: "5" } });

    // Act
    await generate(sqsRecord(generateMessage({ outputFormat: "jpeg" })));

    // Assess
    expect(s3Mock.commandCalls(HeadObjectCommand)[0]?.args[0].input.Key).toBe(`${KEY_PREFIX}/staging/job-1.jpg`);
    expect(taskOutput()).toMatchObject({ stagingKey: `${KEY_PREFIX}/staging/job-1.jpg`, outputFormat: "jpeg" });
  });

  it("falls back to the request's seed when the staged object's metadata has none", async () => {
    // Prepare
    s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 10, Metadata: {} });

    // Act
    await generate(sqsRecord(generateMessage({ seed: 77 })));

    // Assess
    expect(taskOutput()).toMatchObject({ seed: 77 });
  });

  it("takes a 403 for a missing object (no s3:ListBucket) and calls Bedrock", async () => {
    // Prepare
    s3Mock.on(HeadObjectCommand).rejects(awsError("Forbidden", "Forbidden", 403));

    // Act
    const response = await generate(sqsRecord(generateMessage()));

    // Assess
    expect(response).toEqual(DONE);
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(1);
    expect(taskOutput()).toMatchObject({ seed: REPORTED_SEED });
  });

  it("puts the message back when S3 cannot say, without calling Bedrock", async () => {
    // Prepare
    s3Mock.on(HeadObjectCommand).rejects(awsError("InternalError", "We encountered an internal error.", 500));

    // Act
    const response = await generate(sqsRecord(generateMessage()));

    // Assess
    expect(response).toEqual(PUT_BACK);
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(0);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    expect(sqsMock.commandCalls(ChangeMessageVisibilityCommand)).toHaveLength(1);
  });
});

describe("generateFromQueue 3: the RUNNING status", () => {
  it("sets RUNNING over WAITING or RUNNING only, keeping the first generatingSince and counting the Bedrock call", async () => {
    // Act
    await generate(sqsRecord(generateMessage()));

    // Assess
    expect(dynamodbMock.commandCalls(UpdateItemCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: { jobId: { S: "job-1" } },
      UpdateExpression:
        "SET #status = :running, #generatingSince = if_not_exists(#generatingSince, :now), #updatedAt = :now ADD #bedrockCalls :one",
      ConditionExpression: "#status IN (:waiting, :running)",
      ExpressionAttributeNames: {
        "#status": "status",
        "#generatingSince": "generatingSince",
        "#updatedAt": "updatedAt",
        "#bedrockCalls": "bedrockCalls",
      },
      ExpressionAttributeValues: {
        ":running": { S: "RUNNING" },
        ":waiting": { S: "WAITING" },
        ":now": { S: NOW.toISOString() },
        ":one": { N: "1" },
      },
    });
  });

  it.each([
    [
      "the condition failed (the record is final already)",
      new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} }),
      "INFO",
    ],
    ["DynamoDB failed", awsError("ProvisionedThroughputExceededException", "Throughput exceeded", 400), "WARN"],
  ])("goes on with the job when %s", async (_what, error, level) => {
    // Prepare
    dynamodbMock.on(UpdateItemCommand).rejects(error);

    // Act
    const response = await generate(sqsRecord(generateMessage()));

    // Assess
    expect(response).toEqual(DONE);
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(1);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
    expect(logged).toContainEqual({
      level,
      message: "Status not set to RUNNING",
      attributes: expect.objectContaining({ error: error.name }),
    });
  });
});

describe("generateFromQueue 4: Bedrock", () => {
  it.each([1, 4, MAX_RECEIVES - 1])(
    "puts a message throttled on receive %i back for THROTTLE_DELAY_SECONDS, answering nothing",
    async (receiveCount) => {
      // Prepare
      bedrockMock.on(InvokeModelCommand).rejects(awsError("ThrottlingException", "Too many requests", 429));

      // Act
      const response = await generate(sqsRecord(generateMessage(), receiveCount));

      // Assess
      expect(response).toEqual(PUT_BACK);
      expect(sqsMock.commandCalls(ChangeMessageVisibilityCommand)[0]?.args[0].input).toEqual({
        QueueUrl: QUEUE_URL,
        ReceiptHandle: `message-1-receipt-${receiveCount}`,
        VisibilityTimeout: THROTTLE_DELAY_SECONDS,
      });
      expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
      expect(sfnMock.commandCalls(SendTaskFailureCommand)).toHaveLength(0);
      expect(logged.at(-1)).toMatchObject({
        level: "INFO",
        message: `Bedrock throttled; the message comes back in ${THROTTLE_DELAY_SECONDS} s`,
        attributes: { receiveCount },
      });
    },
  );

  it("still reports the message for a retry when it cannot shorten its visibility", async () => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(awsError("ThrottlingException", "Too many requests", 429));
    sqsMock.on(ChangeMessageVisibilityCommand).rejects(awsError("ReceiptHandleIsInvalid", "expired", 400));

    // Act
    const response = await generate(sqsRecord(generateMessage(), 2));

    // Assess
    expect(response).toEqual(PUT_BACK);
    expect(logged.at(-1)).toMatchObject({ level: "WARN", message: "Could not shorten the message's visibility" });
  });

  it("fails the task with ThrottlingException on the queue's last receive, naming the receives in the cause", async () => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(awsError("ThrottlingException", "Too many requests", 429));

    // Act
    const response = await generate(sqsRecord(generateMessage(), MAX_RECEIVES));

    // Assess
    expect(response).toEqual(DONE);
    expect(taskFailure()).toEqual({
      taskToken: TOKEN,
      error: "ThrottlingException",
      cause: `Bedrock throttled this job on all ${MAX_RECEIVES} receives of its generate message: Too many requests`,
    });
    expect(sqsMock.commandCalls(ChangeMessageVisibilityCommand)).toHaveLength(0);
  });

  it.each([
    ["ModelTimeoutException", () => awsError("ModelTimeoutException", "Model timed out", 408), "Model timed out"],
    ["ModelUnavailable", modelEndOfLifeError, expect.stringContaining("deploy parameter modelId")],
    [
      "ServiceUnavailableException",
      () => awsError("InternalServerException", "Internal failure", 500),
      "InternalServerException: Internal failure",
    ],
  ])("fails the task with %s, the name the state machine retries or catches", async (name, makeError, cause) => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(makeError());

    // Act
    const response = await generate(sqsRecord(generateMessage()));

    // Assess
    expect(response).toEqual(DONE);
    expect(taskFailure()).toEqual({ taskToken: TOKEN, error: name, cause });
    expect(sqsMock.commandCalls(ChangeMessageVisibilityCommand)).toHaveLength(0);
  });

  it("fails the task with ContentBlocked for a content-filter refusal, and stages nothing", async () => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).resolves({ body: stabilityResponse(7, "Filter reason: prompt") } as never);

    // Act
    await generate(sqsRecord(generateMessage()));

    // Assess
    expect(taskFailure()).toMatchObject({ error: "ContentBlocked", cause: expect.stringContaining("Filter reason") });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it("keeps the cause within Step Functions' 32,768 characters", async () => {
    // Prepare: S3 refuses the staging write with a message longer than SendTaskFailure takes.
    s3Mock.on(PutObjectCommand).rejects(awsError("AccessDenied", "d".repeat(40_000), 403));

    // Act
    await generate(sqsRecord(generateMessage()));

    // Assess
    expect(taskFailure()).toMatchObject({ error: "AccessDenied", cause: "d".repeat(32_768) });
  });
});

describe("generateFromQueue 5: the answer", () => {
  it.each(["TaskTimedOut", "TaskDoesNotExist"])(
    "is done when SendTaskSuccess answers %s: the job ended without this image",
    async (name) => {
      // Prepare
      sfnMock.on(SendTaskSuccessCommand).rejects(awsError(name, "Task is over", 400));

      // Act
      const response = await generate(sqsRecord(generateMessage()));

      // Assess
      expect(response).toEqual(DONE);
      expect(logged.at(-1)).toMatchObject({
        level: "WARN",
        message: "The job's task ended before the generator answered",
      });
    },
  );

  it("is done when SendTaskFailure answers TaskDoesNotExist", async () => {
    // Prepare
    bedrockMock.on(InvokeModelCommand).rejects(awsError("ModelTimeoutException", "Model timed out", 408));
    sfnMock.on(SendTaskFailureCommand).rejects(awsError("TaskDoesNotExist", "Task Does Not Exist", 400));

    // Act + Assess
    await expect(generate(sqsRecord(generateMessage()))).resolves.toEqual(DONE);
  });

  it("puts the message back for a second when SendTaskSuccess fails otherwise", async () => {
    // Prepare
    sfnMock.on(SendTaskSuccessCommand).rejects(awsError("ServiceUnavailable", "Service unavailable", 503));

    // Act
    const response = await generate(sqsRecord(generateMessage()));

    // Assess: the image is staged, so the next receive answers from S3 (see "the staged image").
    expect(response).toEqual(PUT_BACK);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(1);
    expect(sqsMock.commandCalls(ChangeMessageVisibilityCommand).map((call) => call.args[0].input)).toEqual([
      expect.objectContaining({ VisibilityTimeout: THROTTLE_DELAY_SECONDS }),
    ]);
    expect(logged.at(-1)).toMatchObject({
      level: "WARN",
      message: `Could not answer Step Functions; the message comes back in ${THROTTLE_DELAY_SECONDS} s`,
    });
  });
});

describe("THROTTLE_DELAY_SECONDS", () => {
  it("is SQS's smallest visibility step: a refused message is back a second later, near the front", () => {
    expect(THROTTLE_DELAY_SECONDS).toBe(1);
  });
});

describe("parseGenerateMessage", () => {
  it("reads the body GenerateImage sends", () => {
    const message = generateMessage();
    expect(parseGenerateMessage(JSON.stringify(message))).toEqual(message);
  });

  it.each([
    ["not JSON", "{"],
    ["JSON null", "null"],
    ["a string", JSON.stringify("hello")],
    ["an array", "[]"],
    ["no task token", JSON.stringify({ jobId: "job-1", request: {} })],
    ["an empty task token", JSON.stringify({ taskToken: "", jobId: "job-1", request: {} })],
    ["a numeric jobId", JSON.stringify({ taskToken: TOKEN, jobId: 1, request: {} })],
    ["a null request", JSON.stringify({ taskToken: TOKEN, jobId: "job-1", request: null })],
  ])("refuses %s", (_what, body) => {
    expect(parseGenerateMessage(body)).toBeUndefined();
  });
});
