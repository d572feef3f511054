// Runs the real statemachine/image-pipeline.asl.json (aws-local-stepfunctions) with the real step cores, one test per
// path: happy, rejected, retried, caught, failed status writes, and the caller each record-creating write keeps (from
// the input's `pipeline` key). GenerateImage's waiting room runs the real generator (generateFromQueue) behind an
// in-memory model of the generate queue and its event source (pipeline-harness.ts), answering the runner's task
// tokens: throttles put back in the queue, the generator's SendTaskFailure errors retried or caught by the file's
// rules, a failed send, a heartbeat timeout, a redelivered message. Bedrock, S3, DynamoDB, SQS and Step Functions'
// SendTask* are aws-sdk-client-mock mocks here, so this proves the state machine's wiring, retries and catches and the
// generator's part in them, not the AWS services themselves (nor SQS's own delivery: see the model's limits). Retry
// intervals and visibility delays are scaled by 1/1000; attempts, backoff and the catch routing are the file's own.
import { BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { DynamoDBClient, UpdateItemCommand, type UpdateItemCommandInput } from "@aws-sdk/client-dynamodb";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand } from "@aws-sdk/client-sfn";
import { ChangeMessageVisibilityCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { type GenerateMessage, THROTTLE_DELAY_SECONDS } from "../../functions/shared/waiting-room";
import { awsError, bedrockImageResponse, modelEndOfLifeError, stabilityResponse } from "../fixtures/tiny-png";
import {
  BUCKET,
  failuresOf,
  GENERATE_QUEUE_URL,
  KEY_PREFIX,
  MODEL_ID,
  MODELS,
  type PipelineHarness,
  pipelineRunner,
  retriesOf,
  runJob,
  type SqsHandler,
  statesEntered,
  TABLE,
} from "./pipeline-harness";

const bedrock = mockClient(BedrockRuntimeClient);
const s3 = mockClient(S3Client);
const dynamodb = mockClient(DynamoDBClient);

/** The status an UpdateItem writes: the state machine's `:status`, or the generator's `:running`. */
function statusOf(input: UpdateItemCommandInput): string {
  const values = input.ExpressionAttributeValues;
  return values?.[":status"]?.S ?? values?.[":running"]?.S ?? "?";
}

/** The status values written, in order, by the state machine and the generator. */
function statusWrites(): string[] {
  return dynamodb.commandCalls(UpdateItemCommand).map((call) => statusOf(call.args[0].input));
}

function lastStatusWrite() {
  const calls = dynamodb.commandCalls(UpdateItemCommand);
  return calls.at(-1)?.args[0].input;
}

/** The generate messages GenerateImage sent, parsed, in order. */
function generateMessages(harness: PipelineHarness): GenerateMessage[] {
  return harness.sqs
    .commandCalls(SendMessageCommand)
    .map((call) => JSON.parse(call.args[0].input.MessageBody ?? "") as GenerateMessage);
}

/** A failure with no answer from the service, as the SDK reports a reset connection. */
function connectionReset(): Error {
  return Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

beforeEach(() => {
  bedrock.reset();
  s3.reset();
  dynamodb.reset();
  bedrock.on(InvokeModelCommand).resolves({ body: bedrockImageResponse() } as never);
  // No image staged yet: the generator calls Bedrock.
  s3.on(HeadObjectCommand).rejects(awsError("NotFound", "Not Found", 404));
  s3.on(PutObjectCommand).resolves({});
  s3.on(CopyObjectCommand).resolves({});
  s3.on(DeleteObjectCommand).resolves({});
  dynamodb.on(UpdateItemCommand).resolves({});
});

describe("happy path", () => {
  it("validates, records WAITING, generates once through the waiting room, promotes the image and records SUCCEEDED", async () => {
    const { outcome, events } = await runJob(pipelineRunner(), "job-happy", { prompt: "  the Eiffel tower at dusk  " });

    expect(outcome.status).toBe("SUCCEEDED");
    expect(statesEntered(events)).toEqual([
      "ValidatePrompt",
      "RecordRunning",
      "GenerateImage",
      "StoreImage",
      "RecordSucceeded",
      "Succeeded",
    ]);
    expect(statusWrites()).toEqual(["WAITING", "RUNNING", "SUCCEEDED"]);
    const waiting = dynamodb.commandCalls(UpdateItemCommand)[0]?.args[0].input;
    expect(waiting).toMatchObject({
      TableName: TABLE,
      Key: { jobId: { S: "job-happy" } },
      ExpressionAttributeValues: expect.objectContaining({
        ":status": { S: "WAITING" },
        ":prompt": { S: "the Eiffel tower at dusk" },
        ":source": { S: "api" },
        ":modelId": { S: MODEL_ID },
        ":aspectRatio": { S: "1:1" },
        ":outputFormat": { S: "png" },
      }),
    });
    expect(lastStatusWrite()?.ExpressionAttributeValues?.[":s3Uri"]).toEqual({
      S: `s3://${BUCKET}/${KEY_PREFIX}/generated_images/job-happy.png`,
    });
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toMatchObject({
      Bucket: BUCKET,
      Key: `${KEY_PREFIX}/staging/job-happy.png`,
      ContentType: "image/png",
    });
    expect(s3.commandCalls(CopyObjectCommand)[0]?.args[0].input).toMatchObject({
      Key: `${KEY_PREFIX}/generated_images/job-happy.png`,
      CopySource: `${BUCKET}/${KEY_PREFIX}/staging/job-happy.png`,
    });
    expect(s3.commandCalls(DeleteObjectCommand)[0]?.args[0].input.Key).toBe(`${KEY_PREFIX}/staging/job-happy.png`);
  });

  it("writes a JPEG under .jpg keys and records the seed the model reports, not the one asked", async () => {
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]).toString("base64");
    bedrock.on(InvokeModelCommand).resolves({ body: stabilityResponse(987_654, null, jpeg) } as never);

    const { outcome } = await runJob(pipelineRunner(), "job-jpeg", {
      prompt: "Matterhorn",
      seed: 0,
      aspectRatio: "16:9",
      outputFormat: "jpeg",
    });

    expect(outcome.status).toBe("SUCCEEDED");
    const body = JSON.parse(String(bedrock.commandCalls(InvokeModelCommand)[0]?.args[0].input.body));
    expect(body).toMatchObject({ seed: 0, aspect_ratio: "16:9", output_format: "jpeg" });
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toMatchObject({
      Key: `${KEY_PREFIX}/staging/job-jpeg.jpg`,
      ContentType: "image/jpeg",
    });
    expect(s3.commandCalls(CopyObjectCommand)[0]?.args[0].input.Key).toBe(
      `${KEY_PREFIX}/generated_images/job-jpeg.jpg`,
    );
    expect(lastStatusWrite()?.ExpressionAttributeValues).toMatchObject({
      ":s3Uri": { S: `s3://${BUCKET}/${KEY_PREFIX}/generated_images/job-jpeg.jpg` },
      ":seed": { N: "987654" },
    });
  });

  it("generates with the model a request names, when the deployment allows it", async () => {
    const { outcome } = await runJob(pipelineRunner(), "job-ultra", {
      prompt: "Angkor Wat",
      model: "stability.stable-image-ultra-v1:1",
    });

    expect(outcome.status).toBe("SUCCEEDED");
    expect(bedrock.commandCalls(InvokeModelCommand)[0]?.args[0].input.modelId).toBe(
      "stability.stable-image-ultra-v1:1",
    );
    expect(dynamodb.commandCalls(UpdateItemCommand)[0]?.args[0].input.ExpressionAttributeValues?.[":modelId"]).toEqual({
      S: "stability.stable-image-ultra-v1:1",
    });
  });

  it("keeps the image bytes out of the state payload", async () => {
    const { events } = await runJob(pipelineRunner(), "job-small-state", { prompt: "a fjord" });
    const generated = events.find((event) => event.type === "StateExited" && event.state?.name === "GenerateImage");
    expect(JSON.stringify(generated?.state?.output)).not.toContain("iVBOR");
    expect(generated?.state?.output).toMatchObject({
      image: { stagingKey: `${KEY_PREFIX}/staging/job-small-state.png` },
    });
  });
});

