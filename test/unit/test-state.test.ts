// Verifies local TestState (local/test-state.ts) without a stack: the answer per status (SUCCEEDED, FAILED, RETRIABLE,
// CAUGHT_ERROR) with its nextState, the DEBUG data-flow steps of Pass, Choice and Task states, that a Task's handler is
// called once and never retried, mocks, and the validation errors AWS answers (ValidationException, InvalidDefinition,
// InvalidArn, InvalidExecutionInput). Handlers are stubs and DynamoDB is aws-sdk-client-mock; the endpoint, the real
// handlers and the CLIs are test/e2e/step-functions-api.test.ts's. It cannot verify AWS's exact messages beyond those
// its documentation and recorded answers show.
import { DynamoDBClient, GetItemCommand, ResourceNotFoundException } from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { type TestStateServices, testState } from "../../local/test-state";

const STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:ImagePipeline";
const ROLE_ARN = "arn:aws:iam::123456789012:role/TestStateRole";
const FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:shout";
const dynamodbMock = mockClient(DynamoDBClient);

const shout = vi.fn(async (payload: unknown) => ({
  shouted: String((payload as { word: string }).word).toUpperCase(),
}));
const services: TestStateServices = { functions: { [FUNCTION_ARN]: shout }, dynamodb: new DynamoDBClient({}) };

beforeEach(() => {
  shout.mockClear();
  dynamodbMock.reset();
});

const run = (request: Record<string, unknown>) => testState(request, services, STATE_MACHINE_ARN);

/** A lambda:invoke task on `shout`, with the fields given. */
function shoutTask(fields: Record<string, unknown> = {}) {
  return {
    Type: "Task",
    Resource: "arn:aws:states:::lambda:invoke",
    Parameters: { FunctionName: FUNCTION_ARN, "Payload.$": "$.payload" },
    Next: "Done",
    ...fields,
  };
}

/** The error a request is refused with, as its name and message. */
async function refusal(request: Record<string, unknown>): Promise<{ name: string; message: string }> {
  try {
    await run(request);
  } catch (error) {
    return { name: (error as Error).name, message: (error as Error).message };
  }
  throw new Error("TestState answered; a refusal was expected");
}

describe("Pass and Choice states", () => {
  it("answers a Pass state's output and next state, and at DEBUG each data-flow step as JSON text", async () => {
    // Prepare
    const definition = JSON.stringify({
      Type: "Pass",
      InputPath: "$.order",
      Parameters: { "item.$": "$.item", "count.$": "States.MathAdd($.count, 1)" },
      ResultPath: "$.next",
      OutputPath: "$.next",
      Next: "Ship",
    });
    const input = JSON.stringify({ order: { item: "couch", count: 1 } });

    // Act
    const info = await run({ definition, input });
    const debug = await run({ definition, input, inspectionLevel: "DEBUG" });

    // Assess
    expect(info).toEqual({ status: "SUCCEEDED", output: '{"item":"couch","count":2}', nextState: "Ship" });
    expect(debug.inspectionData).toEqual({
      input,
      afterInputPath: '{"item":"couch","count":1}',
      afterParameters: '{"item":"couch","count":2}',
      afterResultSelector: '{"item":"couch","count":2}',
      afterResultPath: '{"order":{"item":"couch","count":1},"next":{"item":"couch","count":2}}',
    });
  });

  it("names the Choice rule's target, and fails with States.NoChoiceMatched when none matches", async () => {
    // Prepare
    const definition = JSON.stringify({
      Type: "Choice",
      Choices: [{ Variable: "$.size", NumericGreaterThan: 2, Next: "Big" }],
    });

    // Act
    const big = await run({ definition, input: '{"size": 3}', inspectionLevel: "TRACE" });
    const none = await run({ definition, input: '{"size": 1}' });

    // Assess
    expect(big).toEqual({
      status: "SUCCEEDED",
      output: '{"size":3}',
      nextState: "Big",
      inspectionData: { input: '{"size":3}', afterInputPath: '{"size":3}' },
    });
    expect(none).toMatchObject({ status: "FAILED", error: "States.NoChoiceMatched" });
    expect(none.output).toBeUndefined();
  });

  it("tests one state of a whole machine by stateName, and a state that targets itself once", async () => {
    // Prepare
    const definition = JSON.stringify({
      StartAt: "Loop",
      States: {
        Loop: shoutTask({ Next: "Loop", Catch: [{ ErrorEquals: ["States.ALL"], Next: "Done" }] }),
        Done: { Type: "Succeed" },
      },
    });

    // Act
    const answer = await run({ definition, stateName: "Loop", roleArn: ROLE_ARN, input: '{"payload":{"word":"hi"}}' });

    // Assess
    expect(answer).toMatchObject({ status: "SUCCEEDED", nextState: "Loop" });
    expect(shout).toHaveBeenCalledTimes(1);
  });
});

