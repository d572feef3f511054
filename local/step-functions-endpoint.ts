import type { IncomingMessage, ServerResponse } from "node:http";
import { DEPLOYED_STATE_MACHINE } from "../statemachine/deployed-settings";
import { validateDefinition } from "./definition-validation";
import { stateMachineRoleArn } from "./execution-history";
import type { ExecutionRecord, ExecutionStore, HistoryEvent } from "./executions";
import { type LoopbackServer, listenOnLoopback, readBody } from "./http-server";
import { PageTokens } from "./page-tokens";
import type { TaskTokens } from "./task-tokens";
import { type TestStateServices, testState } from "./test-state";

/** The local stack's one state machine, as DescribeStateMachine tells of it. */
export interface LocalStateMachine {
  arn: string;
  /** The substituted definition the runner runs. */
  definition: Record<string, unknown>;
  /** When the stack started: a local state machine is created with it. */
  creationDate: Date;
}

/**
 * The Step Functions JSON protocol (`x-amz-json-1.0`, `X-Amz-Target: AWSStepFunctions.<Operation>`) for the
 * operations this project and its users need, backed by the local ExecutionStore and the runner's task tokens:
 * `@aws-sdk/client-sfn` and `aws stepfunctions --endpoint-url` work against it unchanged (the generator answers its
 * callback tasks here, and so can a person with `aws stepfunctions send-task-success`).
 */
export async function startStepFunctionsEndpoint(
  store: ExecutionStore,
  stateMachine: LocalStateMachine,
  port: number,
  taskTokens: TaskTokens,
  testStateServices: TestStateServices,
): Promise<LoopbackServer> {
  const stateMachineArn = stateMachine.arn;
  const pageTokens = new PageTokens();
  const described = describeStateMachine(stateMachine);
  const operations: Record<string, (input: Record<string, unknown>) => unknown> = {
    StartExecution: (input) => {
      requireMachine(input.stateMachineArn, stateMachineArn);
      const name = typeof input.name === "string" ? input.name : crypto.randomUUID();
      if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) throw awsError("InvalidName", `Invalid Name: '${name}'`);
      const inputText = typeof input.input === "string" ? input.input : "{}";
      try {
        JSON.parse(inputText);
      } catch {
        throw awsError("InvalidExecutionInput", "Invalid State Machine Execution Input: the input is not JSON");
      }
      if (Buffer.byteLength(inputText) > 256 * 1024) {
        throw awsError("InvalidExecutionInput", "Invalid State Machine Execution Input: over 256 KB");
      }
      const { record } = store.start(name, inputText);
      return { executionArn: record.executionArn, startDate: seconds(record.startDate) };
    },
    DescribeExecution: (input) => {
      const record = store.describe(String(input.executionArn));
      return { ...describe(record), ...store.redriveStatus(record) };
    },
    ListExecutions: (input) => {
      requireMachine(input.stateMachineArn, stateMachineArn);
      const statusFilter = typeof input.statusFilter === "string" ? input.statusFilter : undefined;
      const { items, nextToken } = pageTokens.page(
        store.list(statusFilter),
        `ListExecutions ${stateMachineArn} ${statusFilter ?? ""}`,
        input,
      );
      return {
        executions: items.map((record) => {
          const { input: _input, output: _output, error: _error, cause: _cause, ...summary } = describe(record);
          return summary;
        }),
        ...(nextToken ? { nextToken } : {}),
      };
    },
    GetExecutionHistory: (input) => {
      const executionArn = String(input.executionArn);
      const history = store.history(executionArn);
      const events = input.reverseOrder ? [...history].reverse() : history;
      // 1,000 rather than AWS's 100 when maxResults is absent: callers here read a whole history in one call.
      const { items, nextToken } = pageTokens.page(
        events,
        `GetExecutionHistory ${executionArn} ${input.reverseOrder === true}`,
        input,
        1000,
      );
      return { events: items.map(historyEvent), ...(nextToken ? { nextToken } : {}) };
    },
    ListStateMachines: (input) => {
      const { items, nextToken } = pageTokens.page([described], "ListStateMachines", input);
      return {
        stateMachines: items.map(({ stateMachineArn, name, type, creationDate }) => ({
          stateMachineArn,
          name,
          type,
          creationDate,
        })),
        ...(nextToken ? { nextToken } : {}),
      };
    },
    DescribeStateMachine: (input) => {
      requireMachine(input.stateMachineArn, stateMachineArn);
      return described;
    },
    DescribeStateMachineForExecution: (input) => {
      store.describe(String(input.executionArn));
      const { status: _status, type: _type, creationDate, ...forExecution } = described;
      // AWS answers updateDate here (the version the execution ran); the local machine is never updated.
      return { ...forExecution, updateDate: creationDate };
    },
    ValidateStateMachineDefinition: (input) => validateDefinition(input),
    TestState: (input) => testState(input, testStateServices, stateMachineArn),
    StopExecution: (input) => {
      const record = store.stop(
        String(input.executionArn),
        typeof input.error === "string" ? input.error : undefined,
        typeof input.cause === "string" ? input.cause : undefined,
      );
      return { stopDate: seconds(record.stopDate ?? new Date()) };
    },
    RedriveExecution: (input) => {
      const clientToken = typeof input.clientToken === "string" ? input.clientToken : undefined;
      const record = store.redrive(String(input.executionArn), clientToken);
      return { redriveDate: seconds(record.redriveDate ?? new Date()) };
    },
    SendTaskSuccess: (input) => {
      taskTokens.succeed(requireToken(input.taskToken), typeof input.output === "string" ? input.output : "");
      return {};
    },
    SendTaskFailure: (input) => {
      taskTokens.fail(
        requireToken(input.taskToken),
        typeof input.error === "string" ? input.error : undefined,
        typeof input.cause === "string" ? input.cause : undefined,
      );
      return {};
    },
    SendTaskHeartbeat: (input) => {
      taskTokens.heartbeat(requireToken(input.taskToken));
      return {};
    },
  };

  return listenOnLoopback((request, response) => handle(request, response, operations), port);
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  operations: Record<string, (input: Record<string, unknown>) => unknown>,
): Promise<void> {
  const target = String(request.headers["x-amz-target"] ?? "");
  const operation = target.startsWith("AWSStepFunctions.") ? target.slice("AWSStepFunctions.".length) : "";
  const { body } = await readBody(request, 1024 * 1024);
  const send = (status: number, payload: unknown) => {
    response.writeHead(status, {
      "Content-Type": "application/x-amz-json-1.0",
      "x-amzn-RequestId": crypto.randomUUID(),
    });
    response.end(JSON.stringify(payload));
  };
  const run = operations[operation];
  if (!run) {
    send(400, {
      __type: "UnknownOperationException",
      message: `The local Step Functions endpoint does not serve ${target || "this request"}`,
    });
    return;
  }
  try {
    send(200, await run(body.length > 0 ? (JSON.parse(body.toString("utf8")) as Record<string, unknown>) : {}));
  } catch (error) {
    const name = error instanceof Error ? error.name : "InternalFailure";
    const message = error instanceof Error ? error.message : String(error);
    const known = [
      "ExecutionAlreadyExists",
      "ExecutionDoesNotExist",
      "ExecutionNotRedrivable",
      "InvalidName",
      "InvalidExecutionInput",
      "StateMachineDoesNotExist",
      "InvalidArn",
      "InvalidToken",
      "TaskDoesNotExist",
      "TaskTimedOut",
      "InvalidOutput",
      "ValidationException",
      "InvalidDefinition",
    ];
    send(known.includes(name) ? 400 : 500, { __type: known.includes(name) ? name : "InternalFailure", message });
  }
}