describe("invalid prompt", () => {
  it("records REJECTED with the validation message and ends in the Rejected succeed state (not a failed execution) without calling Bedrock", async () => {
    const { outcome, events } = await runJob(pipelineRunner(), "job-rejected", { prompt: "   " });

    expect(outcome.status).toBe("SUCCEEDED");
    expect(statesEntered(events)).toEqual(["ValidatePrompt", "RecordRejected", "Rejected"]);
    expect(statusWrites()).toEqual(["REJECTED"]);
    const cause = lastStatusWrite()?.ExpressionAttributeValues?.[":cause"]?.S ?? "";
    expect(JSON.parse(cause)).toMatchObject({
      errorType: "InvalidPrompt",
      errorMessage: expect.stringContaining('"prompt" is empty'),
    });
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(0);
  });

  it("rejects an execution input that is not a request (a number as prompt)", async () => {
    const { outcome } = await runJob(pipelineRunner(), "job-number", { prompt: 42 });
    expect(outcome.status).toBe("SUCCEEDED");
    expect(statusWrites()).toEqual(["REJECTED"]);
  });
});

describe("GenerateImage: the waiting room", () => {
  it("records WAITING with waitingSince before the job enters the waiting room; the generator then records RUNNING", async () => {
    // Act
    const { outcome } = await runJob(pipelineRunner(), "job-waiting", { prompt: "Mont Saint-Michel" });

    // Assess
    expect(outcome.status).toBe("SUCCEEDED");
    expect(statusWrites()).toEqual(["WAITING", "RUNNING", "SUCCEEDED"]);
    const [waiting, running] = dynamodb.commandCalls(UpdateItemCommand).map((call) => call.args[0].input);
    expect(waiting?.UpdateExpression).toContain("#waitingSince = :updatedAt");
    expect(waiting?.ExpressionAttributeNames?.["#waitingSince"]).toBe("waitingSince");
    expect(Number.isNaN(Date.parse(waiting?.ExpressionAttributeValues?.[":updatedAt"]?.S ?? ""))).toBe(false);
    expect(running).toMatchObject({
      TableName: TABLE,
      Key: { jobId: { S: "job-waiting" } },
      ConditionExpression: "#status IN (:waiting, :running)",
    });
  });

  it("sends the job to the generate queue with a task token and continues with what the generator answers", async () => {
    // Prepare
    const harness = pipelineRunner();

    // Act
    const { outcome, events } = await runJob(harness, "job-message", { prompt: "Lofoten", seed: 11 });

    // Assess
    expect(outcome.status).toBe("SUCCEEDED");
    expect(harness.sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.QueueUrl).toBe(GENERATE_QUEUE_URL);
    const [message] = generateMessages(harness);
    expect(message).toMatchObject({
      taskToken: expect.any(String),
      jobId: "job-message",
      request: { prompt: "Lofoten", modelId: MODEL_ID, seed: 11 },
    });
    // One receive: a heartbeat on taking it, then the answer with the token it carried.
    expect(harness.waitingRoom.deliveries).toEqual([{ messageId: expect.any(String), receiveCount: 1 }]);
    expect(harness.sfn.commandCalls(SendTaskHeartbeatCommand)[0]?.args[0].input.taskToken).toBe(message?.taskToken);
    const answer = harness.sfn.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input;
    expect(answer?.taskToken).toBe(message?.taskToken);
    const generated = events.find((event) => event.type === "StateExited" && event.state?.name === "GenerateImage");
    expect(generated?.state?.output).toMatchObject({ image: JSON.parse(answer?.output ?? "{}") });
  });

  it("absorbs a Bedrock throttle storm in the queue: the message comes back, no state-machine retry, one send", async () => {
    // Prepare
    bedrock
      .on(InvokeModelCommand)
      .rejectsOnce(awsError("ThrottlingException", "Too many requests", 429))
      .rejectsOnce(awsError("ThrottlingException", "Too many requests", 429))
      .rejectsOnce(awsError("ThrottlingException", "Too many requests", 429))
      .resolves({ body: bedrockImageResponse() } as never);
    const harness = pipelineRunner();

    // Act
    const { outcome, events } = await runJob(harness, "job-throttled", { prompt: "Machu Picchu" });

    // Assess
    expect(outcome.status).toBe("SUCCEEDED");
    expect(failuresOf(events, "GenerateImage")).toEqual([]);
    expect(harness.sqs.commandCalls(SendMessageCommand)).toHaveLength(1);
    expect(harness.waitingRoom.deliveries.map((delivery) => delivery.receiveCount)).toEqual([1, 2, 3, 4]);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(4);
    expect(harness.metrics.get("bedrockThrottles")).toBe(3);
    // Each throttle made the message visible again after THROTTLE_DELAY_SECONDS, not the queue's visibility timeout.
    expect(
      harness.sqs.commandCalls(ChangeMessageVisibilityCommand).map((call) => call.args[0].input.VisibilityTimeout),
    ).toEqual([THROTTLE_DELAY_SECONDS, THROTTLE_DELAY_SECONDS, THROTTLE_DELAY_SECONDS]);
    expect(harness.sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
    expect(statusWrites()).toEqual(["WAITING", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"]);
  });

  it("fails the task with ThrottlingException when Bedrock throttles every receive: RecordFailed keeps the cause", async () => {
    // Prepare: the queue's maxReceiveCount lowered to 5, so the test does not wait out GENERATE_MAX_RECEIVES.
    bedrock.on(InvokeModelCommand).rejects(awsError("ThrottlingException", "Rate exceeded", 429));
    const harness = pipelineRunner({}, { maxReceives: 5 });

    // Act
    const { outcome, events } = await runJob(harness, "job-throttled-out", { prompt: "Petra at night" });

    // Assess
    expect(outcome).toMatchObject({ status: "FAILED", error: "ThrottlingException" });
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(5);
    expect(harness.sqs.commandCalls(ChangeMessageVisibilityCommand)).toHaveLength(4);
    // The generator failed the task on the last receive: nothing went to the DLQ, nothing was retried.
    expect(harness.waitingRoom.deadLetters).toEqual([]);
    expect(failuresOf(events, "GenerateImage")).toEqual(["ThrottlingException"]);
    expect(retriesOf(events, "GenerateImage")).toHaveLength(0);
    expect(statesEntered(events).slice(-2)).toEqual(["RecordFailed", "Failed"]);
    const values = lastStatusWrite()?.ExpressionAttributeValues;
    expect(values?.[":status"]).toEqual({ S: "FAILED" });
    expect(values?.[":error"]).toEqual({ S: "ThrottlingException" });
    expect(values?.[":cause"]?.S).toBe(
      "Bedrock throttled this job on all 5 receives of its generate message: Rate exceeded",
    );
  });

  it("retries ModelTimeoutException with a new message and a new task token, then succeeds", async () => {
    // Prepare
    bedrock
      .on(InvokeModelCommand)
      .rejectsOnce(awsError("ModelTimeoutException", "Model timed out", 408))
      .resolves({ body: bedrockImageResponse() } as never);
    const harness = pipelineRunner();

    // Act
    const { outcome, events } = await runJob(harness, "job-model-timeout", { prompt: "Taj Mahal" });

    // Assess
    expect(outcome.status).toBe("SUCCEEDED");
    expect(failuresOf(events, "GenerateImage")).toEqual(["ModelTimeoutException"]);
    expect(retriesOf(events, "GenerateImage")).toHaveLength(1);
    expect(harness.sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input).toMatchObject({
      error: "ModelTimeoutException",
      cause: "Model timed out",
    });
    const messages = generateMessages(harness);
    expect(messages.map((message) => message.jobId)).toEqual(["job-model-timeout", "job-model-timeout"]);
    expect(messages[1]?.taskToken).not.toBe(messages[0]?.taskToken);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(2);
  });

  it.each([
    ["ServiceUnavailableException", 503],
    ["ModelNotReadyException", 429],
  ])("retries %s the same way", async (name, status) => {
    // Prepare
    bedrock
      .on(InvokeModelCommand)
      .rejectsOnce(awsError(name, "transient", status))
      .resolves({ body: bedrockImageResponse() } as never);

    // Act
    const { outcome, events } = await runJob(pipelineRunner(), `job-${name}`, { prompt: "Taj Mahal" });

    // Assess
    expect(outcome.status).toBe("SUCCEEDED");
    expect(failuresOf(events, "GenerateImage")).toEqual([name]);
    expect(retriesOf(events, "GenerateImage")).toHaveLength(1);
  });

  it("gives up after 1 + 8 model timeouts and records FAILED with the generator's cause", async () => {
    // Prepare
    bedrock.on(InvokeModelCommand).rejects(awsError("ModelTimeoutException", "Model timed out", 408));
    const harness = pipelineRunner();

    // Act
    const { outcome, events } = await runJob(harness, "job-model-timeout-out", { prompt: "Chichen Itza" });

    // Assess
    expect(outcome).toMatchObject({ status: "FAILED", error: "ModelTimeoutException" });
    expect(retriesOf(events, "GenerateImage")).toHaveLength(8);
    expect(harness.sqs.commandCalls(SendMessageCommand)).toHaveLength(9);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(9);
    expect(statesEntered(events).slice(-2)).toEqual(["RecordFailed", "Failed"]);
    const values = lastStatusWrite()?.ExpressionAttributeValues;
    expect(values?.[":error"]).toEqual({ S: "ModelTimeoutException" });
    expect(values?.[":cause"]).toEqual({ S: "Model timed out" });
  });

  it("records a Stability content-filter refusal (finish reason) as REJECTED with the reason: one call, no image", async () => {
    // Prepare
    bedrock.on(InvokeModelCommand).resolves({ body: stabilityResponse(7, "Filter reason: prompt") } as never);

    // Act
    const { outcome, events } = await runJob(pipelineRunner(), "job-blocked", { prompt: "something blocked" });

    // Assess
    expect(outcome.status).toBe("SUCCEEDED");
    expect(statesEntered(events).slice(-3)).toEqual(["GenerateImage", "RecordRejected", "Rejected"]);
    expect(statusWrites()).toEqual(["WAITING", "RUNNING", "REJECTED"]);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
    expect(retriesOf(events, "GenerateImage")).toHaveLength(0);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(lastStatusWrite()?.ExpressionAttributeValues?.[":error"]).toEqual({ S: "ContentBlocked" });
    expect(lastStatusWrite()?.ExpressionAttributeValues?.[":cause"]?.S).toContain("Filter reason: prompt");
  });

  it("records a legacy model's content-filter refusal (ValidationException) as REJECTED too", async () => {
    // Prepare
    bedrock
      .on(InvokeModelCommand)
      .rejects(awsError("ValidationException", "This request has been blocked by our content filters.", 400));

    // Act
    const { outcome } = await runJob(pipelineRunner(), "job-blocked-nova", {
      prompt: "something blocked",
      model: "amazon.nova-canvas-v1:0",
    });

    // Assess
    expect(outcome.status).toBe("SUCCEEDED");
    expect(statusWrites()).toEqual(["WAITING", "RUNNING", "REJECTED"]);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
  });

  it("fails an end-of-life model at once with a message that names the deploy parameter to change", async () => {
    // Prepare
    bedrock.on(InvokeModelCommand).rejects(modelEndOfLifeError());

    // Act
    const { outcome, events } = await runJob(pipelineRunner(), "job-eol", { prompt: "Petra" });

    // Assess
    expect(outcome).toMatchObject({ status: "FAILED", error: "ModelUnavailable" });
    expect(retriesOf(events, "GenerateImage")).toHaveLength(0);
    expect(statusWrites()).toEqual(["WAITING", "RUNNING", "FAILED"]);
    const cause = lastStatusWrite()?.ExpressionAttributeValues?.[":cause"]?.S ?? "";
    expect(cause).toContain("end of its life");
    expect(cause).toContain("deploy parameter modelId");
  });

  it("does not retry another Bedrock validation error", async () => {
    // Prepare
    bedrock.on(InvokeModelCommand).rejects(awsError("ValidationException", "width must be a multiple of 16", 400));

    // Act
    const { outcome } = await runJob(pipelineRunner(), "job-bedrock-validation", { prompt: "Big Ben" });

    // Assess
    expect(outcome).toMatchObject({ status: "FAILED", error: "BedrockValidation" });
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
  });

  it("retries a send to the generate queue that failed (SQS.SdkClientException), then succeeds", async () => {
    // Prepare
    const harness = pipelineRunner(
      {},
      { fault: (call, count) => (call === "SendMessage" && count <= 2 ? connectionReset() : undefined) },
    );

    // Act
    const { outcome, events } = await runJob(harness, "job-send-retried", { prompt: "Uluru" });

    // Assess
    expect(outcome.status).toBe("SUCCEEDED");
    expect(failuresOf(events, "GenerateImage")).toEqual(["SQS.SdkClientException", "SQS.SdkClientException"]);
    expect(retriesOf(events, "GenerateImage")).toHaveLength(2);
    // Only the send that got through reached the generator.
    expect(harness.waitingRoom.deliveries).toHaveLength(1);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
  });

  it("gives up after 1 + 6 failed sends and records FAILED without calling Bedrock", async () => {
    // Prepare
    const harness = pipelineRunner({}, { fault: (call) => (call === "SendMessage" ? connectionReset() : undefined) });

    // Act
    const { outcome, events } = await runJob(harness, "job-send-failed", { prompt: "Uluru" });

    // Assess
    expect(outcome).toMatchObject({ status: "FAILED", error: "SQS.SdkClientException" });
    expect(retriesOf(events, "GenerateImage")).toHaveLength(6);
    expect(harness.sqs.commandCalls(SendMessageCommand)).toHaveLength(7);
    expect(harness.waitingRoom.deliveries).toHaveLength(0);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(0);
    expect(statusWrites()).toEqual(["WAITING", "FAILED"]);
    expect(lastStatusWrite()?.ExpressionAttributeValues?.[":cause"]).toEqual({ S: "socket hang up" });
  });

  it("fails the task with States.HeartbeatTimeout when the generator takes the message and never answers", async () => {
    // Prepare: a generator that lets the message go without a heartbeat or an answer; HeartbeatSeconds 1, not 1200.
    const swallow = (): SqsHandler => async () => ({ batchItemFailures: [] });
    const harness = pipelineRunner({}, { heartbeatSeconds: 1, wrapGenerator: swallow });

    // Act
    const { outcome, events } = await runJob(harness, "job-heartbeat", { prompt: "Meteora" });

    // Assess
    expect(outcome).toMatchObject({ status: "FAILED", error: "States.HeartbeatTimeout" });
    expect(harness.waitingRoom.deliveries).toHaveLength(1);
    expect(failuresOf(events, "GenerateImage")).toEqual(["States.HeartbeatTimeout"]);
    expect(retriesOf(events, "GenerateImage")).toHaveLength(0);
    expect(statesEntered(events).slice(-2)).toEqual(["RecordFailed", "Failed"]);
    expect(statusWrites()).toEqual(["WAITING", "FAILED"]);
    expect(lastStatusWrite()?.ExpressionAttributeValues?.[":error"]).toEqual({ S: "States.HeartbeatTimeout" });
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(0);
  });

  it("finishes the job on the next receive when a generator dies holding the message", async () => {
    // Prepare: the first invocation dies before doing anything; the message comes back after the visibility timeout.
    let invocations = 0;
    const diesOnce =
      (generator: SqsHandler): SqsHandler =>
      async (event) => {
        invocations += 1;
        if (invocations === 1) throw new Error("Runtime exited with error: signal: killed");
        return generator(event);
      };
    const harness = pipelineRunner({}, { wrapGenerator: diesOnce });

    // Act
    const { outcome, events } = await runJob(harness, "job-generator-died", { prompt: "Bagan" });

    // Assess
    expect(outcome.status).toBe("SUCCEEDED");
    expect(harness.waitingRoom.deliveries.map((delivery) => delivery.receiveCount)).toEqual([1, 2]);
    expect(retriesOf(events, "GenerateImage")).toHaveLength(0);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
  });

  it("answers a redelivered message from the image already staged, without paying Bedrock twice", async () => {
    // Prepare: the first answer fails (Step Functions unreachable) after the image was staged; S3 then has it.
    s3.on(HeadObjectCommand)
      .rejectsOnce(awsError("NotFound", "Not Found", 404))
      .resolves({ ContentLength: 68, Metadata: { seed: "4242" } });
    const harness = pipelineRunner(
      {},
      { fault: (call, count) => (call === "SendTaskSuccess" && count === 1 ? connectionReset() : undefined) },
    );

    // Act
    const { outcome, events } = await runJob(harness, "job-redelivered", { prompt: "Cappadocia", seed: 0 });

    // Assess
    expect(outcome.status).toBe("SUCCEEDED");
    expect(harness.waitingRoom.deliveries.map((delivery) => delivery.receiveCount)).toEqual([1, 2]);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(1);
    expect(retriesOf(events, "GenerateImage")).toHaveLength(0);
    const answers = harness.sfn
      .commandCalls(SendTaskSuccessCommand)
      .map((call) => JSON.parse(call.args[0].input.output ?? ""));
    expect(answers).toHaveLength(2);
    expect(answers[1]).toEqual({
      bucket: BUCKET,
      stagingKey: `${KEY_PREFIX}/staging/job-redelivered.png`,
      bytes: 68,
      seed: 4242,
      modelId: MODEL_ID,
      aspectRatio: "1:1",
      outputFormat: "png",
    });
    expect(lastStatusWrite()?.ExpressionAttributeValues?.[":seed"]).toEqual({ N: "4242" });
  });
});

describe("GenerateImage: the waiting room's concurrency", () => {
  it("queues a burst past bedrockConcurrency: one Bedrock call at a time, no retry, every job SUCCEEDED", async () => {
    // Prepare: one slot, four jobs at once, each Bedrock call taking a little while.
    let calling = 0;
    let mostAtOnce = 0;
    bedrock.on(InvokeModelCommand).callsFake(async () => {
      calling += 1;
      mostAtOnce = Math.max(mostAtOnce, calling);
      await sleep(20);
      calling -= 1;
      return { body: bedrockImageResponse() };
    });
    const harness = pipelineRunner({}, { bedrockConcurrency: 1 });

    // Act
    const jobs = await Promise.all(
      ["a", "b", "c", "d"].map((suffix) => runJob(harness, `job-burst-${suffix}`, { prompt: `Stonehenge ${suffix}` })),
    );

    // Assess
    expect(jobs.map((job) => job.outcome.status)).toEqual(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]);
    expect(mostAtOnce).toBe(1);
    expect(jobs.flatMap((job) => failuresOf(job.events, "GenerateImage"))).toEqual([]);
    expect(harness.waitingRoom.deliveries).toHaveLength(4);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(4);
  });

  it("absorbs the throttles of a quota smaller than bedrockConcurrency: every job SUCCEEDED, each image paid once", async () => {
    // Prepare: three slots, but Bedrock serves one call at a time and throttles any other.
    let calling = 0;
    let throttled = 0;
    bedrock.on(InvokeModelCommand).callsFake(async () => {
      if (calling > 0) {
        throttled += 1;
        throw awsError("ThrottlingException", "Too many requests, please wait before trying again.", 429);
      }
      calling += 1;
      await sleep(10);
      calling -= 1;
      return { body: bedrockImageResponse() };
    });
    const harness = pipelineRunner({}, { bedrockConcurrency: 3 });

    // Act
    const jobs = await Promise.all(
      ["a", "b", "c", "d", "e", "f"].map((suffix) =>
        runJob(harness, `job-quota-${suffix}`, { prompt: `Bryce Canyon ${suffix}` }),
      ),
    );

    // Assess
    expect(jobs.map((job) => job.outcome.status)).toEqual(Array(6).fill("SUCCEEDED"));
    expect(jobs.flatMap((job) => failuresOf(job.events, "GenerateImage"))).toEqual([]);
    expect(throttled).toBeGreaterThan(0);
    expect(harness.metrics.get("bedrockThrottles")).toBe(throttled);
    expect(harness.sqs.commandCalls(ChangeMessageVisibilityCommand)).toHaveLength(throttled);
    expect(harness.metrics.get("imagesGenerated")).toBe(6);
    expect(harness.sqs.commandCalls(SendMessageCommand)).toHaveLength(6);
  });
});

describe("Lambda service errors", () => {
  it("retries Lambda.TooManyRequestsException on a task and goes on", async () => {
    let calls = 0;
    const runner = pipelineRunner({
      validate: async (event) => {
        calls += 1;
        if (calls === 1) {
          const error = new Error("Rate exceeded");
          error.name = "Lambda.TooManyRequestsException";
          throw error;
        }
        const { validatePromptStep } = await import("../../functions/validate-prompt/validate-prompt");
        return validatePromptStep(event as never, { models: MODELS, retentionDays: 30 });
      },
    });
    const { outcome, events } = await runJob(runner, "job-lambda-throttled", { prompt: "Colosseum" });
    expect(outcome.status).toBe("SUCCEEDED");
    expect(retriesOf(events, "ValidatePrompt")).toHaveLength(1);
  });

  it("records FAILED when a step fails with an unexpected error", async () => {
    const runner = pipelineRunner({
      validate: async () => {
        throw new TypeError("Cannot read properties of undefined");
      },
    });
    const { outcome, events } = await runJob(runner, "job-validate-crash", { prompt: "Acropolis" });
    expect(outcome).toMatchObject({ status: "FAILED", error: "TypeError" });
    expect(retriesOf(events, "ValidatePrompt")).toHaveLength(0);
    expect(statusWrites()).toEqual(["FAILED"]);
  });
});

describe("StoreImage", () => {
  it("retries a transient S3 failure of the promote step without calling Bedrock again", async () => {
    s3.on(CopyObjectCommand)
      .rejectsOnce(awsError("ServiceUnavailable", "Please reduce your request rate.", 503))
      .rejectsOnce(awsError("SlowDown", "Please reduce your request rate.", 503))
      .resolves({});

    const { outcome, events } = await runJob(pipelineRunner(), "job-s3-503", { prompt: "Sydney opera house" });

    expect(outcome.status).toBe("SUCCEEDED");
    expect(retriesOf(events, "StoreImage")).toHaveLength(2);
    expect(
      events.filter((e) => e.type === "StateFailed" && e.state?.name === "StoreImage").map((e) => e.Error),
    ).toEqual(["S3TransientError", "S3TransientError"]);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
    expect(s3.commandCalls(CopyObjectCommand)).toHaveLength(3);
    expect(statusWrites()).toEqual(["WAITING", "RUNNING", "SUCCEEDED"]);
  });

  it("fails without retrying on a permanent S3 error (access denied) and records FAILED", async () => {
    s3.on(CopyObjectCommand).rejects(awsError("AccessDenied", "Access Denied", 403));
    const { outcome, events } = await runJob(pipelineRunner(), "job-s3-denied", { prompt: "Louvre" });
    expect(outcome).toMatchObject({ status: "FAILED", error: "S3Error" });
    expect(retriesOf(events, "StoreImage")).toHaveLength(0);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
    expect(statusWrites()).toEqual(["WAITING", "RUNNING", "FAILED"]);
  });

  it("gives up after 1 + 6 transient failures and records FAILED", async () => {
    s3.on(CopyObjectCommand).rejects(awsError("InternalError", "We encountered an internal error.", 500));
    const { outcome, events } = await runJob(pipelineRunner(), "job-s3-down", { prompt: "Alhambra" });
    expect(outcome).toMatchObject({ status: "FAILED", error: "S3TransientError" });
    expect(retriesOf(events, "StoreImage")).toHaveLength(6);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
  });
});

describe("status writes", () => {
  it("retries a throttled status write and goes on", async () => {
    dynamodb
      .on(UpdateItemCommand)
      .rejectsOnce(awsError("ProvisionedThroughputExceededException", "Throughput exceeded", 400))
      .resolves({});
    const { outcome, events } = await runJob(pipelineRunner(), "job-ddb-throttled", { prompt: "Angkor Wat" });
    expect(outcome.status).toBe("SUCCEEDED");
    const failed = events.find((e) => e.type === "StateFailed" && e.state?.name === "RecordRunning");
    expect(failed?.Error).toBe("DynamoDB.ProvisionedThroughputExceededException");
    expect(retriesOf(events, "RecordRunning")).toHaveLength(1);
  });

  it("records FAILED when RecordRunning keeps failing, before the job enters the waiting room", async () => {
    // Prepare: every WAITING write fails; the FAILED write goes through.
    dynamodb.on(UpdateItemCommand).callsFake((input: UpdateItemCommandInput) => {
      if (statusOf(input) === "WAITING") throw awsError("InternalServerError", "Internal server error", 500);
      return {};
    });
    const harness = pipelineRunner();

    // Act
    const { outcome, events } = await runJob(harness, "job-ddb-no-record", { prompt: "Borobudur" });

    // Assess
    expect(outcome).toMatchObject({ status: "FAILED", error: "DynamoDB.InternalServerError" });
    expect(retriesOf(events, "RecordRunning")).toHaveLength(5);
    expect(statesEntered(events)).toEqual(["ValidatePrompt", "RecordRunning", "RecordFailed", "Failed"]);
    expect(statusWrites()).toEqual([...Array(6).fill("WAITING"), "FAILED"]);
    expect(harness.sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
  });

  it("fails the execution itself when RecordRejected cannot write (it has no catch: the alarm reports it)", async () => {
    // Prepare
    dynamodb.on(UpdateItemCommand).rejects(awsError("InternalServerError", "Internal server error", 500));

    // Act
    const { outcome, events } = await runJob(pipelineRunner(), "job-ddb-no-rejection", { prompt: "   " });

    // Assess
    expect(outcome).toMatchObject({ status: "FAILED", error: "DynamoDB.InternalServerError" });
    expect(retriesOf(events, "RecordRejected")).toHaveLength(5);
    expect(statesEntered(events).at(-1)).toBe("RecordRejected");
  });

  it("records FAILED when RecordSucceeded keeps failing, with the DynamoDB error as the cause", async () => {
    // WAITING, RUNNING and FAILED are written; every SUCCEEDED write fails.
    dynamodb.on(UpdateItemCommand).callsFake((input: UpdateItemCommandInput) => {
      if (statusOf(input) === "SUCCEEDED") {
        throw awsError("InternalServerError", "Internal server error", 500);
      }
      return {};
    });

    const { outcome, events } = await runJob(pipelineRunner(), "job-ddb-down", { prompt: "Hagia Sophia" });

    expect(outcome).toMatchObject({ status: "FAILED", error: "DynamoDB.InternalServerError" });
    expect(statesEntered(events).slice(-3)).toEqual(["RecordSucceeded", "RecordFailed", "Failed"]);
    expect(retriesOf(events, "RecordSucceeded")).toHaveLength(5);
    expect(statusWrites()).toEqual(["WAITING", "RUNNING", ...Array(6).fill("SUCCEEDED"), "FAILED"]);
    expect(lastStatusWrite()?.ExpressionAttributeValues?.[":error"]).toEqual({ S: "DynamoDB.InternalServerError" });
  });

  it("fails the execution itself when even RecordFailed cannot write (the alarm and EventBridge rule report it)", async () => {
    bedrock.on(InvokeModelCommand).rejects(awsError("ValidationException", "width must be a multiple of 16", 400));
    dynamodb
      .on(UpdateItemCommand)
      .resolvesOnce({})
      .rejects(awsError("ProvisionedThroughputExceededException", "Throughput exceeded", 400));

    const { outcome, events } = await runJob(pipelineRunner(), "job-ddb-gone", { prompt: "Notre-Dame" });

    expect(outcome).toMatchObject({ status: "FAILED", error: "DynamoDB.ProvisionedThroughputExceededException" });
    expect(retriesOf(events, "RecordFailed")).toHaveLength(5);
    expect(statesEntered(events).at(-1)).toBe("RecordFailed");
  });
});

describe("the caller who started the job", () => {
  const caller = "apiKey:key-a";

  /** The caller each status write set, by the status it wrote (undefined: the write left the caller alone). */
  function callersWritten(): Record<string, string | undefined> {
    return Object.fromEntries(
      dynamodb.commandCalls(UpdateItemCommand).map(({ args: [{ input }] }) => {
        const setsCaller =
          input.UpdateExpression?.includes("#caller = :caller") &&
          input.ExpressionAttributeNames?.["#caller"] === "caller";
        return [statusOf(input), setsCaller ? input.ExpressionAttributeValues?.[":caller"]?.S : undefined];
      }),
    );
  }

  it("is written to the record by RecordRunning, from the execution input's pipeline key", async () => {
    const { outcome } = await runJob(pipelineRunner(), "job-owned", { prompt: "a lighthouse", pipeline: { caller } });

    expect(outcome.status).toBe("SUCCEEDED");
    expect(callersWritten()).toEqual({ WAITING: caller, RUNNING: undefined, SUCCEEDED: undefined });
  });

  it("is written by RecordRejected, which creates the record of an invalid request", async () => {
    const { outcome } = await runJob(pipelineRunner(), "job-owned-rejected", { prompt: "   ", pipeline: { caller } });

    expect(outcome.status).toBe("SUCCEEDED");
    expect(callersWritten()).toEqual({ REJECTED: caller });
  });

  it("is written by RecordFailed, which may create the record when ValidatePrompt fails", async () => {
    const runner = pipelineRunner({
      validate: async () => {
        throw new TypeError("Cannot read properties of undefined");
      },
    });

    const { outcome } = await runJob(runner, "job-owned-failed", { prompt: "Acropolis", pipeline: { caller } });

    expect(outcome).toMatchObject({ status: "FAILED", error: "TypeError" });
    expect(callersWritten()).toEqual({ FAILED: caller });
  });

  it("is not taken from a request field of the same name", async () => {
    const { outcome } = await runJob(pipelineRunner(), "job-spoofed", {
      prompt: "a lighthouse",
      caller: "apiKey:someone-else",
      pipeline: { caller },
    });

    expect(outcome.status).toBe("SUCCEEDED");
    expect(callersWritten().WAITING).toBe(caller);
  });
});

describe("input the SQS adapter could not read as a request", () => {
  it.each([
    ["too large", { oversizedBodyBytes: 300_000 }, /^The message body is 300000 bytes; at most 81920 bytes/],
    ["nested too deep", { bodyNestingDepth: 5001 }, /^The message body is nested 5001 levels deep; at most 20 levels/],
  ])("a body %s ends REJECTED with the limit as the cause, without calling Bedrock", async (_what, facts, message) => {
    const { outcome } = await runJob(pipelineRunner(), "job-unreadable", {
      source: "sqs",
      pipeline: { caller: "queue:arn:aws:sqs:eu-west-1:123456789012:image-requests", ...facts },
    });

    expect(outcome.status).toBe("SUCCEEDED");
    expect(statusWrites()).toEqual(["REJECTED"]);
    const cause = lastStatusWrite()?.ExpressionAttributeValues?.[":cause"]?.S ?? "";
    expect(JSON.parse(cause).errorMessage).toMatch(message);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(0);
  });
});