describe("Task states", () => {
  it("calls the handler once and shows the result before and after ResultSelector, ResultPath and OutputPath", async () => {
    // Prepare
    const definition = JSON.stringify(
      shoutTask({
        ResultSelector: { "loud.$": "$.Payload.shouted" },
        ResultPath: "$.answer",
        OutputPath: "$.answer",
      }),
    );

    // Act
    const answer = await run({
      definition,
      roleArn: ROLE_ARN,
      input: '{"payload":{"word":"hi"}}',
      inspectionLevel: "DEBUG",
    });

    // Assess
    expect(shout).toHaveBeenCalledExactlyOnceWith({ word: "hi" });
    expect(answer).toMatchObject({ status: "SUCCEEDED", output: '{"loud":"HI"}', nextState: "Done" });
    expect(answer.inspectionData).toEqual({
      input: '{"payload":{"word":"hi"}}',
      afterInputPath: '{"payload":{"word":"hi"}}',
      afterParameters: `{"FunctionName":"${FUNCTION_ARN}","Payload":{"word":"hi"}}`,
      result: '{"StatusCode":200,"ExecutedVersion":"$LATEST","Payload":{"shouted":"HI"}}',
      afterResultSelector: '{"loud":"HI"}',
      afterResultPath: '{"payload":{"word":"hi"},"answer":{"loud":"HI"}}',
    });
  });

  it("answers CAUGHT_ERROR with the catcher's output, its target and index, without retrying", async () => {
    // Prepare
    shout.mockRejectedValueOnce(Object.assign(new Error("too quiet"), { name: "TooQuiet" }));
    const definition = JSON.stringify(
      shoutTask({
        Retry: [{ ErrorEquals: ["Lambda.ServiceException"], MaxAttempts: 3 }],
        Catch: [
          { ErrorEquals: ["Other"], Next: "Elsewhere" },
          { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "Apologise" },
        ],
      }),
    );

    // Act
    const answer = await run({
      definition,
      roleArn: ROLE_ARN,
      input: '{"payload":{"word":""}}',
      inspectionLevel: "DEBUG",
    });

    // Assess
    expect(shout).toHaveBeenCalledTimes(1);
    const cause = '{"errorType":"TooQuiet","errorMessage":"too quiet","trace":[]}';
    expect(answer).toMatchObject({ status: "CAUGHT_ERROR", error: "TooQuiet", cause, nextState: "Apologise" });
    expect(JSON.parse(answer.output ?? "")).toEqual({
      payload: { word: "" },
      error: { Error: "TooQuiet", Cause: cause },
    });
    expect(answer.inspectionData).toMatchObject({ errorDetails: { catchIndex: 1 } });
    expect(answer.inspectionData?.result).toBeUndefined();
  });

  it("answers RETRIABLE with the retrier's index and backoff while it has attempts left, then lets Catch decide", async () => {
    // Prepare
    dynamodbMock.on(GetItemCommand).rejects(new ResourceNotFoundException({ message: "no such table", $metadata: {} }));
    const definition = JSON.stringify({
      Type: "Task",
      Resource: "arn:aws:states:::dynamodb:getItem",
      Parameters: { TableName: "missing", Key: { jobId: { S: "job-1" } } },
      Retry: [
        { ErrorEquals: ["DynamoDB.ThrottlingException"] },
        { ErrorEquals: ["DynamoDB.ResourceNotFoundException"], IntervalSeconds: 2, BackoffRate: 3, MaxAttempts: 2 },
      ],
      Catch: [{ ErrorEquals: ["States.ALL"], Next: "RecordFailed" }],
      End: true,
    });
    const request = { definition, roleArn: ROLE_ARN, inspectionLevel: "DEBUG" };

    // Act
    const second = await run({ ...request, stateConfiguration: { retrierRetryCount: 1 } });
    const exhausted = await run({ ...request, stateConfiguration: { retrierRetryCount: 2 } });

    // Assess
    expect(dynamodbMock.commandCalls(GetItemCommand)).toHaveLength(2);
    expect(second).toMatchObject({ status: "RETRIABLE", error: "DynamoDB.ResourceNotFoundException" });
    expect(second.nextState).toBeUndefined();
    expect(second.inspectionData?.errorDetails).toEqual({ retryIndex: 1, retryBackoffIntervalSeconds: 6 });
    expect(exhausted).toMatchObject({ status: "CAUGHT_ERROR", nextState: "RecordFailed" });
  });

  it("answers FAILED with the error and cause when nothing retries or catches it", async () => {
    // Prepare
    dynamodbMock.on(GetItemCommand).rejects(new ResourceNotFoundException({ message: "no such table", $metadata: {} }));
    const definition = JSON.stringify({
      Type: "Task",
      Resource: "arn:aws:states:::dynamodb:getItem",
      Parameters: { TableName: "missing", Key: { jobId: { S: "job-1" } } },
      End: true,
    });

    // Act
    const answer = await run({ definition, roleArn: ROLE_ARN });

    // Assess
    expect(answer).toEqual({ status: "FAILED", error: "DynamoDB.ResourceNotFoundException", cause: "no such table" });
  });

  it("runs a mocked callback task without calling anything, and a mocked error as the task's error", async () => {
    // Prepare
    const definition = JSON.stringify({
      Type: "Task",
      Resource: "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
      Parameters: { QueueUrl: "http://127.0.0.1:1/q", MessageBody: { "taskToken.$": "$$.Task.Token" } },
      ResultPath: "$.image",
      Catch: [{ ErrorEquals: ["ContentBlocked"], Next: "RecordRejected" }],
      Next: "StoreImage",
    });

    // Act
    const result = await run({ definition, mock: { result: '{"key":"a.png"}' } });
    const blocked = await run({ definition, mock: { errorOutput: { error: "ContentBlocked", cause: "no" } } });

    // Assess
    expect(result).toEqual({ status: "SUCCEEDED", output: '{"image":{"key":"a.png"}}', nextState: "StoreImage" });
    expect(blocked).toMatchObject({ status: "CAUGHT_ERROR", error: "ContentBlocked", nextState: "RecordRejected" });
  });
});

