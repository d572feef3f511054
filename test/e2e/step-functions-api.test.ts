// Verifies the local Step Functions endpoint's read and validation APIs as real tools call them: ListStateMachines,
// DescribeStateMachine, DescribeStateMachineForExecution and ValidateStateMachineDefinition through
// @aws-sdk/client-sfn (paginators included) and through both AWS CLIs; ListExecutions and GetExecutionHistory paged
// by their paginators; and the errors AWS answers (StateMachineDoesNotExist, ExecutionDoesNotExist, InvalidToken)
// by their SDK names and HTTP 400. One stack serves the file. It cannot verify that AWS answers the same: the
// validator is asl-validator, not AWS's rules, and the described role is a placeholder (no IAM locally).
import {
  DescribeStateMachineCommand,
  DescribeStateMachineForExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  paginateGetExecutionHistory,
  paginateListExecutions,
  paginateListStateMachines,
  ValidateStateMachineDefinitionCommand,
} from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AWS_CLIS,
  type CliResult,
  type E2eStack,
  executionArnOf,
  PIXEL_MODEL_ID,
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
