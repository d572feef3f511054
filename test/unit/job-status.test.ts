// Verifies the job-status core and its API adapter: a status record mapped to the answer (readable cause, presigned
// image URL for a SUCCEEDED job, how long the job waited for a Bedrock slot: counting while WAITING, fixed once the
// generator took it, absent on older records), a WAITING or RUNNING record whose execution ended without a final
// record answered FAILED, the QUEUED/FAILED answer from DescribeExecution before a record exists, 404s for
// unknown or malformed jobIds (quoted, never echoed whole), and the same 404 for a job another caller started; the
// adapter's log lines (JSON: level by outcome, jobId, API request id, Lambda request id).
// DynamoDB, Step Functions and S3 are aws-sdk-client-mock mocks (the URL is presigned for real, with fake credentials):
// this cannot prove the URL opens the object, only what it points at and for how long.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from "@aws-sdk/client-sfn";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { handleJobStatusRequest } from "../../functions/job-status/api-adapter";
import { getJobStatus, readableCause } from "../../functions/job-status/job-status";
import { awsError } from "../fixtures/tiny-png";
import { type CapturedOutput, captureOutput, handlerObservability, lambdaContext } from "./powertools-output";

const credentials = { accessKeyId: "test", secretAccessKey: "test" };
const TABLE = "JobStatus";
const BUCKET = "couch-images";
const FINAL_KEY = "candidate-7/generated_images/job-1.png";
const STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:ImagePipeline";
const EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:ImagePipeline:job-1";
const NOW = new Date("2026-11-23T12:00:00.000Z");

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: "eu-west-1", credentials }));
const sfn = new SFNClient({ region: "eu-west-1", credentials });
const s3 = new S3Client({ region: "eu-west-1", credentials });
const documentsMock = mockClient(documents);
const sfnMock = mockClient(sfn);
const s3Mock = mockClient(s3);
const deps = { documents, sfn, s3, tableName: TABLE, stateMachineArn: STATE_MACHINE_ARN, now: () => NOW };

function statusRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    jobId: "job-1",
    status: "RUNNING",
    prompt: "a lighthouse at dawn",
    source: "api",
    modelId: "stability.stable-image-core-v1:1",
    seed: 42,
    aspectRatio: "16:9",
    outputFormat: "jpeg",
    executionArn: EXECUTION_ARN,
    createdAt: "2026-11-23T11:59:58.000Z",
    updatedAt: "2026-11-23T11:59:59.000Z",
    bedrockCalls: 3,
    expiresAt: 1_766_491_198,
    ...overrides,
  };
}

function notFound(): ExecutionDoesNotExist {
  return new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${EXECUTION_ARN}'`, $metadata: {} });
}

beforeEach(() => {
  documentsMock.reset();
  sfnMock.reset();
  s3Mock.reset();
  documentsMock.on(GetCommand).resolves({});
  sfnMock.on(DescribeExecutionCommand).rejects(notFound());
});

