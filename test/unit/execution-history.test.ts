// Verifies the Step Functions history the local stack serves (local/execution-history.ts) and RedriveExecution
// (ExecutionStore.redrive): a small definition of the pipeline's shape (test/fixtures/aws-history) run on the local
// StateMachineRunner gives the events AWS writes for it (the fixtures: event types in order, ids and previousEventId,
// detail keys, resource, region, parameters and timeouts, state names, data and errors); every other event toHistory
// writes: ExecutionAborted, ExecutionTimedOut, TaskTimedOut for a task and for a heartbeat timeout, a running
// execution's history so far, a failure before the resource is called, a data-flow failure after it answered; and a
// redrive: from the state that did not succeed, with its input, the history going on after ExecutionRedriven, for a
// failed task, a Fail state, a stopped execution; refused for SUCCEEDED, RUNNING and after 14 days; a repeated client
// token; kept on disk. Handlers run in-process; DynamoDB and SQS are aws-sdk-client-mock mocks; callbacks are
// answered through runner.taskTokens. It cannot verify AWS itself: the fixtures were written from AWS's documentation
// and histories recorded by others (their README says which fields could not be confirmed), not recorded here.
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient, UpdateItemCommand, type UpdateItemCommandInput } from "@aws-sdk/client-dynamodb";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NamedError } from "../../functions/shared/named-error";
import { type HistoryEvent, type RunLog, stateMachineRoleArn, toHistory } from "../../local/execution-history";
import { type ExecutionRecord, ExecutionStore } from "../../local/executions";
import { scaleRetryIntervals, withHeartbeatSeconds } from "../../local/state-machine-definition";
import { type EventLog, type LocalFunction, StateMachineRunner } from "../../local/state-machine-runner";

const FIXTURES = new URL("../fixtures/aws-history/", import.meta.url);
const STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:HistoryShape";
const FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:validate";
const IMAGE = { bucket: "images", key: "job.png" };
const DAY_MS = 24 * 60 * 60 * 1000;

interface Fixture {
  name: string;
  input: string;
  events: (Omit<HistoryEvent, "timestamp"> & { timestamp: number })[];
}

const dynamodb = new DynamoDBClient({ region: "eu-west-1" });
const sqs = new SQSClient({ region: "eu-west-1" });
const dynamodbMock = mockClient(dynamodb);
const sqsMock = mockClient(sqs);

/** The validate function's answers, one per call, in order; the last one repeats. */
let validateAnswers: (() => unknown)[];
let validateCalls: number;
/** Answers Generate's message; undefined leaves the callback task waiting. */
let answerGenerate: ((token: string) => void) | undefined;
/** The bodies of Generate's messages, in order. */
let messages: { taskToken: string }[];
let runner: StateMachineRunner;
let store: ExecutionStore;
let directory: string | undefined;

function fixture(name: string): Fixture {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), "utf8")) as Fixture;
}

function historyShape(change: (states: Record<string, Record<string, unknown>>) => void = () => {}) {
  const definition = JSON.parse(readFileSync(new URL("history-shape.asl.json", FIXTURES), "utf8"));
  change(definition.States);
  // Retry intervals of milliseconds, as in the pipeline's own tests: same schedule, 1/1000 of the wait.
  return scaleRetryIntervals(definition, 0.001);
}

/** A runner and an execution store for `definition`, its validate function answering from `validateAnswers`. */
function startStore(definition: Record<string, unknown>, options: { directory?: string } = {}): ExecutionStore {
  const validate: LocalFunction = async () => {
    const answer = validateAnswers[Math.min(validateCalls, validateAnswers.length - 1)]!;
    validateCalls += 1;
    return answer();
  };
  runner = new StateMachineRunner({ definition, dynamodb, sqs, functions: { [FUNCTION_ARN]: validate } });
  store = new ExecutionStore({ runner, stateMachineArn: STATE_MACHINE_ARN, directory: options.directory });
  return store;
}

function executionArnOf(name: string): string {
  return `${STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")}:${name}`;
}

