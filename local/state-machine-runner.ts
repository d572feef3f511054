import "./promise-with-resolvers";
import {
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { ExecutionAbortedError, ExecutionError, ExecutionTimeoutError, StateMachine } from "aws-local-stepfunctions";
import { errorMessage, errorName, isNetworkFailure } from "../functions/shared/aws-errors";
import { TaskTokens } from "./task-tokens";

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

export interface RunnerOptions {
  /** The definition with its placeholders filled (see `loadDefinition`). */
  definition: Record<string, unknown>;
  /** Handlers by the FunctionName the definition's `lambda:invoke` tasks name. */
  functions: Record<string, LocalFunction>;
  /** The client the `dynamodb:*` tasks use (the local emulator, or a mock in tests). */
  dynamodb: DynamoDBClient;
  /** The client the `sqs:sendMessage` tasks use (the local emulator, or a mock in tests). */
  sqs?: SQSClient;
}

export type ExecutionStatus = "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED";

export interface ExecutionOutcome {
  status: Exclude<ExecutionStatus, "RUNNING">;
  output?: unknown;
  error?: string;
  cause?: string;
}

/**
 * One call of a task state's resource (one attempt), as the runner made it: what the history's TaskScheduled,
 * TaskStarted, TaskSubmitted and TaskSucceeded events tell, which the library's event log does not.
 */
export interface TaskCall {
  state: string;
  /** When the resource was called. */
  timestamp: number;
  /** The state's resolved Parameters, as the resource received them (a function's ARN in FunctionName). */
  parameters: unknown;
  /** A callback task's message was sent: when, and SendMessage's answer. */
  submitted?: { timestamp: number; output: unknown };
  /** The resource's own result, before ResultSelector and ResultPath. */
  result?: { timestamp: number; output: unknown };
}

export interface RunningExecution {
  /** Every event so far, in order; complete once `outcome` has settled. */
  events: EventLog[];
  /** Every call of a task's resource so far, in order. */
  tasks: TaskCall[];
  outcome: Promise<ExecutionOutcome>;
  stop: () => void;
}

export interface ExecutionContext {
  executionArn: string;
  name: string;
  stateMachineArn: string;
}

export interface StartOptions {
  /** The state to start from rather than the definition's StartAt (a redriven execution's unsuccessful state). */
  startAt?: string;
}

type DynamoDbAction = (client: DynamoDBClient, input: never) => Promise<object>;

/** The fields of a state that the runner and the history read. */
export interface StateFields {
  Type: string;
  Resource?: string;
  HeartbeatSeconds?: number;
  TimeoutSeconds?: number;
  Next?: string;
}

/** Calls a task's resource; a callback task tells `submitted` when its message is sent. */
type TaskHandler = (input: unknown, submitted: (output: unknown) => void) => Promise<unknown>;

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
 * `sqs:sendMessage(.waitForTaskToken)` tasks send the message with the real SDK call and, for a callback task, wait
 * for the token's answer (`taskTokens`: the local Step Functions endpoint's SendTask* operations give it), with the
 * state's HeartbeatSeconds and TimeoutSeconds;
 * `$$.State.EnteredTime` and `$$.Task.Token`, which the library leaves out of the context object, are the time the
 * path is read and a new token.
 * Each call of a task's resource is recorded with the Parameters it received and its result (`tasks`), which the
 * library's event log lacks. An execution can start at any state (`startAt`: a redrive); the library then sets
 * `$$.Execution.StartTime` and `$$.Execution.Input` anew, where AWS keeps the original execution's.
 */
export class StateMachineRunner {
  /** The callback tasks' tokens, answered through the local Step Functions endpoint. */
  readonly taskTokens = new TaskTokens();
  /** Every state of the definition, by name (the history names each task's resource and limits). */
  readonly states: Record<string, StateFields>;
  private readonly definition: Record<string, unknown>;
  private readonly machine: StateMachine;
  private readonly handlers: Record<string, TaskHandler>;

  constructor(options: RunnerOptions) {
    this.definition = options.definition;
    this.machine = validatedStateMachine(options.definition);
    this.handlers = taskHandlers(options, this.taskTokens);
    this.states = (options.definition as { States: Record<string, StateFields> }).States;
  }