describe("getJobStatus: a RUNNING record whose execution has ended", () => {
  it.each([
    ["TIMED_OUT", undefined, "States.Timeout"],
    ["ABORTED", undefined, "ExecutionAborted"],
    ["FAILED", "DynamoDB.InternalServerError", "DynamoDB.InternalServerError"],
  ])(
    "answers FAILED when the execution is %s (no state records a timeout or a stop)",
    async (status, error, expected) => {
      // Prepare
      documentsMock.on(GetCommand).resolves({ Item: statusRecord() });
      sfnMock.on(DescribeExecutionCommand).resolves({
        executionArn: EXECUTION_ARN,
        status: status as "TIMED_OUT",
        startDate: new Date("2026-11-23T11:00:00.000Z"),
        stopDate: new Date("2026-11-23T12:00:00.000Z"),
        error,
      });
      // Act
      const result = await getJobStatus("job-1", deps);
      // Assess
      expect(result).toMatchObject({
        found: true,
        job: { jobId: "job-1", status: "FAILED", error: expected, updatedAt: "2026-11-23T12:00:00.000Z" },
      });
      expect(sfnMock.commandCalls(DescribeExecutionCommand)[0]?.args[0].input.executionArn).toBe(EXECUTION_ARN);
    },
  );

  it("answers the record written between the first read and DescribeExecution (REJECTED, not the execution's FAILED)", async () => {
    // Prepare: the first read sees RUNNING; the state machine then records REJECTED and ends in its Fail state.
    documentsMock
      .on(GetCommand)
      .resolvesOnce({ Item: statusRecord() })
      .resolves({
        Item: statusRecord({ status: "REJECTED", error: "ContentBlocked", cause: "Filter reason: prompt" }),
      });
    sfnMock.on(DescribeExecutionCommand).resolves({ status: "FAILED", error: "ContentBlocked" });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result).toMatchObject({
      job: { status: "REJECTED", error: "ContentBlocked", cause: "Filter reason: prompt" },
    });
    expect(documentsMock.commandCalls(GetCommand)).toHaveLength(2);
  });

  it("keeps RUNNING while the execution runs, and when Step Functions cannot answer", async () => {
    documentsMock.on(GetCommand).resolves({ Item: statusRecord() });
    sfnMock
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: "RUNNING" })
      .rejectsOnce(awsError("ThrottlingException", "Rate exceeded", 400));

    const running = await getJobStatus("job-1", deps);
    const throttled = await getJobStatus("job-1", deps);

    expect(running).toMatchObject({ job: { status: "RUNNING" } });
    expect(throttled).toMatchObject({ job: { status: "RUNNING" } });
  });
});

