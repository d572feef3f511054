// Runs the real statemachine/image-pipeline.asl.json (aws-local-stepfunctions) with the real step cores, one test per
// path: happy, rejected, retried, caught, failed status writes, and the caller each record-creating write keeps (from
// the input's `pipeline` key). Bedrock, S3 and DynamoDB are aws-sdk-client-mock mocks here, so this proves the state
// machine's wiring, retries and catches, not the AWS services themselves. Retry intervals are scaled by 1/1000;
// attempts, backoff and the catch routing are the file's own.
import { BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { CopyObjectCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { awsError, bedrockImageResponse, modelEndOfLifeError, stabilityResponse } from "../fixtures/tiny-png";
import {
  BUCKET,
  KEY_PREFIX,
  MODEL_ID,
  MODELS,
  pipelineRunner,
  retriesOf,
  runJob,
  statesEntered,
  TABLE,
} from "./pipeline-harness";

const bedrock = mockClient(BedrockRuntimeClient);
const s3 = mockClient(S3Client);
const dynamodb = mockClient(DynamoDBClient);

/** The status values written, in order, as the UpdateItem calls carry them. */
function statusWrites(): string[] {
  return dynamodb
    .commandCalls(UpdateItemCommand)
    .map((call) => call.args[0].input.ExpressionAttributeValues?.[":status"]?.S ?? "?");
}

function lastStatusWrite() {
  const calls = dynamodb.commandCalls(UpdateItemCommand);
  return calls.at(-1)?.args[0].input;
}

beforeEach(() => {
  bedrock.reset();
  s3.reset();
  dynamodb.reset();
  bedrock.on(InvokeModelCommand).resolves({ body: bedrockImageResponse() } as never);
  s3.on(PutObjectCommand).resolves({});
  s3.on(CopyObjectCommand).resolves({});
  s3.on(DeleteObjectCommand).resolves({});
  dynamodb.on(UpdateItemCommand).resolves({});
});

describe("happy path", () => {
  it("validates, records RUNNING, generates once, promotes the image and records SUCCEEDED", async () => {
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
    expect(statusWrites()).toEqual(["RUNNING", "SUCCEEDED"]);
    const running = dynamodb.commandCalls(UpdateItemCommand)[0]?.args[0].input;
    expect(running).toMatchObject({
      TableName: TABLE,
      Key: { jobId: { S: "job-happy" } },
      ExpressionAttributeValues: expect.objectContaining({
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

describe("Bedrock retries", () => {
  it("retries a throttled call and succeeds: the retries are in the event log", async () => {
    bedrock
      .on(InvokeModelCommand)
      .rejectsOnce(awsError("ThrottlingException", "Too many requests", 429))
      .rejectsOnce(awsError("ThrottlingException", "Too many requests", 429))
      .resolves({ body: bedrockImageResponse() } as never);

    const { outcome, events } = await runJob(pipelineRunner(), "job-throttled", { prompt: "Machu Picchu" });

    expect(outcome.status).toBe("SUCCEEDED");
    expect(retriesOf(events, "GenerateImage")).toHaveLength(2);
    expect(
      events.filter((e) => e.type === "StateFailed" && e.state?.name === "GenerateImage").map((e) => e.Error),
    ).toEqual(["ThrottlingException", "ThrottlingException"]);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(3);
    expect(statusWrites()).toEqual(["RUNNING", "SUCCEEDED"]);
  });

  it("gives up after 1 + 8 throttled attempts and records FAILED with the cause", async () => {
    bedrock.on(InvokeModelCommand).rejects(awsError("ThrottlingException", "Rate exceeded", 429));

    const { outcome, events } = await runJob(pipelineRunner(), "job-throttled-out", { prompt: "Petra at night" });

    expect(outcome).toMatchObject({ status: "FAILED", error: "ThrottlingException" });
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(9);
    expect(retriesOf(events, "GenerateImage")).toHaveLength(8);
    expect(statesEntered(events).slice(-2)).toEqual(["RecordFailed", "Failed"]);
    expect(statusWrites()).toEqual(["RUNNING", "FAILED"]);
    const values = lastStatusWrite()?.ExpressionAttributeValues;
    expect(values?.[":error"]).toEqual({ S: "ThrottlingException" });
    expect(JSON.parse(values?.[":cause"]?.S ?? "{}")).toMatchObject({ errorMessage: "Rate exceeded" });
  });

  it.each([
    ["ModelTimeoutException", 408],
    ["ServiceUnavailableException", 503],
    ["ModelNotReadyException", 429],
  ])("retries %s", async (name, status) => {
    bedrock
      .on(InvokeModelCommand)
      .rejectsOnce(awsError(name, "transient", status))
      .resolves({ body: bedrockImageResponse() } as never);
    const { outcome, events } = await runJob(pipelineRunner(), `job-${name}`, { prompt: "Taj Mahal" });
    expect(outcome.status).toBe("SUCCEEDED");
    expect(retriesOf(events, "GenerateImage")).toHaveLength(1);
  });

  it("records a Stability content-filter refusal (finish reason) as REJECTED with the reason: one call, no image", async () => {
    bedrock.on(InvokeModelCommand).resolves({ body: stabilityResponse(7, "Filter reason: prompt") } as never);

    const { outcome, events } = await runJob(pipelineRunner(), "job-blocked", { prompt: "something blocked" });

    expect(outcome.status).toBe("SUCCEEDED");
    expect(statesEntered(events).slice(-3)).toEqual(["GenerateImage", "RecordRejected", "Rejected"]);
    expect(statusWrites()).toEqual(["RUNNING", "REJECTED"]);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
    expect(retriesOf(events, "GenerateImage")).toHaveLength(0);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(lastStatusWrite()?.ExpressionAttributeValues?.[":error"]).toEqual({ S: "ContentBlocked" });
    expect(lastStatusWrite()?.ExpressionAttributeValues?.[":cause"]?.S).toContain("Filter reason: prompt");
  });

  it("records a legacy model's content-filter refusal (ValidationException) as REJECTED too", async () => {
    bedrock
      .on(InvokeModelCommand)
      .rejects(awsError("ValidationException", "This request has been blocked by our content filters.", 400));

    const { outcome } = await runJob(pipelineRunner(), "job-blocked-nova", {
      prompt: "something blocked",
      model: "amazon.nova-canvas-v1:0",
    });

    expect(outcome.status).toBe("SUCCEEDED");
    expect(statusWrites()).toEqual(["RUNNING", "REJECTED"]);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
  });

  it("fails an end-of-life model at once with a message that names the deploy parameter to change", async () => {
    bedrock.on(InvokeModelCommand).rejects(modelEndOfLifeError());

    const { outcome, events } = await runJob(pipelineRunner(), "job-eol", { prompt: "Petra" });

    expect(outcome).toMatchObject({ status: "FAILED", error: "ModelUnavailable" });
    expect(retriesOf(events, "GenerateImage")).toHaveLength(0);
    expect(statusWrites()).toEqual(["RUNNING", "FAILED"]);
    const cause = lastStatusWrite()?.ExpressionAttributeValues?.[":cause"]?.S ?? "";
    expect(cause).toContain("end of its life");
    expect(cause).toContain("deploy parameter modelId");
  });

  it("does not retry another Bedrock validation error", async () => {
    bedrock.on(InvokeModelCommand).rejects(awsError("ValidationException", "width must be a multiple of 16", 400));
    const { outcome } = await runJob(pipelineRunner(), "job-bedrock-validation", { prompt: "Big Ben" });
    expect(outcome).toMatchObject({ status: "FAILED", error: "BedrockValidation" });
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
  });
});

describe("GenerateImage's reserved concurrency", () => {
  it("queues a burst past the limit: throttled invocations are retried until a slot frees, every job SUCCEEDED", async () => {
    // Prepare: one slot, four jobs at once, each Bedrock call taking a little while.
    bedrock.on(InvokeModelCommand).callsFake(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { body: bedrockImageResponse() };
    });
    const runner = pipelineRunner({}, 1);

    // Act
    const jobs = await Promise.all(
      ["a", "b", "c", "d"].map((suffix) => runJob(runner, `job-burst-${suffix}`, { prompt: `Stonehenge ${suffix}` })),
    );

    // Assess
    expect(jobs.map((job) => job.outcome.status)).toEqual(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]);
    const throttled = jobs.flatMap((job) =>
      job.events.filter((event) => event.type === "StateFailed" && event.state?.name === "GenerateImage"),
    );
    expect(throttled.length).toBeGreaterThan(0);
    expect(new Set(throttled.map((event) => event.Error))).toEqual(new Set(["Lambda.TooManyRequestsException"]));
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(4);
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
    expect(statusWrites()).toEqual(["RUNNING", "SUCCEEDED"]);
  });

  it("fails without retrying on a permanent S3 error (access denied) and records FAILED", async () => {
    s3.on(CopyObjectCommand).rejects(awsError("AccessDenied", "Access Denied", 403));
    const { outcome, events } = await runJob(pipelineRunner(), "job-s3-denied", { prompt: "Louvre" });
    expect(outcome).toMatchObject({ status: "FAILED", error: "S3Error" });
    expect(retriesOf(events, "StoreImage")).toHaveLength(0);
    expect(bedrock.commandCalls(InvokeModelCommand)).toHaveLength(1);
    expect(statusWrites()).toEqual(["RUNNING", "FAILED"]);
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

  it("records FAILED when RecordSucceeded keeps failing, with the DynamoDB error as the cause", async () => {
    // RUNNING and FAILED are written; every SUCCEEDED write fails.
    dynamodb.on(UpdateItemCommand).callsFake((input) => {
      if (input.ExpressionAttributeValues[":status"].S === "SUCCEEDED") {
        throw awsError("InternalServerError", "Internal server error", 500);
      }
      return {};
    });

    const { outcome, events } = await runJob(pipelineRunner(), "job-ddb-down", { prompt: "Hagia Sophia" });

    expect(outcome).toMatchObject({ status: "FAILED", error: "DynamoDB.InternalServerError" });
    expect(statesEntered(events).slice(-3)).toEqual(["RecordSucceeded", "RecordFailed", "Failed"]);
    expect(retriesOf(events, "RecordSucceeded")).toHaveLength(5);
    expect(statusWrites()).toEqual(["RUNNING", ...Array(6).fill("SUCCEEDED"), "FAILED"]);
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
        return [
          input.ExpressionAttributeValues?.[":status"]?.S ?? "?",
          setsCaller ? input.ExpressionAttributeValues?.[":caller"]?.S : undefined,
        ];
      }),
    );
  }

  it("is written to the record by RecordRunning, from the execution input's pipeline key", async () => {
    const { outcome } = await runJob(pipelineRunner(), "job-owned", { prompt: "a lighthouse", pipeline: { caller } });

    expect(outcome.status).toBe("SUCCEEDED");
    expect(callersWritten()).toEqual({ RUNNING: caller, SUCCEEDED: undefined });
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
    expect(callersWritten().RUNNING).toBe(caller);
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
