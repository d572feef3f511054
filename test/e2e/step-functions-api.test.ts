// Verifies the local Step Functions endpoint's read and validation APIs as real tools call them: ListStateMachines,
// DescribeStateMachine, DescribeStateMachineForExecution and ValidateStateMachineDefinition through
// @aws-sdk/client-sfn (paginators included) and through both AWS CLIs; ListExecutions and GetExecutionHistory paged
// by their paginators; and the errors AWS answers (StateMachineDoesNotExist, ExecutionDoesNotExist, InvalidToken)
// by their SDK names and HTTP 400. TestState through the SDK (disableHostPrefix: the operation's `sync-` host prefix
// would send it to sync-127.0.0.1) on ValidatePrompt with the real handler, inline Pass and Choice states and a
// failing DynamoDB task, at INFO, DEBUG and TRACE; and the `sync-` recipes through both AWS CLIs. Then the run
// control through both CLIs: start-execution, describe-execution, stop-execution while the job waits for its image,
// send-task-success/failure/heartbeat with an unknown token, and redrive-execution (where the CLI has it) to
// SUCCEEDED. One stack serves the file. It cannot verify that AWS answers the same: the validator is asl-validator, not AWS's rules, the described
// role is a placeholder (no IAM locally), and TestState's messages are those AWS documents or has been recorded with.
import {
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  DescribeStateMachineForExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  paginateGetExecutionHistory,
  paginateListExecutions,
  paginateListStateMachines,
  SFNClient,
  TestStateCommand,
  type TestStateCommandInput,
  ValidateStateMachineDefinitionCommand,
} from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../local/emulators";
import {
  AWS_CLIS,
  type CliResult,
  type E2eStack,
  executionArnOf,
  PIXEL_MODEL_ID,
  pollUntil,
  startE2eStack,
  stepFunctionsCli,
  submitJob,
  waitForJob,
} from "./helpers";

const JOBS = 3;
/** A definition whose Next names no state. */
const BROKEN_DEFINITION = JSON.stringify({ StartAt: "A", States: { A: { Type: "Pass", Next: "Nowhere" } } });

let env: E2eStack;
let stateMachineArn: string;
let startedAt: number;
const executionArns: string[] = [];

beforeAll(async () => {
  startedAt = Date.now();
  env = await startE2eStack({ modelId: PIXEL_MODEL_ID });
  stateMachineArn = env.stack.stateMachineArn;
  const jobIds = await Promise.all(
    Array.from({ length: JOBS }, (_, index) => submitJob(env, { prompt: `a teapot on a couch, take ${index}` })),
  );
  await Promise.all(jobIds.map((jobId) => waitForJob(env, jobId)));
  executionArns.push(...jobIds.map((jobId) => executionArnOf(env, jobId)));
});

afterAll(async () => {
  await env?.stop();
});

/** The error a call rejects with, for its SDK name and HTTP status. */
async function rejection(call: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await call;
  } catch (error) {
    const failed = error as { name: string; $metadata?: { httpStatusCode?: number } };
    return { name: failed.name, status: failed.$metadata?.httpStatusCode };
  }
  throw new Error("The call succeeded; an error was expected");
}