describe("getJobStatus: the waiting room", () => {
  const WAITING_SINCE = "2026-11-23T11:59:47.660Z"; // 12.34 s before NOW
  const GENERATING_SINCE = "2026-11-23T11:59:55.000Z"; // 7.34 s after WAITING_SINCE

  it("answers a WAITING job with the seconds it has waited so far, to one decimal, from the clock", async () => {
    // Prepare
    documentsMock.on(GetCommand).resolves({ Item: statusRecord({ status: "WAITING", waitingSince: WAITING_SINCE }) });
    sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION_ARN, status: "RUNNING" });
    const later = new Date(NOW.getTime() + 60_000);

    // Act
    const now = await getJobStatus("job-1", deps);
    const aMinuteLater = await getJobStatus("job-1", { ...deps, now: () => later });

    // Assess
    expect(now).toMatchObject({ job: { status: "WAITING", waitingSince: WAITING_SINCE, waitedSeconds: 12.3 } });
    expect(aMinuteLater).toMatchObject({ job: { status: "WAITING", waitedSeconds: 72.3 } });
    // A WAITING job's execution may have ended without a final record, as a RUNNING one's may.
    expect(sfnMock.commandCalls(DescribeExecutionCommand)).toHaveLength(2);
  });

  it.each([
    ["RUNNING", {}],
    ["SUCCEEDED", { s3Uri: `s3://${BUCKET}/${FINAL_KEY}` }],
    ["REJECTED", { error: "ContentBlocked" }],
  ])(
    "answers a %s job past the waiting room with the wait up to generatingSince, whatever the clock",
    async (status, fields) => {
      // Prepare
      const record = statusRecord({
        status,
        waitingSince: WAITING_SINCE,
        generatingSince: GENERATING_SINCE,
        ...fields,
      });
      documentsMock.on(GetCommand).resolves({ Item: record });
      sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION_ARN, status: "RUNNING" });

      // Act
      const now = await getJobStatus("job-1", deps);
      const anHourLater = await getJobStatus("job-1", { ...deps, now: () => new Date(NOW.getTime() + 3_600_000) });

      // Assess
      for (const result of [now, anHourLater]) {
        expect(result).toMatchObject({ job: { status, waitingSince: WAITING_SINCE, waitedSeconds: 7.3 } });
        // The record's other timestamp stays internal: the answer says how long, not when generation started.
        expect(result.found && result.job).not.toHaveProperty("generatingSince");
      }
    },
  );

  it("answers a job that failed in the waiting room with the wait up to its end (updatedAt)", async () => {
    // Prepare: the generate message exhausted its receives; RecordFailed ran without the generator taking the job.
    documentsMock.on(GetCommand).resolves({
      Item: statusRecord({
        status: "FAILED",
        error: "GenerateMessageExhausted",
        waitingSince: WAITING_SINCE,
        updatedAt: "2026-11-23T12:00:17.660Z",
      }),
    });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result).toMatchObject({ job: { status: "FAILED", waitedSeconds: 30 } });
  });

  it("never answers a negative wait when the writers' clocks disagree", async () => {
    // Prepare: the generator's clock is 0.4 s behind the state machine's.
    documentsMock.on(GetCommand).resolves({
      Item: statusRecord({ waitingSince: WAITING_SINCE, generatingSince: "2026-11-23T11:59:47.260Z" }),
    });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result).toMatchObject({ job: { status: "RUNNING", waitedSeconds: 0 } });
  });

  it.each([
    ["RUNNING", {}],
    ["SUCCEEDED", { s3Uri: `s3://${BUCKET}/${FINAL_KEY}` }],
    ["FAILED", { error: "ModelFailed" }],
  ])("gives a %s record from before the waiting room (no waitingSince) neither field", async (status, fields) => {
    // Prepare
    documentsMock.on(GetCommand).resolves({ Item: statusRecord({ status, ...fields }) });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    if (!result.found) throw new Error(`expected the job, got ${result.message}`);
    expect(result.job.status).toBe(status);
    expect(result.job).not.toHaveProperty("waitingSince");
    expect(result.job).not.toHaveProperty("waitedSeconds");
  });

  it("gives an unreadable waitingSince no waitedSeconds rather than NaN", async () => {
    // Prepare
    documentsMock.on(GetCommand).resolves({ Item: statusRecord({ status: "WAITING", waitingSince: "soon" }) });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result.found && result.job).toMatchObject({ waitingSince: "soon" });
    expect(result.found && result.job).not.toHaveProperty("waitedSeconds");
  });

  it.each([
    ["TIMED_OUT", "States.Timeout"],
    ["ABORTED", "ExecutionAborted"],
  ] as const)(
    "answers FAILED (%s → %s) for a WAITING job whose execution ended while it waited",
    async (status, error) => {
      // Prepare: no state runs after a timeout or a stop, so the record stays WAITING for good.
      documentsMock.on(GetCommand).resolves({ Item: statusRecord({ status: "WAITING", waitingSince: WAITING_SINCE }) });
      sfnMock.on(DescribeExecutionCommand).resolves({
        executionArn: EXECUTION_ARN,
        status,
        startDate: new Date("2026-11-23T11:59:46.000Z"),
        stopDate: new Date("2026-11-23T11:59:57.660Z"),
      });

      // Act
      const result = await getJobStatus("job-1", deps);

      // Assess: it waited until the execution ended, not until now.
      expect(result).toEqual({
        found: true,
        job: expect.objectContaining({
          status: "FAILED",
          error,
          updatedAt: "2026-11-23T11:59:57.660Z",
          waitingSince: WAITING_SINCE,
          waitedSeconds: 10,
        }),
      });
      expect(documentsMock.commandCalls(GetCommand)).toHaveLength(2);
    },
  );

  it("answers FAILED from the latest read when the generator took the job before the execution timed out", async () => {
    // Prepare: the first read sees WAITING; the generator then writes RUNNING; the execution then times out.
    documentsMock
      .on(GetCommand)
      .resolvesOnce({ Item: statusRecord({ status: "WAITING", waitingSince: WAITING_SINCE }) })
      .resolves({ Item: statusRecord({ waitingSince: WAITING_SINCE, generatingSince: GENERATING_SINCE }) });
    sfnMock.on(DescribeExecutionCommand).resolves({ status: "TIMED_OUT", stopDate: NOW });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result).toMatchObject({ job: { status: "FAILED", error: "States.Timeout", waitedSeconds: 7.3 } });
  });

  it("answers the final record written while a WAITING job's execution ended (it wins over the execution)", async () => {
    // Prepare
    documentsMock
      .on(GetCommand)
      .resolvesOnce({ Item: statusRecord({ status: "WAITING", waitingSince: WAITING_SINCE }) })
      .resolves({
        Item: statusRecord({
          status: "FAILED",
          error: "GenerateMessageExhausted",
          cause: "The generate message was received 5 times without an answer",
          waitingSince: WAITING_SINCE,
          updatedAt: "2026-11-23T11:59:59.660Z",
        }),
      });
    sfnMock.on(DescribeExecutionCommand).resolves({ status: "FAILED", error: "States.TaskFailed" });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result).toMatchObject({
      job: { status: "FAILED", error: "GenerateMessageExhausted", waitedSeconds: 12 },
    });
  });

  it("keeps WAITING when Step Functions cannot answer", async () => {
    // Prepare
    documentsMock.on(GetCommand).resolves({ Item: statusRecord({ status: "WAITING", waitingSince: WAITING_SINCE }) });
    sfnMock.on(DescribeExecutionCommand).rejects(awsError("ThrottlingException", "Rate exceeded", 400));

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result).toMatchObject({ job: { status: "WAITING", waitedSeconds: 12.3 } });
  });
});

