import type { IncomingMessage, ServerResponse } from "node:http";
import type { ExecutionRecord, ExecutionStore, HistoryEvent } from "./executions";
import { type LoopbackServer, listenOnLoopback, readBody } from "./http-server";
import type { TaskTokens } from "./task-tokens";

/**
 * The Step Functions JSON protocol (`x-amz-json-1.0`, `X-Amz-Target: AWSStepFunctions.<Operation>`) for the
 * operations this project and its users need, backed by the local ExecutionStore and the runner's task tokens:
 * `@aws-sdk/client-sfn` and `aws stepfunctions --endpoint-url` work against it unchanged (the generator answers its
 * callback tasks here, and so can a person with `aws stepfunctions send-task-success`).
 */
export async function startStepFunctionsEndpoint(
  store: ExecutionStore,
  stateMachineArn: string,
  port: number,
  taskTokens: TaskTokens,
): Promise<LoopbackServer> {
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
    DescribeExecution: (input) => describe(store.describe(String(input.executionArn))),
    ListExecutions: (input) => {
      requireMachine(input.stateMachineArn, stateMachineArn);
      const all = store.list(typeof input.statusFilter === "string" ? input.statusFilter : undefined);
      const start = input.nextToken ? Number(input.nextToken) : 0;
      const size = typeof input.maxResults === "number" && input.maxResults > 0 ? input.maxResults : 100;
      const page = all.slice(start, start + size);
      return {
        executions: page.map((record) => {
          const { input: _input, output: _output, error: _error, cause: _cause, ...summary } = describe(record);
          return summary;
        }),
        ...(start + size < all.length ? { nextToken: String(start + size) } : {}),
      };
    },
    GetExecutionHistory: (input) => {
      const history = store.history(String(input.executionArn));
      const events = input.reverseOrder ? [...history].reverse() : history;
      const start = input.nextToken ? Number(input.nextToken) : 0;
      const size = typeof input.maxResults === "number" && input.maxResults > 0 ? input.maxResults : 1000;
      return {
        events: events.slice(start, start + size).map(historyEvent),
        ...(start + size < events.length ? { nextToken: String(start + size) } : {}),
      };
    },
    StopExecution: (input) => {
      const record = store.stop(
        String(input.executionArn),
        typeof input.error === "string" ? input.error : undefined,
        typeof input.cause === "string" ? input.cause : undefined,
      );
      return { stopDate: seconds(record.stopDate ?? new Date()) };
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
    send(200, run(body.length > 0 ? (JSON.parse(body.toString("utf8")) as Record<string, unknown>) : {}));
  } catch (error) {
    const name = error instanceof Error ? error.name : "InternalFailure";
    const message = error instanceof Error ? error.message : String(error);
    const known = [
      "ExecutionAlreadyExists",
      "ExecutionDoesNotExist",
      "InvalidName",
      "InvalidExecutionInput",
      "StateMachineDoesNotExist",
      "InvalidArn",
      "InvalidToken",
      "TaskDoesNotExist",
      "TaskTimedOut",
      "InvalidOutput",
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
