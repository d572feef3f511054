import "./promise-with-resolvers";
import {
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { ExecutionAbortedError, ExecutionError, ExecutionTimeoutError, StateMachine } from "aws-local-stepfunctions";

/** One entry of the runner's event log (aws-local-stepfunctions does not export its type). */
export interface EventLog {
  type: string;
  timestamp: number;
  state?: { name: string; type: string; input: unknown; output?: unknown };
  retry?: { attempt: number };
  input?: unknown;
  output?: unknown;
  Error?: string;
  Cause?: unknown;
}

/** A Lambda function as the local stack runs it: the real handler module's function, called in-process. */
export type LocalFunction = (payload: unknown) => Promise<unknown>;

/**
 * Lambda's reserved concurrency for a function the runner calls in-process: an invocation past the limit fails at
 * once as the Lambda integration reports it, `Lambda.TooManyRequestsException`.
 */
export function withReservedConcurrency(fn: LocalFunction, limit: number | undefined): LocalFunction {
  if (limit === undefined) return fn;
  let running = 0;
  return async (payload) => {
    if (running >= limit) {
      const error = new Error(`Rate Exceeded. (reserved concurrency ${limit} in use)`);
      error.name = "Lambda.TooManyRequestsException";
      throw error;
    }
    running += 1;
    try {
      return await fn(payload);
    } finally {
      running -= 1;
    }
  };
}

export interface RunnerOptions {
  /** The definition with its placeholders filled (see `loadDefinition`). */
  definition: Record<string, unknown>;
  /** Handlers by the FunctionName the definition's `lambda:invoke` tasks name. */
  functions: Record<string, LocalFunction>;
  /** The client the `dynamodb:*` tasks use (the local emulator, or a mock in tests). */
  dynamodb: DynamoDBClient;
}

export type ExecutionStatus = "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED";

export interface ExecutionOutcome {
  status: Exclude<ExecutionStatus, "RUNNING">;
  output?: unknown;
  error?: string;
  cause?: string;
}

export interface RunningExecution {
  /** Every event so far, in order; complete once `outcome` has settled. */
  events: EventLog[];
  outcome: Promise<ExecutionOutcome>;
  stop: () => void;
}

export interface ExecutionContext {
  executionArn: string;
  name: string;
  stateMachineArn: string;
}

type DynamoDbAction = (client: DynamoDBClient, input: never) => Promise<object>;

const DYNAMODB_ACTIONS: Record<string, DynamoDbAction> = {
  updateItem: (client, input) => client.send(new UpdateItemCommand(input)),
  putItem: (client, input) => client.send(new PutItemCommand(input)),
  getItem: (client, input) => client.send(new GetItemCommand(input)),
  deleteItem: (client, input) => client.send(new DeleteItemCommand(input)),
};

/**
 * Runs the real ASL file with aws-local-stepfunctions, filling in what it does not emulate:
 * `lambda:invoke` tasks call the handler in-process and wrap its result in `{Payload}` as Step Functions does,
 * with a failure reported the way Lambda reports it (errorType as the error name, the error JSON as the cause);
 * `dynamodb:*` tasks make the real SDK call, with errors named `DynamoDB.<Exception>` as the AWS integration names them;
 * `$$.State.EnteredTime`, which the library leaves out of the context object, is the time the path is read.
 */
export class StateMachineRunner {
  private readonly machine: StateMachine;
  private readonly overrides: Record<string, (input: unknown) => Promise<unknown>>;

  constructor(options: RunnerOptions) {
    this.machine = new StateMachine(options.definition as never);
    this.overrides = taskOverrides(options);
  }

  start(input: unknown, context: ExecutionContext): RunningExecution {
    const events: EventLog[] = [];
    const enteredTime = {
      get EnteredTime() {
        return new Date().toISOString();
      },
    };
    const execution = this.machine.run(input as never, {
      overrides: { taskResourceLocalHandlers: this.overrides as never },
      context: {
        Execution: { Id: context.executionArn, Name: context.name },
        StateMachine: { Id: context.stateMachineArn, Name: context.stateMachineArn.split(":").at(-1) },
        State: enteredTime,
      } as never,
    });
    const collecting = (async () => {
      for await (const event of execution.eventLogs) events.push(event as EventLog);
    })();
    const outcome = execution.result.then(
      (output): ExecutionOutcome => ({ status: "SUCCEEDED", output }),
      (error: unknown): ExecutionOutcome => failureOutcome(error),
    );
    return {
      events,
      outcome: outcome.then(async (result) => {
        await collecting;
        return result;
      }),
      stop: execution.abort,
    };
  }
}

function failureOutcome(error: unknown): ExecutionOutcome {
  if (error instanceof ExecutionAbortedError) return { status: "ABORTED" };
  if (error instanceof ExecutionTimeoutError) return { status: "TIMED_OUT", error: "States.Timeout" };
  if (error instanceof ExecutionError) {
    const cause = error.cause as Error | undefined;
    return { status: "FAILED", error: cause?.name ?? "States.Runtime", cause: cause?.message ?? error.message };
  }
  return { status: "FAILED", error: "States.Runtime", cause: String(error) };
}

interface TaskState {
  Type: string;
  Resource?: string;
}

function taskOverrides(options: RunnerOptions): Record<string, (input: unknown) => Promise<unknown>> {
  const overrides: Record<string, (input: unknown) => Promise<unknown>> = {};
  const states = (options.definition as { States: Record<string, TaskState> }).States;
  for (const [name, state] of Object.entries(states)) {
    if (state.Type !== "Task" || !state.Resource) continue;
    if (state.Resource === "arn:aws:states:::lambda:invoke") {
      overrides[name] = (input) =>
        invokeLocalFunction(options.functions, input as { FunctionName: string; Payload: unknown });
      continue;
    }
    const dynamodbAction = /^arn:aws:states:::dynamodb:(\w+)$/.exec(state.Resource)?.[1];
    const action = dynamodbAction ? DYNAMODB_ACTIONS[dynamodbAction] : undefined;
    if (!action) throw new Error(`State ${name}: the local runner does not emulate ${state.Resource}`);
    overrides[name] = (input) => callDynamoDb(options.dynamodb, action, input);
  }
  return overrides;
}

async function invokeLocalFunction(
  functions: Record<string, LocalFunction>,
  input: { FunctionName: string; Payload: unknown },
): Promise<unknown> {
  const fn = functions[input.FunctionName];
  if (!fn) throw namedError("Lambda.ResourceNotFoundException", `Function not found: ${input.FunctionName}`);
  try {
    // A JSON round trip, as over the wire: the handler cannot share objects with the state payload.
    const payload = await fn(JSON.parse(JSON.stringify(input.Payload ?? null)));
    return {
      StatusCode: 200,
      ExecutedVersion: "$LATEST",
      Payload: payload === undefined ? null : JSON.parse(JSON.stringify(payload)),
    };
  } catch (error) {
    const errorType = error instanceof Error ? error.name : "Error";
    const errorMessage = error instanceof Error ? error.message : String(error);
    throw namedError(errorType, JSON.stringify({ errorType, errorMessage, trace: [] }));
  }
}

async function callDynamoDb(client: DynamoDBClient, action: DynamoDbAction, input: unknown): Promise<unknown> {
  try {
    const { $metadata: _metadata, ...output } = (await action(client, input as never)) as { $metadata?: unknown };
    return output;
  } catch (error) {
    const name = error instanceof Error ? error.name : "UnknownError";
    const message = error instanceof Error ? error.message : String(error);
    throw namedError(`DynamoDB.${name}`, message);
  }
}

function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}