  start(input: unknown, context: ExecutionContext, options: StartOptions = {}): RunningExecution {
    const events: EventLog[] = [];
    const tasks: TaskCall[] = [];
    const enteredTime = {
      get EnteredTime() {
        return new Date().toISOString();
      },
    };
    const tokens = this.taskTokens;
    const task = {
      get Token() {
        return tokens.issue(context.executionArn);
      },
    };
    const machine = options.startAt === undefined ? this.machine : this.machineStartingAt(options.startAt);
    const execution = machine.run(input as never, {
      overrides: { taskResourceLocalHandlers: recordingCalls(this.handlers, tasks) as never },
      context: {
        Execution: { Id: context.executionArn, Name: context.name },
        StateMachine: { Id: context.stateMachineArn, Name: context.stateMachineArn.split(":").at(-1) },
        State: enteredTime,
        Task: task,
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
      tasks,
      outcome: outcome.then(async (result) => {
        tokens.closeExecution(context.executionArn);
        await collecting;
        return result;
      }),
      stop: execution.abort,
    };
  }

  /**
   * A copy of the definition that starts at `state` (our states are all top level, so any of them can). Not
   * validated again: the definition was, and the validator refuses the states the copy leaves unreachable.
   */
  private machineStartingAt(state: string): StateMachine {
    if (!(state in this.states)) throw new Error(`The definition has no state ${state} to start from`);
    return new StateMachine({ ...this.definition, StartAt: state } as never, {
      validationOptions: { noValidate: true },
    });
  }
}

/** Definitions (as JSON text) the library has validated in this process. */
const validatedDefinitions = new Set<string>();

/**
 * The library's StateMachine, validating a definition the first time this process builds it only: the library's
 * validator (asl-validator) takes 0.3 to 0.7 s a time, and the same definition is built again for each TestState call,
 * each test's runner and each stack started in one process. A definition that fails validation is never cached.
 */
export function validatedStateMachine(definition: Record<string, unknown>): StateMachine {
  const text = JSON.stringify(definition);
  const validated = validatedDefinitions.has(text);
  const machine = new StateMachine(definition as never, validated ? { validationOptions: { noValidate: true } } : {});
  validatedDefinitions.add(text);
  return machine;
}

/**
 * The library's per-state overrides, each recording its call (the Parameters it received, and the result) into
 * `tasks`: one set per execution, so the calls land in that execution's record.
 */
function recordingCalls(
  handlers: Record<string, TaskHandler>,
  tasks: TaskCall[],
): Record<string, (input: unknown) => Promise<unknown>> {
  return Object.fromEntries(
    Object.entries(handlers).map(([state, handler]) => [
      state,
      async (input: unknown) => {
        const call: TaskCall = { state, timestamp: Date.now(), parameters: structuredClone(input) };
        tasks.push(call);
        const output = await handler(input, (response) => {
          call.submitted = { timestamp: Date.now(), output: response };
        });
        call.result = { timestamp: Date.now(), output };
        return output;
      },
    ]),
  );
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

function taskHandlers(options: RunnerOptions, tokens: TaskTokens): Record<string, TaskHandler> {
  const handlers: Record<string, TaskHandler> = {};
  const states = (options.definition as { States: Record<string, StateFields> }).States;
  for (const [name, state] of Object.entries(states)) {
    if (state.Type !== "Task" || !state.Resource) continue;
    if (state.Resource === "arn:aws:states:::lambda:invoke") {
      handlers[name] = (input) =>
        invokeLocalFunction(options.functions, input as { FunctionName: string; Payload: unknown });
      continue;
    }
    const sqsTask = /^arn:aws:states:::sqs:sendMessage(\.waitForTaskToken)?$/.exec(state.Resource);
    if (sqsTask) {
      const sqs = options.sqs;
      if (!sqs) throw new Error(`State ${name}: the runner needs an SQS client for ${state.Resource}`);
      handlers[name] = sqsTask[1]
        ? (input, submitted) => sendAndWait(sqs, tokens, input, state, submitted)
        : (input) => sendMessage(sqs, input);
      continue;
    }
    const dynamodbAction = /^arn:aws:states:::dynamodb:(\w+)$/.exec(state.Resource)?.[1];
    const action = dynamodbAction ? DYNAMODB_ACTIONS[dynamodbAction] : undefined;
    if (!action) throw new Error(`State ${name}: the local runner does not emulate ${state.Resource}`);
    handlers[name] = (input) => callDynamoDb(options.dynamodb, action, input);
  }
  return handlers;
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

/**
 * The optimized SQS integration: MessageBody may be JSON, which Step Functions sends as its text. A service error is
 * `SQS.<its name>`; a failure with no answer from SQS is `SQS.SdkClientException`, as Step Functions names it (the
 * SDK v3 has no error of that name, so without this the ASL's retrier for it could never match locally).
 */
async function sendMessage(sqs: SQSClient, input: unknown): Promise<unknown> {
  const { MessageBody, ...rest } = input as { MessageBody: unknown; QueueUrl: string };
  try {
    const { $metadata: _metadata, ...output } = await sqs.send(
      new SendMessageCommand({
        ...rest,
        MessageBody: typeof MessageBody === "string" ? MessageBody : JSON.stringify(MessageBody),
      }),
    );
    return output;
  } catch (error) {
    const name = isNetworkFailure(error) ? "SdkClientException" : errorName(error);
    throw namedError(`SQS.${name}`, errorMessage(error));
  }
}

/**
 * A callback task: waits for the token it put in the message (started before the send, so an answer that comes
 * before the send returns is not missed), bounded by the state's HeartbeatSeconds and TimeoutSeconds.
 */
async function sendAndWait(
  sqs: SQSClient,
  tokens: TaskTokens,
  input: unknown,
  state: StateFields,
  submitted: (output: unknown) => void,
): Promise<unknown> {
  const token = tokens.findIssued(input);
  if (!token) {
    throw namedError("States.Runtime", "A .waitForTaskToken task must pass $$.Task.Token in its Parameters");
  }
  const answer = tokens.wait(token, {
    heartbeatMs: state.HeartbeatSeconds === undefined ? undefined : state.HeartbeatSeconds * 1000,
    timeoutMs: state.TimeoutSeconds === undefined ? undefined : state.TimeoutSeconds * 1000,
  });
  try {
    submitted(await sendMessage(sqs, input));
  } catch (error) {
    tokens.discard(token);
    throw error;
  }
  return answer;
}

function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}