describe("the state machine through @aws-sdk/client-sfn", () => {
  it("ListStateMachines lists the one state machine, on one page of its paginator", async () => {
    const pages = [];
    for await (const page of paginateListStateMachines({ client: env.sfn, pageSize: 1 }, {})) pages.push(page);

    expect(pages).toHaveLength(1);
    expect(pages[0]?.nextToken).toBeUndefined();
    const [machine] = pages[0]?.stateMachines ?? [];
    expect(machine).toEqual({
      stateMachineArn,
      name: "ImagePipeline",
      type: "STANDARD",
      creationDate: expect.any(Date),
    });
    expect(machine?.creationDate?.getTime()).toBeGreaterThanOrEqual(startedAt - 1000);
    expect(machine?.creationDate?.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it("DescribeStateMachine answers the definition the runner runs and the deployed defaults", async () => {
    const described = await env.sfn.send(new DescribeStateMachineCommand({ stateMachineArn }));

    expect(described).toMatchObject({
      stateMachineArn,
      name: "ImagePipeline",
      status: "ACTIVE",
      type: "STANDARD",
      roleArn: expect.stringMatching(/^arn:aws:iam::\d{12}:role\/\S+$/),
      creationDate: expect.any(Date),
      loggingConfiguration: { level: "ERROR", includeExecutionData: false },
      tracingConfiguration: { enabled: true },
    });
    const definition = JSON.parse(described.definition ?? "{}");
    expect(described.definition).not.toContain("${");
    expect(definition.States.GenerateImage).toMatchObject({
      Resource: "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
      Parameters: { QueueUrl: env.stack.generateQueueUrl },
    });
    expect(definition.States.ValidatePrompt.Parameters.FunctionName).toMatch(/^arn:aws:lambda:.*:validate-prompt$/);
  });

  it("DescribeStateMachine of an unknown ARN is StateMachineDoesNotExist, 400", async () => {
    const unknown = stateMachineArn.replace(/ImagePipeline$/, "NoSuchMachine");

    expect(await rejection(env.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: unknown })))).toEqual({
      name: "StateMachineDoesNotExist",
      status: 400,
    });
  });

  it("DescribeStateMachineForExecution answers the state machine an execution ran", async () => {
    const [executionArn] = executionArns;
    const described = await env.sfn.send(new DescribeStateMachineCommand({ stateMachineArn }));

    const forExecution = await env.sfn.send(new DescribeStateMachineForExecutionCommand({ executionArn }));

    expect(forExecution).toMatchObject({
      stateMachineArn,
      name: "ImagePipeline",
      definition: described.definition,
      roleArn: described.roleArn,
      updateDate: described.creationDate,
      loggingConfiguration: described.loggingConfiguration,
      tracingConfiguration: described.tracingConfiguration,
    });
  });

  it("DescribeStateMachineForExecution of an unknown execution is ExecutionDoesNotExist, 400", async () => {
    const executionArn = executionArnOf(env, "no-such-job");

    expect(await rejection(env.sfn.send(new DescribeStateMachineForExecutionCommand({ executionArn })))).toEqual({
      name: "ExecutionDoesNotExist",
      status: 400,
    });
  });
});

describe("ValidateStateMachineDefinition", () => {
  const validate = (input: { definition: string; type?: "STANDARD" | "EXPRESS"; maxResults?: number }) =>
    env.sfn.send(new ValidateStateMachineDefinitionCommand(input));

  it("passes the definition the local state machine runs", async () => {
    const { definition } = await env.sfn.send(new DescribeStateMachineCommand({ stateMachineArn }));

    expect(await validate({ definition: definition ?? "" })).toMatchObject({
      result: "OK",
      diagnostics: [],
      truncated: false,
    });
  });

  it("fails a definition with a missing target, with ERROR diagnostics", async () => {
    const validated = await validate({ definition: BROKEN_DEFINITION });

    expect(validated.result).toBe("FAIL");
    expect(validated.truncated).toBe(false);
    expect(validated.diagnostics).toContainEqual({
      severity: "ERROR",
      code: "MISSING_TRANSITION_TARGET",
      message: expect.stringContaining("Nowhere"),
    });
  });

  it("fails text that is not JSON with INVALID_JSON_DESCRIPTION", async () => {
    const validated = await validate({ definition: "{ not json" });

    expect(validated.result).toBe("FAIL");
    expect(validated.diagnostics?.map((diagnostic) => diagnostic.code)).toEqual(["INVALID_JSON_DESCRIPTION"]);
  });

  it("fails a schema error with its location", async () => {
    const definition = JSON.stringify({ StartAt: "A", States: { A: { Type: "Pass", Ned: true } } });

    const { diagnostics } = await validate({ definition });

    expect(diagnostics).toContainEqual(
      expect.objectContaining({ severity: "ERROR", code: "SCHEMA_VALIDATION_FAILED", location: "/States/A" }),
    );
  });

  it("fails the callback task for an EXPRESS state machine, and keeps STANDARD the default", async () => {
    const { definition = "" } = await env.sfn.send(new DescribeStateMachineCommand({ stateMachineArn }));

    const express = await validate({ definition, type: "EXPRESS" });

    expect(express.result).toBe("FAIL");
    expect(express.diagnostics).toEqual([
      expect.objectContaining({ code: "INVALID_RESOURCE", location: "/States/GenerateImage/Resource" }),
    ]);
  });

  it("truncates the diagnostics at maxResults", async () => {
    const validated = await validate({ definition: BROKEN_DEFINITION, maxResults: 1 });

    expect(validated.diagnostics).toHaveLength(1);
    expect(validated.truncated).toBe(true);
  });
});