function requireMachine(given: unknown, expected: string): void {
  if (given !== expected) {
    throw awsError(
      "StateMachineDoesNotExist",
      `State Machine Does Not Exist: '${String(given)}' (the local stack serves ${expected})`,
    );
  }
}

/** SendTask*'s taskToken: 1 to 2,048 characters. */
function requireToken(token: unknown): string {
  if (typeof token !== "string" || token.length < 1 || token.length > 2048) {
    throw awsError("InvalidToken", "Invalid Token: taskToken must be 1 to 2048 characters");
  }
  return token;
}

/**
 * DescribeStateMachine's answer: type, logging and tracing as a default deployment sets them. The deployed logging
 * configuration also names its log group (`destinations`); locally there is none, so it is left out.
 */
function describeStateMachine(stateMachine: LocalStateMachine) {
  return {
    stateMachineArn: stateMachine.arn,
    name: stateMachine.arn.slice(stateMachine.arn.lastIndexOf(":") + 1),
    status: "ACTIVE",
    definition: JSON.stringify(stateMachine.definition),
    roleArn: stateMachineRoleArn(stateMachine.arn),
    type: DEPLOYED_STATE_MACHINE.type,
    creationDate: seconds(stateMachine.creationDate),
    loggingConfiguration: {
      level: DEPLOYED_STATE_MACHINE.logLevel,
      includeExecutionData: DEPLOYED_STATE_MACHINE.includeExecutionData,
    },
    tracingConfiguration: { enabled: DEPLOYED_STATE_MACHINE.tracingEnabled },
  };
}

function describe(record: ExecutionRecord) {
  return {
    executionArn: record.executionArn,
    stateMachineArn: record.stateMachineArn,
    name: record.name,
    status: record.status,
    startDate: seconds(record.startDate),
    ...(record.stopDate ? { stopDate: seconds(record.stopDate) } : {}),
    input: record.input,
    ...(record.output !== undefined ? { output: record.output } : {}),
    ...(record.error !== undefined ? { error: record.error } : {}),
    ...(record.cause !== undefined ? { cause: record.cause } : {}),
    redriveCount: record.redriveCount ?? 0,
    ...(record.redriveDate ? { redriveDate: seconds(record.redriveDate) } : {}),
  };
}

function historyEvent(event: HistoryEvent) {
  return { ...event, timestamp: seconds(event.timestamp) };
}

/** The JSON protocol sends timestamps as epoch seconds. */
function seconds(date: Date): number {
  return date.getTime() / 1000;
}

function awsError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}