describe("getJobStatus: from the status record", () => {
  it("reads the record consistently and maps its fields, leaving out the TTL attribute", async () => {
    // Prepare
    documentsMock.on(GetCommand).resolves({ Item: statusRecord() });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result).toEqual({
      found: true,
      job: {
        jobId: "job-1",
        status: "RUNNING",
        prompt: "a lighthouse at dawn",
        source: "api",
        modelId: "stability.stable-image-core-v1:1",
        seed: 42,
        aspectRatio: "16:9",
        outputFormat: "jpeg",
        executionArn: EXECUTION_ARN,
        createdAt: "2026-11-23T11:59:58.000Z",
        updatedAt: "2026-11-23T11:59:59.000Z",
        bedrockCalls: 3,
      },
    });
    expect(documentsMock.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: { jobId: "job-1" },
      ConsistentRead: true,
    });
    // Only to check that a RUNNING job's execution has not ended (here it does not exist: the record stands).
    expect(sfnMock.commandCalls(DescribeExecutionCommand)).toHaveLength(1);
  });

  it("turns a Lambda error cause (JSON) into its errorMessage", async () => {
    // Prepare
    const cause = JSON.stringify({
      errorType: "ContentBlocked",
      errorMessage: "This request has been blocked by our content filters.",
      trace: ["ContentBlocked: This request has been blocked", "    at invokeModel (/var/task/index.mjs:1:2)"],
    });
    documentsMock.on(GetCommand).resolves({ Item: statusRecord({ status: "FAILED", error: "ContentBlocked", cause }) });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result).toMatchObject({
      found: true,
      job: {
        status: "FAILED",
        error: "ContentBlocked",
        cause: "This request has been blocked by our content filters.",
      },
    });
  });

  it("keeps a cause that is not a Lambda error as it is", () => {
    expect(readableCause("States.Timeout after 300 seconds")).toBe("States.Timeout after 300 seconds");
    expect(readableCause('{"detail":"x"}')).toBe('{"detail":"x"}');
    expect(readableCause('{"errorMessage": 42}')).toBe('{"errorMessage": 42}');
    expect(readableCause("null")).toBe("null");
  });

  it("gives a SUCCEEDED job a presigned GET URL for its image, valid 15 minutes", async () => {
    // Prepare
    documentsMock
      .on(GetCommand)
      .resolves({ Item: statusRecord({ status: "SUCCEEDED", s3Uri: `s3://${BUCKET}/${FINAL_KEY}` }) });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    if (!result.found) throw new Error(`expected the job, got ${result.message}`);
    expect(result.job.s3Uri).toBe(`s3://${BUCKET}/${FINAL_KEY}`);
    const url = new URL(result.job.imageUrl ?? "");
    expect(url.hostname).toBe(`${BUCKET}.s3.eu-west-1.amazonaws.com`);
    expect(url.pathname).toBe(`/${FINAL_KEY}`);
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
    expect(url.searchParams.get("X-Amz-Credential")).toMatch(/^test\/\d{8}\/eu-west-1\/s3\/aws4_request$/);
    expect(url.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    expect(result.job.imageUrlExpiresAt).toBe("2026-11-23T12:15:00.000Z");
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it("uses the configured URL lifetime", async () => {
    // Prepare
    documentsMock
      .on(GetCommand)
      .resolves({ Item: statusRecord({ status: "SUCCEEDED", s3Uri: `s3://${BUCKET}/${FINAL_KEY}` }) });

    // Act
    const result = await getJobStatus("job-1", { ...deps, urlExpiresIn: 60 });

    // Assess
    if (!result.found) throw new Error(`expected the job, got ${result.message}`);
    expect(new URL(result.job.imageUrl ?? "").searchParams.get("X-Amz-Expires")).toBe("60");
    expect(result.job.imageUrlExpiresAt).toBe("2026-11-23T12:01:00.000Z");
  });

  it.each([
    ["RUNNING with an s3Uri", { status: "RUNNING", s3Uri: `s3://${BUCKET}/${FINAL_KEY}` }],
    ["SUCCEEDED without an s3Uri", { status: "SUCCEEDED" }],
  ])("gives no image URL to a job %s", async (_kind, fields) => {
    // Prepare
    documentsMock.on(GetCommand).resolves({ Item: statusRecord(fields) });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result.found && result.job.imageUrl).toBeFalsy();
    expect(result.found && result.job).not.toHaveProperty("imageUrlExpiresAt");
  });

  it("lets a DynamoDB failure through", async () => {
    // Prepare
    documentsMock.on(GetCommand).rejects(awsError("ProvisionedThroughputExceededException", "Throughput exceeded"));

    // Act + Assess
    await expect(getJobStatus("job-1", deps)).rejects.toMatchObject({ name: "ProvisionedThroughputExceededException" });
  });
});