describe("pagination", () => {
  it("paginateListExecutions pages one execution at a time through every execution", async () => {
    const pages = [];
    for await (const page of paginateListExecutions({ client: env.sfn, pageSize: 1 }, { stateMachineArn })) {
      pages.push(page);
    }

    expect(pages.map((page) => page.executions?.length)).toEqual([1, 1, 1]);
    const paged = pages.flatMap((page) => page.executions?.map((execution) => execution.executionArn));
    expect(new Set(paged)).toEqual(new Set(executionArns));
  });

  it("paginateGetExecutionHistory pages the history in order, forwards and reversed", async () => {
    const [executionArn] = executionArns;
    const whole = (await env.sfn.send(new GetExecutionHistoryCommand({ executionArn }))).events ?? [];
    const pagedEvents = async (reverseOrder: boolean) => {
      const events: HistoryEvent[] = [];
      let pages = 0;
      for await (const page of paginateGetExecutionHistory(
        { client: env.sfn, pageSize: 3 },
        { executionArn, reverseOrder },
      )) {
        events.push(...(page.events ?? []));
        pages += 1;
      }
      return { events, pages };
    };

    const forwards = await pagedEvents(false);
    const reversed = await pagedEvents(true);

    expect(whole.length).toBeGreaterThan(6);
    expect(forwards.pages).toBe(Math.ceil(whole.length / 3));
    expect(forwards.events).toEqual(whole);
    expect(reversed.events).toEqual([...whole].reverse());
  });

  it("answers InvalidToken, 400, for a nextToken it did not issue or issued for another list", async () => {
    const [executionArn = ""] = executionArns;
    const { nextToken: listToken } = await env.sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: 1 }));
    const invalid = { name: "InvalidToken", status: 400 };

    expect(listToken).toEqual(expect.any(String));
    expect(await rejection(env.sfn.send(new ListExecutionsCommand({ stateMachineArn, nextToken: "1" })))).toEqual(
      invalid,
    );
    expect(
      await rejection(env.sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken: listToken }))),
    ).toEqual(invalid);
    expect(
      await rejection(
        env.sfn.send(new ListExecutionsCommand({ stateMachineArn, statusFilter: "FAILED", nextToken: listToken })),
      ),
    ).toEqual(invalid);
    expect(await rejection(env.sfn.send(new ListStateMachinesCommand({ nextToken: "not-a-token" })))).toEqual(invalid);
  });
});