describe("refusals", () => {
  const task = JSON.stringify(shoutTask());

  it.each([
    [{}, "ValidationException", /'definition' failed to satisfy constraint/],
    [{ definition: "{ nope" }, "InvalidDefinition", /^Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: /],
    [{ definition: task }, "ValidationException", /^RoleArn must be specified when testing a Task state$/],
    [{ definition: task, roleArn: "role" }, "InvalidArn", /^Invalid Arn: 'role'/],
    [{ definition: task, roleArn: ROLE_ARN, input: "{" }, "InvalidExecutionInput", /^Invalid State Machine Execution/],
    [{ definition: task, roleArn: ROLE_ARN, inspectionLevel: "ALL" }, "ValidationException", /enum value set: \[INFO/],
    [
      { definition: JSON.stringify({ Type: "Parallel", Branches: [], End: true }) },
      "InvalidDefinition",
      /^TestState API does not support Map or Parallel states/,
    ],
    [
      { definition: JSON.stringify({ Type: "Pass", End: true }), mock: { result: "{}" } },
      "ValidationException",
      /^State type 'Pass' is not supported when a mock is specified$/,
    ],
    [
      { definition: task, mock: { result: "{}", errorOutput: { error: "E" } } },
      "ValidationException",
      /only one of the following fields: \[result, errorOutput\]/,
    ],
    [
      { definition: JSON.stringify({ StartAt: "A", States: { A: { Type: "Pass", End: true } } }), stateName: "B" },
      "ValidationException",
      /^State not found in definition$/,
    ],
    [
      {
        definition: JSON.stringify({ StartAt: "A", States: { A: { Type: "Pass", Next: "Nowhere" } } }),
        stateName: "A",
      },
      "InvalidDefinition",
      /^Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: /,
    ],
    [
      {
        definition: JSON.stringify({ ...shoutTask(), Resource: "arn:aws:states:::sqs:sendMessage.waitForTaskToken" }),
        roleArn: ROLE_ARN,
      },
      "InvalidDefinition",
      /only with a mock/,
    ],
    [
      { definition: JSON.stringify({ ...shoutTask(), Resource: "arn:aws:states:::s3:putObject" }), roleArn: ROLE_ARN },
      "ValidationException",
      /does not emulate arn:aws:states:::s3:putObject: give a mock/,
    ],
  ])("refuses %j with %s", async (request, name, message) => {
    // Act
    const refused = await refusal(request);

    // Assess
    expect(refused.name).toBe(name);
    expect(refused.message).toMatch(message);
    expect(shout).not.toHaveBeenCalled();
  });
});