describe("getJobStatus: before a status record exists", () => {
  it("answers QUEUED with the execution's start time when the execution is RUNNING", async () => {
    // Prepare
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: EXECUTION_ARN, status: "RUNNING", startDate: new Date("2026-11-23T11:59:58.000Z") });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result).toEqual({
      found: true,
      job: { jobId: "job-1", status: "QUEUED", executionArn: EXECUTION_ARN, createdAt: "2026-11-23T11:59:58.000Z" },
    });
    expect(sfnMock.commandCalls(DescribeExecutionCommand)[0]?.args[0].input).toEqual({ executionArn: EXECUTION_ARN });
  });

  it("answers FAILED with the execution's error and readable cause when it ended without a record", async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION_ARN,
      status: "FAILED",
      startDate: new Date("2026-11-23T11:59:58.000Z"),
      error: "DynamoDB.AmazonDynamoDBException",
      cause: JSON.stringify({ errorType: "X", errorMessage: "Requested resource not found" }),
    });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result).toMatchObject({
      found: true,
      job: { status: "FAILED", error: "DynamoDB.AmazonDynamoDBException", cause: "Requested resource not found" },
    });
  });

  it("answers from the record written between its first read and the execution's end (REJECTED, not FAILED)", async () => {
    // Prepare
    const rejected = statusRecord({ status: "REJECTED", error: "InvalidPrompt", cause: '"prompt" is empty' });
    documentsMock.on(GetCommand).resolvesOnce({}).resolves({ Item: rejected });
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION_ARN,
      status: "FAILED",
      startDate: new Date("2026-11-23T11:59:58.000Z"),
      error: "InvalidPrompt",
      cause: JSON.stringify({ errorType: "InvalidPrompt", errorMessage: '"prompt" is empty' }),
    });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result).toMatchObject({
      found: true,
      job: { status: "REJECTED", error: "InvalidPrompt", cause: '"prompt" is empty' },
    });
    expect(documentsMock.commandCalls(GetCommand)).toHaveLength(2);
  });

  it.each([
    ["TIMED_OUT", "FAILED"],
    ["ABORTED", "FAILED"],
    ["SUCCEEDED", "SUCCEEDED"],
    ["PENDING_REDRIVE", "QUEUED"],
  ] as const)("answers an execution %s without a record as %s", async (status, expected) => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION_ARN, status, startDate: NOW });

    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result.found && result.job.status).toBe(expected);
  });

  it("answers not found when there is neither a record nor an execution", async () => {
    // Act
    const result = await getJobStatus("job-1", deps);

    // Assess
    expect(result).toEqual({ found: false, message: 'No job "job-1"' });
  });

  it("lets any other DescribeExecution failure through", async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).rejects(awsError("ThrottlingException", "Rate exceeded"));

    // Act + Assess
    await expect(getJobStatus("job-1", deps)).rejects.toMatchObject({ name: "ThrottlingException" });
  });

  it.each([
    ["", '""'],
    ["../job-1", '"../job-1"'],
    ["job 1", '"job 1"'],
    ["x".repeat(81), `"${"x".repeat(56)}...`],
    ["job-1%00", '"job-1%00"'],
  ])("answers not found for the malformed jobId %j without calling AWS, quoting it as %s", async (jobId, shown) => {
    // Act
    const result = await getJobStatus(jobId, deps);

    // Assess
    expect(result).toEqual({
      found: false,
      message: `No job ${shown}: job ids are 1 to 80 characters of A-Z, a-z, 0-9, _ and -`,
    });
    expect(documentsMock.calls()).toHaveLength(0);
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

function statusEvent(pathParameters: Record<string, string> | null, apiKeyId?: string): APIGatewayProxyEvent {
  return {
    body: null,
    headers: {},
    multiValueHeaders: {},
    httpMethod: "GET",
    isBase64Encoded: false,
    path: `/jobs/${pathParameters?.jobId ?? ""}`,
    pathParameters,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    resource: "/jobs/{jobId}",
    requestContext: {
      requestId: "req-1",
      identity: { apiKeyId: apiKeyId ?? null } as APIGatewayProxyEvent["requestContext"]["identity"],
    } as APIGatewayProxyEvent["requestContext"],
  };
}

describe("handleJobStatusRequest (API adapter)", () => {
  it("answers 200 with the job and Cache-Control no-store", async () => {
    // Prepare
    documentsMock.on(GetCommand).resolves({ Item: statusRecord() });

    // Act
    const result = await handleJobStatusRequest(statusEvent({ jobId: "job-1" }), deps);

    // Assess
    expect(result.statusCode).toBe(200);
    expect(result.headers).toEqual({ "Content-Type": "application/json", "Cache-Control": "no-store" });
    expect(JSON.parse(result.body)).toMatchObject({ jobId: "job-1", status: "RUNNING", seed: 42 });
  });

  it("answers a WAITING job with waitingSince and waitedSeconds in the JSON body", async () => {
    // Prepare
    documentsMock
      .on(GetCommand)
      .resolves({ Item: statusRecord({ status: "WAITING", waitingSince: "2026-11-23T11:59:48.000Z" }) });
    sfnMock.on(DescribeExecutionCommand).resolves({ status: "RUNNING" });

    // Act
    const result = await handleJobStatusRequest(statusEvent({ jobId: "job-1" }), deps);

    // Assess
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toMatchObject({
      status: "WAITING",
      waitingSince: "2026-11-23T11:59:48.000Z",
      waitedSeconds: 12,
    });
  });

  it("answers 503 with Retry-After when DynamoDB throttles the lookup", async () => {
    // Prepare
    documentsMock
      .on(GetCommand)
      .rejects(awsError("ProvisionedThroughputExceededException", "Throughput exceeded", 400));

    // Act
    const result = await handleJobStatusRequest(statusEvent({ jobId: "job-1" }), deps);

    // Assess
    expect(result.statusCode).toBe(503);
    expect(result.headers).toMatchObject({ "Retry-After": "2" });
    expect(JSON.parse(result.body).message).toMatch(/retry in a few seconds/);
  });

  it("answers 500 with the request id, not the internal error, when the lookup fails otherwise", async () => {
    // Prepare
    documentsMock
      .on(GetCommand)
      .rejects(awsError("AccessDeniedException", "User arn:aws:iam::123456789012:role/x is not authorized", 400));

    // Act
    const result = await handleJobStatusRequest(statusEvent({ jobId: "job-1" }), deps);

    // Assess
    expect(result.statusCode).toBe(500);
    expect(result.body).not.toContain("arn:aws:iam");
    expect(JSON.parse(result.body).message).toMatch(/^Could not read the job's status; retry \(request id .+\)$/);
  });

  it("answers 404 with a message for an unknown job", async () => {
    // Act
    const result = await handleJobStatusRequest(statusEvent({ jobId: "job-1" }), deps);

    // Assess
    expect(result.statusCode).toBe(404);
    expect(JSON.parse(result.body)).toEqual({ message: 'No job "job-1"' });
  });

  it("decodes a URL-encoded jobId", async () => {
    // Prepare
    documentsMock.on(GetCommand).resolves({ Item: statusRecord() });

    // Act
    const result = await handleJobStatusRequest(statusEvent({ jobId: "job%2D1" }), deps);

    // Assess
    expect(result.statusCode).toBe(200);
    expect(documentsMock.commandCalls(GetCommand)[0]?.args[0].input.Key).toEqual({ jobId: "job-1" });
  });

  it.each([
    ["no path parameters", null],
    ["a malformed jobId", { jobId: "..%2Fsecrets" }],
    ["an undecodable jobId", { jobId: "%E0%A4%A" }],
    ["a lone percent sign", { jobId: "100%" }],
  ])("answers 404 for %s without calling AWS", async (_kind, pathParameters) => {
    // Act
    const result = await handleJobStatusRequest(statusEvent(pathParameters), deps);

    // Assess
    expect(result.statusCode).toBe(404);
    expect(JSON.parse(result.body).message).toMatch(/job ids are 1 to 80 characters/);
    expect(documentsMock.calls()).toHaveLength(0);
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

describe("a job belongs to its caller", () => {
  const queue = "queue:arn:aws:sqs:eu-west-1:123456789012:image-requests";
  const unknownJob = { message: 'No job "job-1"' };

  it.each([
    { who: "the API key that started it", caller: "apiKey:key-a", apiKeyId: "key-a", status: 200 },
    { who: "another API key", caller: "apiKey:key-a", apiKeyId: "key-b", status: 404 },
    { who: "no API key", caller: "apiKey:key-a", apiKeyId: undefined, status: 404 },
    { who: "an API key, for an anonymous job", caller: "anonymous", apiKeyId: "key-a", status: 404 },
    { who: "no API key, for an anonymous job", caller: "anonymous", apiKeyId: undefined, status: 200 },
    { who: "an API key, for a queue's job", caller: queue, apiKeyId: "key-b", status: 200 },
    { who: "no API key, for a queue's job", caller: queue, apiKeyId: undefined, status: 200 },
    { who: "an API key, for a record naming no caller", caller: undefined, apiKeyId: "key-a", status: 404 },
    { who: "no API key, for a record naming no caller", caller: undefined, apiKeyId: undefined, status: 200 },
  ])("answers $status to a caller with $who", async ({ caller, apiKeyId, status }) => {
    // Prepare
    documentsMock.on(GetCommand).resolves({ Item: statusRecord(caller === undefined ? {} : { caller }) });

    // Act
    const result = await handleJobStatusRequest(statusEvent({ jobId: "job-1" }, apiKeyId), deps);

    // Assess
    expect(result.statusCode).toBe(status);
    if (status === 404) expect(JSON.parse(result.body)).toEqual(unknownJob);
    else expect(JSON.parse(result.body)).not.toHaveProperty("caller");
  });

  it("answers 404 for another caller's QUEUED job, whose owner only the execution input names", async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION_ARN,
      status: "RUNNING",
      startDate: NOW,
      input: JSON.stringify({ jobId: "job-1", prompt: "a cat", pipeline: { caller: "apiKey:key-a" } }),
    });

    // Act
    const other = await handleJobStatusRequest(statusEvent({ jobId: "job-1" }, "key-b"), deps);
    const own = await handleJobStatusRequest(statusEvent({ jobId: "job-1" }, "key-a"), deps);

    // Assess
    expect(other.statusCode).toBe(404);
    expect(JSON.parse(other.body)).toEqual(unknownJob);
    expect(own.statusCode).toBe(200);
    expect(JSON.parse(own.body)).toMatchObject({ status: "QUEUED" });
  });

  it("answers 404 for another caller's job that ended without a record", async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION_ARN,
      status: "FAILED",
      startDate: NOW,
      error: "States.Runtime",
      input: JSON.stringify({ prompt: "a cat", pipeline: { caller: "apiKey:key-a" } }),
    });

    // Act
    const result = await handleJobStatusRequest(statusEvent({ jobId: "job-1" }, "key-b"), deps);

    // Assess
    expect(result.statusCode).toBe(404);
  });
});

describe("a malformed jobId is quoted, not echoed", () => {
  it("keeps the 404 message short for a 15 KB path parameter", async () => {
    // Act
    const result = await handleJobStatusRequest(statusEvent({ jobId: "x".repeat(15 * 1024) }), deps);

    // Assess
    expect(result.statusCode).toBe(404);
    const message = JSON.parse(result.body).message as string;
    expect(message.length).toBeLessThan(300);
    expect(message).toBe(`No job "${"x".repeat(56)}...: job ids are 1 to 80 characters of A-Z, a-z, 0-9, _ and -`);
  });
});

describe("handleJobStatusRequest: what it logs", () => {
  let output: CapturedOutput;
  beforeEach(() => {
    output = captureOutput();
    return output.restore;
  });

  it("logs each answer at DEBUG only, with the jobId and the API request id", async () => {
    // Prepare
    documentsMock.on(GetCommand).resolves({ Item: statusRecord() });
    sfnMock.on(DescribeExecutionCommand).resolves({ status: "RUNNING" } as never);
    const observe = handlerObservability("job-status", lambdaContext("lambda-request-5"));

    // Act
    await handleJobStatusRequest(statusEvent({ jobId: "job-1" }), { ...deps, ...observe });

    // Assess
    expect(output.logs()).toEqual([
      expect.objectContaining({
        level: "DEBUG",
        message: "Job status answered",
        function: "job-status",
        function_request_id: "lambda-request-5",
        jobId: "job-1",
        correlation_id: "req-1",
        status: "RUNNING",
      }),
    ]);
  });

  it.each([
    ["WARN", "ProvisionedThroughputExceededException", 503],
    ["ERROR", "AccessDeniedException", 500],
  ])("logs a failed lookup at %s with the error's name (%s)", async (level, name, statusCode) => {
    // Prepare
    documentsMock.on(GetCommand).rejects(awsError(name, "no", statusCode === 503 ? 400 : 403));

    // Act
    const result = await handleJobStatusRequest(statusEvent({ jobId: "job-1" }), {
      ...deps,
      ...handlerObservability("job-status"),
    });

    // Assess
    expect(result.statusCode).toBe(statusCode);
    expect(output.logs()).toEqual([
      expect.objectContaining({ level, error: name, jobId: "job-1", correlation_id: "req-1" }),
    ]);
  });

  it("logs a 15 KB path parameter as a short excerpt of it", async () => {
    // Act
    await handleJobStatusRequest(statusEvent({ jobId: "x".repeat(15 * 1024) }), {
      ...deps,
      ...handlerObservability("job-status"),
    });

    // Assess
    expect(output.logs()[0]?.jobId).toMatch(/^x{97}\.\.\.$/);
  });
});