/** Runs until no execution is running; fails if one still is after 5 s. */
async function settle(): Promise<void> {
  if (!(await store.idle(5000))) throw new Error("An execution was still running after 5 s");
}

/** Polls the running execution's history until `done` accepts it, at most 5 s. */
async function historyUntil(name: string, done: (history: HistoryEvent[]) => boolean): Promise<HistoryEvent[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const history = store.history(executionArnOf(name));
    if (done(history)) return history;
    if (Date.now() > deadline) throw new Error(`History of ${name} never got there: ${JSON.stringify(history)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function types(history: readonly HistoryEvent[]): string[] {
  return history.map((event) => event.type);
}

function details(event: HistoryEvent | undefined): Record<string, unknown> {
  const key = Object.keys(event ?? {}).find((name) => name.endsWith("EventDetails"));
  return key ? (event![key] as Record<string, unknown>) : {};
}

/** JSON text with what differs between runs (the task token, error causes) replaced by a placeholder. */
function comparable(text: unknown): unknown {
  if (typeof text !== "string") return text;
  return JSON.parse(text, (key, value) => {
    if (key === "taskToken") return "<task token>";
    if (key === "Cause") return "<cause>";
    return value;
  });
}

/** The RecordFailed/RecordRunning writes the DynamoDB mock received, by the status they set. */
function statusWrites(): string[] {
  return dynamodbMock
    .commandCalls(UpdateItemCommand)
    .map((call) => (call.args[0].input as UpdateItemCommandInput).ExpressionAttributeValues?.[":status"]?.S ?? "");
}

/**
 * The local history against AWS's: the same events in the same order, linked the same way, each with the same
 * detail keys, the same resource, region, parameters and limits, state names, state data and errors. Timestamps
 * are dates in order; outputs of the resources and causes are compared by key only (see the fixtures' README).
 */
function expectAwsHistory(local: readonly HistoryEvent[], aws: Fixture["events"]): void {
  expect(types(local)).toEqual(aws.map((event) => event.type));
  expect(local.map(({ id, previousEventId }) => [id, previousEventId])).toEqual(
    aws.map(({ id, previousEventId }) => [id, previousEventId]),
  );
  local.forEach((event, index) => {
    const expected = aws[index]!;
    expect(Object.keys(event).sort(), `event ${event.id} ${event.type}`).toEqual(Object.keys(expected).sort());
    const got = details(event);
    const want = details(expected as unknown as HistoryEvent);
    expect(Object.keys(got).sort(), `details of event ${event.id} ${event.type}`).toEqual(Object.keys(want).sort());
    for (const field of ["resourceType", "resource", "region", "timeoutInSeconds", "heartbeatInSeconds", "name"]) {
      expect(got[field], `${field} of event ${event.id} ${event.type}`).toEqual(want[field]);
    }
    for (const field of ["parameters", "input"]) {
      expect(comparable(got[field]), `${field} of event ${event.id} ${event.type}`).toEqual(comparable(want[field]));
    }
    if (event.type.endsWith("StateExited") || event.type === "ExecutionSucceeded") {
      expect(comparable(got.output), `output of event ${event.id}`).toEqual(comparable(want.output));
    }
    if ("error" in want) expect(got.error, `error of event ${event.id}`).toBe(want.error);
    if ("inputDetails" in want) expect(got.inputDetails).toEqual(want.inputDetails);
    if ("outputDetails" in want) expect(got.outputDetails).toEqual(want.outputDetails);
    expect(event.timestamp).toBeInstanceOf(Date);
    if (index > 0) expect(event.timestamp.getTime()).toBeGreaterThanOrEqual(local[index - 1]!.timestamp.getTime());
  });
}

beforeEach(() => {
  dynamodbMock.reset();
  sqsMock.reset();
  dynamodbMock.on(UpdateItemCommand).resolves({});
  validateAnswers = [async () => ({ prompt: "a lighthouse at dusk" })];
  validateCalls = 0;
  messages = [];
  answerGenerate = (token) => runner.taskTokens.succeed(token, JSON.stringify(IMAGE));
  sqsMock.on(SendMessageCommand).callsFake(async (input) => {
    const body = JSON.parse(String(input.MessageBody)) as { taskToken: string };
    messages.push(body);
    // After the send has returned, as a generator would answer; by the runner that sent it.
    const answer = answerGenerate;
    setTimeout(() => answer?.(body.taskToken), 1);
    return { MessageId: `message-${messages.length}`, MD5OfMessageBody: "0c4b2a1f5d8e7a6b9c3d2e1f0a9b8c7d" };
  });
});

afterEach(async () => {
  for (const record of store?.list() ?? []) store.stop(record.executionArn);
  await store?.idle(2000);
  if (directory) rmSync(directory, { recursive: true, force: true });
  directory = undefined;
});

describe("a run of the pipeline's shape, against the history AWS writes", () => {
  it("a retried Lambda failure, a DynamoDB write and an answered callback: as retried-then-succeeded.json", async () => {
    const aws = fixture("retried-then-succeeded.json");
    validateAnswers = [
      async () => {
        throw new NamedError("Lambda.ServiceException", "the function could not be reached");
      },
      async () => ({ prompt: "a lighthouse at dusk" }),
    ];
    answerGenerate = (token) =>
      runner.taskTokens.succeed(token, JSON.stringify({ bucket: "images", key: "job-retried.png" }));
    startStore(historyShape()).start(aws.name, aws.input);
    await settle();

    const record = store.describe(executionArnOf(aws.name));
    expect(record.status).toBe("SUCCEEDED");
    expectAwsHistory(record.history, aws.events);
    // The role DescribeStateMachine names, and the resource's own answers (not the state's output).
    expect(details(record.history[0]).roleArn).toBe(stateMachineRoleArn(STATE_MACHINE_ARN));
    expect(details(record.history[0]).roleArn).toBe(
      "arn:aws:iam::123456789012:role/couch-imagegen-local-state-machine-role",
    );
    const succeeded = record.history.filter((event) => event.type === "TaskSucceeded").map(details);
    expect(JSON.parse(String(succeeded[0]?.output))).toEqual({
      StatusCode: 200,
      ExecutedVersion: "$LATEST",
      Payload: { prompt: "a lighthouse at dusk" },
    });
    expect(JSON.parse(String(succeeded[2]?.output))).toEqual({ bucket: "images", key: "job-retried.png" });
    const submitted = details(record.history.find((event) => event.type === "TaskSubmitted"));
    expect(JSON.parse(String(submitted.output))).toMatchObject({ MessageId: "message-1" });
    // The token the message carried is the one in the TaskScheduled parameters.
    const generateScheduled = record.history.filter((event) => event.type === "TaskScheduled").at(-1);
    expect(JSON.parse(String(details(generateScheduled).parameters)).MessageBody.taskToken).toBe(
      messages[0]?.taskToken,
    );
  });

  it("a caught Lambda error, a status write, then a Fail state: as caught-then-failed.json", async () => {
    const aws = fixture("caught-then-failed.json");
    validateAnswers = [
      async () => {
        throw new NamedError("InvalidPrompt", "the prompt names a blocked landmark");
      },
    ];
    startStore(historyShape()).start(aws.name, aws.input);
    await settle();

    const record = store.describe(executionArnOf(aws.name));
    expect(record).toMatchObject({ status: "FAILED", error: "InvalidPrompt" });
    expectAwsHistory(record.history, aws.events);
    expect(validateCalls).toBe(1);
  });
});

describe("the other events of a history", () => {
  it("a running execution's history so far, then StopExecution: ExecutionAborted, linked to 0, with the stop's error", async () => {
    answerGenerate = undefined;
    startStore(historyShape()).start("job-stopped", JSON.stringify({ prompt: "a slow sunset" }));
    const running = await historyUntil("job-stopped", (history) => types(history).includes("TaskSubmitted"));

    expect(types(running).slice(-4)).toEqual(["TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted"]);
    store.stop(executionArnOf("job-stopped"), "Operator.Stop", "stopped by the test");
    await settle();
    const { history, status } = store.describe(executionArnOf("job-stopped"));
    expect(status).toBe("ABORTED");
    expect(types(history).slice(-2)).toEqual(["TaskSubmitted", "ExecutionAborted"]);
    expect(history.at(-1)).toMatchObject({
      previousEventId: 0,
      executionAbortedEventDetails: { error: "Operator.Stop", cause: "stopped by the test" },
    });
  });

  it("StopExecution with no error or cause: ExecutionAborted with empty details, as AWS records it", async () => {
    answerGenerate = undefined;
    startStore(historyShape()).start("job-stopped-plainly", JSON.stringify({ prompt: "a slow sunset" }));
    await historyUntil("job-stopped-plainly", (history) => types(history).includes("TaskSubmitted"));
    store.stop(executionArnOf("job-stopped-plainly"));
    await settle();

    expect(store.describe(executionArnOf("job-stopped-plainly")).history.at(-1)).toMatchObject({
      type: "ExecutionAborted",
      executionAbortedEventDetails: {},
    });
    expect(details(store.describe(executionArnOf("job-stopped-plainly")).history.at(-1))).toEqual({});
  });

  it("the state machine's TimeoutSeconds: ExecutionTimedOut with States.Timeout, status TIMED_OUT", async () => {
    answerGenerate = undefined;
    const definition = { ...historyShape(), TimeoutSeconds: 1 };
    startStore(definition).start("job-timed-out", JSON.stringify({ prompt: "a long night" }));
    await settle();

    const record = store.describe(executionArnOf("job-timed-out"));
    expect(record.status).toBe("TIMED_OUT");
    expect(types(record.history).slice(-2)).toEqual(["TaskSubmitted", "ExecutionTimedOut"]);
    expect(record.history.at(-1)).toMatchObject({
      previousEventId: 0,
      executionTimedOutEventDetails: { error: "States.Timeout" },
    });
  });

  it("no heartbeat within HeartbeatSeconds: TaskTimedOut States.HeartbeatTimeout, then the Catch's path", async () => {
    answerGenerate = undefined;
    startStore(withHeartbeatSeconds(historyShape(), 1)).start("job-no-heartbeat", JSON.stringify({ prompt: "a" }));
    await settle();

    const { history, status, error } = store.describe(executionArnOf("job-no-heartbeat"));
    expect({ status, error }).toEqual({ status: "FAILED", error: "States.HeartbeatTimeout" });
    const timedOut = history.find((event) => event.type === "TaskTimedOut");
    expect(timedOut).toMatchObject({
      previousEventId: timedOut!.id - 1,
      taskTimedOutEventDetails: {
        resourceType: "sqs",
        resource: "sendMessage.waitForTaskToken",
        error: "States.HeartbeatTimeout",
      },
    });
    expect(history[timedOut!.id - 2]?.type).toBe("TaskSubmitted");
    expect(history[timedOut!.id]).toMatchObject({ type: "TaskStateExited", previousEventId: timedOut!.id });
    expect(
      history.find((event) => event.type === "TaskScheduled" && details(event).heartbeatInSeconds === 1),
    ).toBeTruthy();
  });

  it("a task's TimeoutSeconds: TaskTimedOut States.Timeout", async () => {
    answerGenerate = undefined;
    const definition = historyShape((states) => {
      states.Generate!.TimeoutSeconds = 1;
    });
    startStore(definition).start("job-task-timeout", JSON.stringify({ prompt: "a" }));
    await settle();

    const { history } = store.describe(executionArnOf("job-task-timeout"));
    expect(details(history.find((event) => event.type === "TaskTimedOut"))).toMatchObject({
      resourceType: "sqs",
      resource: "sendMessage.waitForTaskToken",
      error: "States.Timeout",
    });
  });

  it("a task whose Parameters fail before its resource is called: no task events, ExecutionFailed States.Runtime", async () => {
    const definition = {
      StartAt: "Write",
      States: {
        Write: {
          Type: "Task",
          Resource: "arn:aws:states:::dynamodb:updateItem",
          Parameters: { TableName: "JobStatus", Key: { jobId: { "S.$": "$.missing" } } },
          End: true,
        },
      },
    };
    startStore(definition).start("job-bad-path", JSON.stringify({ prompt: "a" }));
    await settle();

    const { history, status } = store.describe(executionArnOf("job-bad-path"));
    expect(status).toBe("FAILED");
    expect(types(history)).toEqual(["ExecutionStarted", "TaskStateEntered", "ExecutionFailed"]);
    expect(history[2]).toMatchObject({ previousEventId: 2, executionFailedEventDetails: { error: "States.Runtime" } });
    expect(dynamodbMock.commandCalls(UpdateItemCommand)).toHaveLength(0);
  });

  it("a resource that answered, then its state's data flow failed: TaskSucceeded, then ExecutionFailed", () => {
    const event = (type: string, timestamp: number, fields: Partial<EventLog> = {}): EventLog => ({
      type,
      timestamp,
      ...fields,
    });
    const state = { name: "Validate", type: "Task", input: { prompt: "a" } };
    const run: RunLog = {
      events: [
        event("ExecutionStarted", 1, { input: { prompt: "a" } }),
        event("StateEntered", 2, { state }),
        event("StateFailed", 5, { state, Error: "States.Runtime", Cause: "Invalid path '$.Payload.prompt'" }),
        event("ExecutionFailed", 6, { Error: "States.Runtime", Cause: "Invalid path '$.Payload.prompt'" }),
      ],
      tasks: [
        {
          state: "Validate",
          timestamp: 3,
          parameters: { FunctionName: FUNCTION_ARN },
          result: { timestamp: 4, output: {} },
        },
      ],
    };
    const history = toHistory(run, {
      executionArn: executionArnOf("job-data-flow"),
      stateMachineArn: STATE_MACHINE_ARN,
      states: historyShape().States as Record<string, never>,
    });

    expect(types(history)).toEqual([
      "ExecutionStarted",
      "TaskStateEntered",
      "TaskScheduled",
      "TaskStarted",
      "TaskSucceeded",
      "ExecutionFailed",
    ]);
    expect(history.map((event) => event.previousEventId)).toEqual([0, 0, 2, 3, 4, 5]);
    expect(history.map((event) => event.timestamp.getTime())).toEqual([1, 2, 3, 3, 4, 6]);
  });
});

describe("RedriveExecution", () => {
  it("a task that failed with no Catch: runs again from it with its input, the history going on, SUCCEEDED", async () => {
    dynamodbMock
      .on(UpdateItemCommand)
      .rejectsOnce(new NamedError("ProvisionedThroughputExceededException", "Throughput exceeded"))
      .resolves({});
    startStore(historyShape()).start("job-redriven", JSON.stringify({ prompt: "a lighthouse at dusk" }));
    await settle();
    const arn = executionArnOf("job-redriven");
    const failed = store.describe(arn);
    expect(failed).toMatchObject({ status: "FAILED", error: "DynamoDB.ProvisionedThroughputExceededException" });
    expect(store.redriveStatus(failed)).toEqual({ redriveStatus: "REDRIVABLE" });
    const before = [...failed.history];
    const recordRunningInput = details(before.findLast((event) => event.type === "TaskStateEntered")).input;

    const redriven = store.redrive(arn);
    expect(redriven).toMatchObject({ status: "RUNNING", redriveCount: 1, executionArn: arn, name: "job-redriven" });
    expect(redriven.redriveDate).toBeInstanceOf(Date);
    expect(redriven.error).toBeUndefined();
    await settle();

    const record = store.describe(arn);
    expect(record.status).toBe("SUCCEEDED");
    expect(validateCalls).toBe(1);
    expect(statusWrites()).toEqual(["RUNNING", "RUNNING"]);
    expect(record.history.slice(0, before.length)).toEqual(before);
    const [redrivenEvent, entered] = record.history.slice(before.length);
    expect(redrivenEvent).toMatchObject({
      id: before.length + 1,
      previousEventId: before.length,
      type: "ExecutionRedriven",
      executionRedrivenEventDetails: { redriveCount: 1 },
    });
    expect(entered).toMatchObject({
      id: before.length + 2,
      previousEventId: before.length + 1,
      type: "TaskStateEntered",
      stateEnteredEventDetails: { name: "RecordRunning", input: recordRunningInput },
    });
    expect(record.history.map((event) => event.id)).toEqual(record.history.map((_event, index) => index + 1));
    expect(types(record.history).at(-1)).toBe("ExecutionSucceeded");
    expect(types(record.history).filter((type) => type === "ExecutionStarted")).toHaveLength(1);
    expect(store.redriveStatus(record)).toEqual({
      redriveStatus: "NOT_REDRIVABLE",
      redriveStatusReason: "Execution is SUCCEEDED and cannot be redriven.",
    });
  });

  it("an execution that ended in a Fail state: redriven from that state, it fails again at once, as on AWS", async () => {
    validateAnswers = [
      async () => {
        throw new NamedError("InvalidPrompt", "the prompt names a blocked landmark");
      },
    ];
    startStore(historyShape()).start("job-failed", JSON.stringify({ prompt: "a forbidden-landmark" }));
    await settle();
    const arn = executionArnOf("job-failed");
    const length = store.describe(arn).history.length;

    store.redrive(arn);
    await settle();

    const record = store.describe(arn);
    expect(record).toMatchObject({ status: "FAILED", error: "InvalidPrompt", redriveCount: 1 });
    expect(types(record.history.slice(length))).toEqual(["ExecutionRedriven", "FailStateEntered", "ExecutionFailed"]);
    expect(validateCalls).toBe(1);
    expect(statusWrites()).toEqual(["FAILED"]);
  });

  it("a stopped execution: its callback task is sent again, answered, and the execution SUCCEEDS", async () => {
    answerGenerate = undefined;
    startStore(historyShape()).start("job-resumed", JSON.stringify({ prompt: "a slow sunset" }));
    await historyUntil("job-resumed", (history) => types(history).includes("TaskSubmitted"));
    const arn = executionArnOf("job-resumed");
    store.stop(arn, "Operator.Stop", "stopped by the test");
    await settle();
    expect(store.describe(arn).status).toBe("ABORTED");

    answerGenerate = (token) => runner.taskTokens.succeed(token, JSON.stringify(IMAGE));
    store.redrive(arn);
    await settle();

    const record = store.describe(arn);
    expect(record.status).toBe("SUCCEEDED");
    expect(JSON.parse(String(record.output))).toMatchObject({ image: IMAGE });
    expect(messages).toHaveLength(2);
    expect(messages[1]!.taskToken).not.toBe(messages[0]!.taskToken);
    expect(validateCalls).toBe(1);
    expect(statusWrites()).toEqual(["RUNNING"]);
    const redriven = types(record.history).indexOf("ExecutionRedriven");
    expect(types(record.history).slice(redriven - 1, redriven + 2)).toEqual([
      "ExecutionAborted",
      "ExecutionRedriven",
      "TaskStateEntered",
    ]);
    expect(details(record.history[redriven + 1]).name).toBe("Generate");
  });

  it("refuses a SUCCEEDED or RUNNING execution, and one that ended over 14 days ago, with ExecutionNotRedrivable", async () => {
    startStore(historyShape()).start("job-done", JSON.stringify({ prompt: "a" }));
    await settle();
    const done = executionArnOf("job-done");
    expect(() => store.redrive(done)).toThrow(
      expect.objectContaining({
        name: "ExecutionNotRedrivable",
        message: "Execution is SUCCEEDED and cannot be redriven.",
      }),
    );

    answerGenerate = undefined;
    store.start("job-running", JSON.stringify({ prompt: "a" }));
    expect(() => store.redrive(executionArnOf("job-running"))).toThrow(
      expect.objectContaining({
        name: "ExecutionNotRedrivable",
        message: "Execution is RUNNING and cannot be redriven.",
      }),
    );
    store.stop(executionArnOf("job-running"));
    await settle();
    const old: ExecutionRecord = store.describe(executionArnOf("job-running"));
    old.stopDate = new Date(Date.now() - 15 * DAY_MS);
    expect(store.redriveStatus(old)).toEqual({
      redriveStatus: "NOT_REDRIVABLE",
      redriveStatusReason: "Execution redrivable period exceeded.",
    });
    expect(() => store.redrive(old.executionArn)).toThrow(expect.objectContaining({ name: "ExecutionNotRedrivable" }));
    old.stopDate = new Date(Date.now() - 13 * DAY_MS);
    expect(store.redriveStatus(old)).toEqual({ redriveStatus: "REDRIVABLE" });
    expect(() => store.redrive(executionArnOf("job-never-started"))).toThrow(
      expect.objectContaining({ name: "ExecutionDoesNotExist" }),
    );
  });

  it("a repeated client token answers as the first request did, without a second redrive", async () => {
    answerGenerate = undefined;
    startStore(historyShape()).start("job-token", JSON.stringify({ prompt: "a" }));
    await historyUntil("job-token", (history) => types(history).includes("TaskSubmitted"));
    const arn = executionArnOf("job-token");
    store.stop(arn);
    await settle();

    const first = store.redrive(arn, "client-token-1");
    const again = store.redrive(arn, "client-token-1");

    expect(again).toBe(first);
    expect(again.redriveCount).toBe(1);
    expect(() => store.redrive(arn, "client-token-2")).toThrow(
      expect.objectContaining({ name: "ExecutionNotRedrivable" }),
    );
  });

  it("is kept on disk: a new store loads the redrive count, date and the whole history", async () => {
    directory = mkdtempSync(join(tmpdir(), "couch-imagegen-redrive-"));
    dynamodbMock
      .on(UpdateItemCommand)
      .rejectsOnce(new NamedError("ProvisionedThroughputExceededException", "Throughput exceeded"))
      .resolves({});
    startStore(historyShape(), { directory }).start("job-kept", JSON.stringify({ prompt: "a" }));
    await settle();
    store.redrive(executionArnOf("job-kept"));
    await settle();
    const written = store.describe(executionArnOf("job-kept"));

    const loaded = startStore(historyShape(), { directory });
    expect(loaded.resume()).toEqual([]);
    const record = loaded.describe(executionArnOf("job-kept"));
    expect(record).toMatchObject({ status: "SUCCEEDED", redriveCount: 1 });
    expect(record.redriveDate).toEqual(written.redriveDate);
    expect(record.history).toEqual(written.history);
    expect(types(record.history)).toContain("ExecutionRedriven");
  });

  it("a redriven execution still RUNNING when the stack stopped resumes from where its redrive started", async () => {
    directory = mkdtempSync(join(tmpdir(), "couch-imagegen-redrive-"));
    answerGenerate = undefined;
    startStore(historyShape(), { directory }).start("job-interrupted", JSON.stringify({ prompt: "a" }));
    await historyUntil("job-interrupted", (history) => types(history).includes("TaskSubmitted"));
    const arn = executionArnOf("job-interrupted");
    store.stop(arn);
    await settle();
    store.redrive(arn);
    // The stack dies here: what is on disk is the redriven execution, RUNNING.
    const copy = join(directory, "copy");
    cpSync(join(directory, "job-interrupted.json"), join(copy, "job-interrupted.json"), { recursive: true });
    store.stop(arn);
    await settle();

    answerGenerate = (token) => runner.taskTokens.succeed(token, JSON.stringify(IMAGE));
    const second = startStore(historyShape(), { directory: copy });
    expect(second.resume().map((record) => record.name)).toEqual(["job-interrupted"]);
    await settle();

    const record = second.describe(arn);
    expect(record).toMatchObject({ status: "SUCCEEDED", redriveCount: 1 });
    expect(validateCalls).toBe(1);
    expect(types(record.history).filter((type) => type === "ExecutionRedriven")).toHaveLength(1);
    expect(details(record.history[types(record.history).indexOf("ExecutionRedriven") + 1]).name).toBe("Generate");
  });
});