function parsed(result: CliResult): Record<string, unknown> {
  if (result.code !== 0) throw new Error(`The CLI exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe("the same APIs through the AWS CLIs", () => {
  for (const cli of AWS_CLIS) {
    const cliTest = cli.path || process.env.CI ? it.concurrent : it.skip;
    cliTest(`list, describe, validate and page with ${cli.label}`, async ({ expect }) => {
      if (!cli.path) throw new Error(cli.missing);
      const path = cli.path;
      const [executionArn = ""] = executionArns;
      const run = (args: string[]) => stepFunctionsCli(path, env.stack.stepFunctionsUrl, args);
      // The CLI follows nextToken itself: --page-size makes it ask a few items at a time. The unknown execution's
      // error and the valid definition are left to the SDK tests: each CLI start costs most of a CPU-second.
      const [listed, described, forExecution, executions, history, unknownMachine, validated] = await Promise.all([
        run(["list-state-machines", "--page-size", "1"]),
        run(["describe-state-machine", "--state-machine-arn", stateMachineArn]),
        run(["describe-state-machine-for-execution", "--execution-arn", executionArn]),
        run(["list-executions", "--state-machine-arn", stateMachineArn, "--page-size", "1"]),
        run(["get-execution-history", "--execution-arn", executionArn, "--page-size", "2"]),
        run(["describe-state-machine", "--state-machine-arn", `${stateMachineArn}Gone`]),
        run(["validate-state-machine-definition", "--definition", BROKEN_DEFINITION]),
      ]);

      // v1 prints timestamps as epoch seconds, v2 as ISO 8601 text.
      expect(parsed(listed).stateMachines).toEqual([
        { stateMachineArn, name: "ImagePipeline", type: "STANDARD", creationDate: expect.anything() },
      ]);
      expect(parsed(described)).toMatchObject({
        stateMachineArn,
        status: "ACTIVE",
        type: "STANDARD",
        loggingConfiguration: { level: "ERROR", includeExecutionData: false },
        tracingConfiguration: { enabled: true },
      });
      expect(parsed(forExecution)).toMatchObject({ stateMachineArn, definition: parsed(described).definition });
      const listedArns = (parsed(executions).executions as { executionArn: string }[]).map((item) => item.executionArn);
      expect(new Set(listedArns)).toEqual(new Set(executionArns));
      const sdkHistory = await env.sfn.send(new GetExecutionHistoryCommand({ executionArn }));
      expect((parsed(history).events as unknown[]).length).toBe(sdkHistory.events?.length);
      expect(unknownMachine.code).not.toBe(0);
      expect(unknownMachine.stderr).toContain("StateMachineDoesNotExist");
      if (/invalid choice/i.test(validated.stderr)) {
        // Debian's 2.9 (January 2023) predates the API (June 2024): only that CLI may lack the command.
        expect(path).toBe("/usr/bin/aws");
      } else {
        expect(parsed(validated)).toMatchObject({
          result: "FAIL",
          diagnostics: expect.arrayContaining([expect.objectContaining({ code: "MISSING_TRANSITION_TARGET" })]),
          truncated: false,
        });
      }
    });
  }
});

describe("TestState", () => {
  /** The SDK's recipe for the `sync-` host prefix: without it, TestState goes to sync-127.0.0.1. */
  let testClient: SFNClient;
  let states: Record<string, unknown>;
  let definition: string;
  let roleArn: string;
  const DEBUG_STEPS = [
    "input",
    "afterInputPath",
    "afterParameters",
    "result",
    "afterResultSelector",
    "afterResultPath",
  ];
  const test = (input: Omit<TestStateCommandInput, "roleArn"> & { roleArn?: string | null }) => {
    const { roleArn: role = roleArn, ...rest } = input;
    return testClient.send(new TestStateCommand({ ...rest, ...(role === null ? {} : { roleArn: role }) }));
  };
  const stateOf = (name: string) => JSON.stringify(states[name]);

  beforeAll(async () => {
    testClient = new SFNClient({
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      endpoint: env.stack.stepFunctionsUrl,
      disableHostPrefix: true,
    });
    const described = await env.sfn.send(new DescribeStateMachineCommand({ stateMachineArn }));
    definition = described.definition ?? "";
    roleArn = described.roleArn ?? "";
    states = JSON.parse(definition).States;
  });

  afterAll(() => {
    testClient?.destroy();
  });

  it("reaches the endpoint only with disableHostPrefix: the default client asks sync-127.0.0.1", async () => {
    const prefixed = new SFNClient({
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      endpoint: env.stack.stepFunctionsUrl,
      maxAttempts: 1,
    });

    const refused = await prefixed
      .send(new TestStateCommand({ definition: JSON.stringify({ Type: "Pass", End: true }) }))
      .then(
        () => "answered",
        (error: Error) => error.message,
      );
    prefixed.destroy();

    expect(refused).toMatch(/ENOTFOUND sync-127\.0\.0\.1/);
  });

  it("runs ValidatePrompt with the real handler at INFO, DEBUG and TRACE, alone or named in the whole machine", async () => {
    const input = JSON.stringify({ prompt: "a teapot on a couch" });

    const [info, debug, trace] = await Promise.all([
      test({ definition, stateName: "ValidatePrompt", input }),
      test({ definition: stateOf("ValidatePrompt"), input, inspectionLevel: "DEBUG" }),
      test({ definition: stateOf("ValidatePrompt"), input, inspectionLevel: "TRACE" }),
    ]);

    expect(info).toMatchObject({ status: "SUCCEEDED", nextState: "RecordRunning" });
    expect(info.inspectionData).toBeUndefined();
    expect(JSON.parse(info.output ?? "{}")).toMatchObject({
      prompt: "a teapot on a couch",
      validated: { request: { prompt: "a teapot on a couch", modelId: PIXEL_MODEL_ID }, source: "direct" },
    });
    expect(Object.keys(debug.inspectionData ?? {})).toEqual(DEBUG_STEPS);
    const steps = Object.fromEntries(
      Object.entries(debug.inspectionData ?? {}).map(([step, value]) => [step, JSON.parse(String(value))]),
    );
    expect(steps.afterParameters).toMatchObject({
      FunctionName: expect.stringMatching(/:function:validate-prompt$/),
      Payload: { input: { prompt: "a teapot on a couch" }, jobId: expect.any(String) },
    });
    expect(steps.result).toMatchObject({ StatusCode: 200, Payload: { request: { prompt: "a teapot on a couch" } } });
    expect(steps.afterResultSelector).toEqual({ ...steps.result.Payload });
    expect(steps.afterResultPath).toEqual(JSON.parse(debug.output ?? ""));
    // TRACE adds an HTTP task's request and response; ValidatePrompt is not one, so it answers as DEBUG.
    expect(Object.keys(trace.inspectionData ?? {})).toEqual(DEBUG_STEPS);
  });

  it("answers an InvalidPrompt as CAUGHT_ERROR, RecordRejected next, with the catcher's output and index", async () => {
    const answer = await test({
      definition: stateOf("ValidatePrompt"),
      input: '{"prompt": ""}',
      inspectionLevel: "DEBUG",
    });

    expect(answer).toMatchObject({ status: "CAUGHT_ERROR", error: "InvalidPrompt", nextState: "RecordRejected" });
    expect(JSON.parse(answer.cause ?? "{}")).toMatchObject({ errorType: "InvalidPrompt" });
    expect(JSON.parse(answer.output ?? "{}")).toEqual({
      prompt: "",
      error: { Error: "InvalidPrompt", Cause: answer.cause },
    });
    expect(answer.inspectionData?.errorDetails).toEqual({ catchIndex: 0 });
  });

  it("runs Choice and Pass states defined inline", async () => {
    const choice = JSON.stringify({
      Type: "Choice",
      Choices: [{ Variable: "$.width", NumericGreaterThan: 1024, Next: "TooWide" }],
      Default: "Generate",
    });
    const pass = JSON.stringify({
      Type: "Pass",
      Parameters: { "size.$": "States.Format('{}px', $.width)" },
      End: true,
    });

    const [wide, passed] = await Promise.all([
      test({ definition: choice, input: '{"width": 2048}', roleArn: null, inspectionLevel: "DEBUG" }),
      test({ definition: pass, input: '{"width": 512}', roleArn: null, inspectionLevel: "DEBUG" }),
    ]);

    expect(wide).toMatchObject({ status: "SUCCEEDED", nextState: "TooWide", output: '{"width":2048}' });
    expect(wide.inspectionData).toEqual({ input: '{"width":2048}', afterInputPath: '{"width":2048}' });
    expect(passed).toMatchObject({ status: "SUCCEEDED", output: '{"size":"512px"}' });
    expect(passed.nextState).toBeUndefined();
    expect(passed.inspectionData).toMatchObject({ afterParameters: '{"size":"512px"}' });
  });

  it("answers a failing DynamoDB task FAILED, and RETRIABLE while a retrier has attempts left (never retrying)", async () => {
    const getItem = {
      Type: "Task",
      Resource: "arn:aws:states:::dynamodb:getItem",
      Parameters: { TableName: "no-such-table", Key: { jobId: { S: "job-1" } } },
      End: true,
    };
    const retried = {
      ...getItem,
      Retry: [{ ErrorEquals: ["DynamoDB.ResourceNotFoundException"], IntervalSeconds: 2, MaxAttempts: 2 }],
    };

    const [failed, retriable] = await Promise.all([
      test({ definition: JSON.stringify(getItem), inspectionLevel: "DEBUG" }),
      test({ definition: JSON.stringify(retried), inspectionLevel: "DEBUG" }),
    ]);

    expect(failed).toMatchObject({ status: "FAILED", error: "DynamoDB.ResourceNotFoundException" });
    expect(failed.output).toBeUndefined();
    expect(Object.keys(failed.inspectionData ?? {})).toEqual(["input", "afterInputPath", "afterParameters"]);
    expect(retriable).toMatchObject({ status: "RETRIABLE", error: "DynamoDB.ResourceNotFoundException" });
    expect(retriable.inspectionData?.errorDetails).toEqual({ retryIndex: 0, retryBackoffIntervalSeconds: 2 });
  });

  it("runs the waiting room's callback task only with a mock, as AWS does", async () => {
    const input = JSON.stringify({ validated: { request: { prompt: "a teapot" } } });
    const image =
      '{"bucket":"b","stagingKey":"k","bytes":1,"seed":7,"modelId":"m","aspectRatio":"1:1","outputFormat":"png"}';

    const [unmocked, mocked] = await Promise.all([
      rejection(test({ definition: stateOf("GenerateImage"), input })),
      test({ definition: stateOf("GenerateImage"), input, roleArn: null, mock: { result: image } }),
    ]);

    expect(unmocked).toEqual({ name: "InvalidDefinition", status: 400 });
    expect(mocked).toMatchObject({ status: "SUCCEEDED", nextState: "StoreImage" });
    expect(JSON.parse(mocked.output ?? "{}").image).toEqual(JSON.parse(image));
  });

  it("answers AWS's errors with HTTP 400", async () => {
    const validatePrompt = stateOf("ValidatePrompt");

    const refused = await Promise.all([
      rejection(test({ definition: validatePrompt, roleArn: null })),
      rejection(test({ definition: "{ not json" })),
      rejection(test({ definition, stateName: "NoSuchState" })),
      rejection(test({ definition: validatePrompt, input: "{ not json" })),
      rejection(test({ definition: JSON.stringify({ Type: "Map", ItemProcessor: {}, End: true }) })),
    ]);

    expect(refused).toEqual([
      { name: "ValidationException", status: 400 },
      { name: "InvalidDefinition", status: 400 },
      { name: "ValidationException", status: 400 },
      { name: "InvalidExecutionInput", status: 400 },
      { name: "InvalidDefinition", status: 400 },
    ]);
  });

  describe("the sync- host prefix through the AWS CLIs", () => {
    for (const cli of AWS_CLIS) {
      const cliTest = cli.path || process.env.CI ? it.concurrent : it.skip;
      cliTest(`${cli.label}: what reaches TestState and StartSyncExecution`, async ({ expect }) => {
        if (!cli.path) throw new Error(cli.missing);
        const path = cli.path;
        const endpoint = env.stack.stepFunctionsUrl;
        const run = (args: string[], environment: NodeJS.ProcessEnv = {}) =>
          stepFunctionsCli(path, endpoint, args, environment);
        // The recipe for any CLI: the endpoint as the HTTP proxy, so sync-127.0.0.1 is never looked up.
        const proxied = { http_proxy: endpoint, HTTP_PROXY: endpoint, no_proxy: "", NO_PROXY: "" };
        const noPrefix = { AWS_DISABLE_HOST_PREFIX_INJECTION: "true" };
        const testStateArgs = [
          "test-state",
          ...["--definition", stateOf("ValidatePrompt"), "--role-arn", roleArn],
          ...["--input", '{"prompt": "a teapot"}', "--inspection-level", "DEBUG"],
        ];

        if (path === "/usr/bin/aws") {
          // Debian's 2.9 (January 2023) predates TestState (November 2023: `test-state` is an invalid choice) and the
          // setting (2025). StartSyncExecution carries the same prefix and shows which recipe reaches the endpoint.
          const startSync = ["start-sync-execution", "--state-machine-arn", stateMachineArn];
          const [settingIgnored, reached] = await Promise.all([run(startSync, noPrefix), run(startSync, proxied)]);
          expect(settingIgnored.stderr).toMatch(/Could not connect to the endpoint URL: "http:\/\/sync-127\.0\.0\.1:/);
          expect(reached.stderr).toMatch(/An error occurred \(\w+\) when calling the StartSyncExecution operation/);
          return;
        }
        const answers = await Promise.all([run(testStateArgs, noPrefix), run(testStateArgs, proxied)]);
        for (const answered of answers) {
          expect(parsed(answered)).toMatchObject({ status: "SUCCEEDED", nextState: "RecordRunning" });
          expect(Object.keys(parsed(answered).inspectionData as object)).toEqual(DEBUG_STEPS);
        }
      });
    }
  });
});

describe("running executions through the AWS CLIs: start, describe, stop, redrive, and task answers", () => {
  /** What start-job puts in an execution's input, as a person starting one by hand would copy it. */
  const jobInput = (take: number) =>
    JSON.stringify({
      prompt: `a teapot on a couch, by hand ${take}`,
      source: "api",
      requestedAt: new Date().toISOString(),
      pipeline: { caller: "anonymous" },
    });

  it("starts, stops and redrives an execution with each CLI, and answers an unknown task token as AWS does", async () => {
    const clis = AWS_CLIS.filter((cli) => cli.path || process.env.CI);
    for (const cli of clis) if (!cli.path) throw new Error(cli.missing);
    // Prepare: the stand-in slow, so the executions stay in GenerateImage long enough to be stopped there.
    env.stack.bedrock.setFaults({ latencyMs: 10_000 });
    const runs = clis.map((cli, index) => ({
      path: cli.path ?? "",
      name: `by-hand-${index}`,
      run: (args: string[]) => stepFunctionsCli(cli.path ?? "", env.stack.stepFunctionsUrl, args),
    }));

    // Act 1: start-execution, then stop-execution once the job waits for its image; unknown task tokens.
    const stopped = await Promise.all(
      runs.map(async ({ path, name, run }, index) => {
        const started = parsed(
          await run([
            "start-execution",
            "--state-machine-arn",
            stateMachineArn,
            "--name",
            name,
            "--input",
            jobInput(index),
          ]),
        );
        const executionArn = String(started.executionArn);
        await pollUntil(
          `${name} to wait in GenerateImage`,
          async () => (await env.sfn.send(new GetExecutionHistoryCommand({ executionArn }))).events ?? [],
          (events) => events.some((event) => event.type === "TaskSubmitted"),
        );
        const [stop, answers] = await Promise.all([
          run(["stop-execution", "--execution-arn", executionArn, "--error", "ByHand", "--cause", "stopped by a test"]),
          Promise.all([
            run(["send-task-success", "--task-token", "no-such-token", "--task-output", "{}"]),
            run(["send-task-failure", "--task-token", "no-such-token", "--error", "Nope"]),
            run(["send-task-heartbeat", "--task-token", "no-such-token"]),
          ]),
        ]);
        const described = await run(["describe-execution", "--execution-arn", executionArn]);
        return { path, run, executionArn, stop, answers, described };
      }),
    );

    // Assess 1
    for (const { stop, answers, described } of stopped) {
      expect(parsed(stop)).toHaveProperty("stopDate");
      expect(parsed(described)).toMatchObject({ status: "ABORTED", error: "ByHand", cause: "stopped by a test" });
      for (const answer of answers) {
        expect(answer.code).not.toBe(0);
        expect(answer.stderr).toMatch(/\((InvalidToken|TaskDoesNotExist)\)/);
      }
    }

    // Act 2: Bedrock answers again; redrive-execution where the CLI has it (Debian's 2.9 predates it: November 2023).
    env.stack.bedrock.setFaults({ latencyMs: 0 });
    const redriven = await Promise.all(
      stopped.map(async ({ path, run, executionArn }) => ({
        path,
        executionArn,
        redrive: await run(["redrive-execution", "--execution-arn", executionArn]),
      })),
    );

    // Assess 2: the redriven execution runs again from GenerateImage under the same ARN and SUCCEEDS.
    for (const { executionArn, path, redrive } of redriven) {
      if (/invalid choice/i.test(redrive.stderr)) {
        expect(path).toBe("/usr/bin/aws");
        continue;
      }
      expect(parsed(redrive)).toHaveProperty("redriveDate");
      const ended = await pollUntil(
        `${executionArn} to end after its redrive`,
        () => env.sfn.send(new DescribeExecutionCommand({ executionArn })),
        (execution) => execution.status !== "RUNNING",
      );
      expect(ended).toMatchObject({ status: "SUCCEEDED", redriveCount: 1 });
    }
  });
});
