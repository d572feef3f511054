import "./promise-with-resolvers";
import { StateMachine } from "aws-local-stepfunctions";
import { validateDefinition } from "./definition-validation";
import { type EventLog, type RunnerOptions, StateMachineRunner, validatedStateMachine } from "./state-machine-runner";

/** What a tested Task state calls: the stack runner's own handlers and clients, so the real handler runs. */
export type TestStateServices = Omit<RunnerOptions, "definition">;

export class InvalidDefinitionError extends Error {
  override name = "InvalidDefinition";
}

export class TestStateValidationError extends Error {
  override name = "ValidationException";
}

class InvalidArnError extends Error {
  override name = "InvalidArn";
}

class InvalidExecutionInputError extends Error {
  override name = "InvalidExecutionInput";
}

type State = Record<string, unknown> & { Type?: string; Resource?: string };
type InspectionLevel = "INFO" | "DEBUG" | "TRACE";
type TestStatus = "SUCCEEDED" | "FAILED" | "RETRIABLE" | "CAUGHT_ERROR";

interface TestCase {
  name: string;
  state: State;
  input: unknown;
  level: InspectionLevel;
  mock?: { result?: unknown; errorOutput?: { error?: string; cause?: string } };
  /** stateConfiguration.retrierRetryCount: retries already made, which decides whether a retrier has attempts left. */
  retryCount: number;
  context?: Record<string, unknown>;
}

/** TestState's answer; the data-flow values are JSON text, as AWS sends them. */
export interface TestStateResponse {
  status: TestStatus;
  output?: string;
  error?: string;
  cause?: string;
  nextState?: string;
  inspectionData?: Record<string, unknown>;
}

const INSPECTION_LEVELS: InspectionLevel[] = ["INFO", "DEBUG", "TRACE"];
const TESTABLE_TYPES = ["Task", "Wait", "Pass", "Succeed", "Fail", "Choice"];
/** "The TestState API can run for up to five minutes", then States.Timeout (API_TestState). */
const TEST_STATE_TIMEOUT_MS = 5 * 60 * 1000;
/** The name a lone state (no stateName) runs under. */
const LONE_STATE_NAME = "TestState";
/** Whole definitions that passed asl-validator (~0.5 s a check): a tool tests state after state of one machine. */
const validDefinitions = new Set<string>();
const MAX_REMEMBERED_DEFINITIONS = 32;
/** Errors no wildcard matches (ASL: States.ALL and States.TaskFailed never catch or retry them). */
const UNMATCHABLE_BY_WILDCARD = ["States.Runtime", "States.DataLimitExceeded"];

/**
 * TestState (https://docs.aws.amazon.com/step-functions/latest/apireference/API_TestState.html) on the local runner:
 * the tested state runs once, as the first state of a machine whose every Next/Default/Choice/Catch target is a
 * Succeed state of that name, on a StateMachineRunner with the stack's handlers and clients (or, with a `mock`, on
 * aws-local-stepfunctions with the mock as the task's result). As on AWS, Retry is never run: an error a retrier with
 * attempts left matches is RETRIABLE. Task results are taken before ResultSelector/ResultPath/OutputPath, which are
 * then applied by one-state Pass machines, so DEBUG shows each data-flow step. TRACE adds AWS's HTTP request and
 * response only for HTTP tasks, which the local runner does not run: here it answers as DEBUG. Not served: Map and
 * Parallel (refused, as AWS does without a mock), JSONata and variables (the runner has neither), field validation
 * of mocks against the service's API model.
 */
export async function testState(
  request: Record<string, unknown>,
  services: TestStateServices,
  stateMachineArn: string,
): Promise<TestStateResponse> {
  const testCase = readRequest(request);
  const [, , , region, account] = stateMachineArn.split(":");
  const name = crypto.randomUUID();
  const ids = {
    stateMachineArn: `arn:aws:states:${region}:${account}:stateMachine:TestState`,
    executionArn: `arn:aws:states:${region}:${account}:express:TestState:${name}`,
    name,
  };
  const { machine, targetOf } = oneStateMachine(testCase);
  const run = startRun(machine, testCase, services, ids);
  const timer = setTimeout(run.stop, TEST_STATE_TIMEOUT_MS);
  const timedOut = await run.done.finally(() => clearTimeout(timer));
  const events = run.events;
  const ofTested = (type: string) => events.find((event) => event.type === type && event.state?.name === testCase.name);
  const failed = ofTested("StateFailed") ?? events.find((event) => event.type === "ExecutionFailed");
  const next = events.find((event) => event.type === "StateEntered" && event.state?.name !== testCase.name);
  const nextState = next?.state ? targetOf(next.state.name) : undefined;
  const evaluationContext = contextOf(testCase, ids);
  const inspection = new Inspection(testCase, evaluationContext);

  if (timedOut || failed) {
    const error = timedOut ? "States.Timeout" : String(failed?.Error ?? "States.Runtime");
    const cause = timedOut ? "The state did not finish within TestState's five minutes" : causeText(failed?.Cause);
    const retrier = retrierWithAttemptsLeft(testCase, error);
    if (retrier) {
      return inspection.answer({ status: "RETRIABLE", error, cause }, { errorDetails: retrier });
    }
    const caught = ofTested("StateCaught");
    if (caught) {
      const output = ofTested("StateExited")?.state?.output;
      const catchIndex = catcherIndex(caught, machine.States[testCase.name]);
      return inspection.answer(
        { status: "CAUGHT_ERROR", error, cause, output: JSON.stringify(output), nextState },
        catchIndex === -1 ? {} : { errorDetails: { catchIndex } },
      );
    }
    return inspection.answer({ status: "FAILED", error, cause });
  }
  const output = ofTested("StateExited")?.state?.output;
  try {
    const finalOutput = testCase.state.Type === "Task" ? await inspection.taskResult(output) : output;
    return inspection.answer({ status: "SUCCEEDED", output: JSON.stringify(finalOutput), nextState });
  } catch (error) {
    const { name: errorName, message } = stateError(error);
    return inspection.answer({ status: "FAILED", error: errorName, cause: message });
  }
}

function readRequest(request: Record<string, unknown>): TestCase {
  const { definition, stateName, inspectionLevel = "INFO", mock, revealSecrets, variables, context } = request;
  if (typeof definition !== "string" || definition.length === 0) {
    throw new TestStateValidationError(
      "1 validation error detected: Value null at 'definition' failed to satisfy constraint: Member must not be null",
    );
  }
  if (!INSPECTION_LEVELS.includes(inspectionLevel as InspectionLevel)) {
    throw new TestStateValidationError(
      `1 validation error detected: Value '${String(inspectionLevel)}' at 'inspectionLevel' failed to satisfy ` +
        `constraint: Member must satisfy enum value set: [${INSPECTION_LEVELS.join(", ")}]`,
    );
  }
  if (stateName !== undefined && (typeof stateName !== "string" || stateName.length < 1 || stateName.length > 80)) {
    throw new TestStateValidationError("stateName must be 1 to 80 characters");
  }
  const testMock = readMock(mock, revealSecrets);
  if (context !== undefined && !testMock) {
    throw new TestStateValidationError("context may be specified only with a mock");
  }
  if (typeof variables === "string" && variables.trim() !== "" && variables.trim() !== "{}") {
    throw new TestStateValidationError(
      "The local runner (aws-local-stepfunctions) has no workflow variables: test without variables, or on AWS",
    );
  }
  const { name, state } = pickState(parseJson(definition, "definition"), stateName as string | undefined);
  checkState(name, state, testMock !== undefined, request.roleArn);
  return {
    name,
    state,
    input: readInput(request.input),
    level: inspectionLevel as InspectionLevel,
    mock: testMock,
    retryCount: Number(
      (request.stateConfiguration as { retrierRetryCount?: number } | undefined)?.retrierRetryCount ?? 0,
    ),
    context: context === undefined ? undefined : (parseJson(String(context), "context") as Record<string, unknown>),
  };
}

function readMock(mock: unknown, revealSecrets: unknown): TestCase["mock"] {
  if (mock === undefined) return undefined;
  const { result, errorOutput } = mock as { result?: unknown; errorOutput?: { error?: string; cause?: string } };
  if ((result === undefined) === (errorOutput === undefined)) {
    throw new TestStateValidationError(
      "A test mock should have only one of the following fields: [result, errorOutput].",
    );
  }
  if (revealSecrets === true) {
    throw new TestStateValidationError("TestState does not support RevealSecrets when a mock is specified.");
  }
  if (errorOutput !== undefined) return { errorOutput };
  try {
    return { result: JSON.parse(String(result)) };
  } catch {
    throw new TestStateValidationError("Mocked result must be valid JSON");
  }
}

/** The state under test: the whole definition is a state, or a state machine holding `stateName`. */
function pickState(definition: unknown, stateName: string | undefined): { name: string; state: State } {
  if (stateName === undefined) {
    const state = definition as State;
    if (typeof state?.Type !== "string") {
      throw invalidDefinition("SCHEMA_VALIDATION_FAILED", "A state needs a Type (pass stateName with a whole machine)");
    }
    return { name: LONE_STATE_NAME, state };
  }
  const state = (definition as { States?: Record<string, State> } | null)?.States?.[stateName];
  if (!state) throw new TestStateValidationError("State not found in definition");
  assertValid(definition);
  return { name: stateName, state };
}

/** The refusals AWS documents, and what the local runner cannot run. */
function checkState(name: string, state: State, mocked: boolean, roleArn: unknown): void {
  if (state.Type === "Map" || state.Type === "Parallel") {
    throw new InvalidDefinitionError(
      `TestState API does not support Map or Parallel states. Supported state types include: [${TESTABLE_TYPES.join(", ")}]`,
    );
  }
  if (mocked && state.Type !== "Task") {
    throw new TestStateValidationError(`State type '${String(state.Type)}' is not supported when a mock is specified`);
  }
  if (state.QueryLanguage === "JSONata" || "Assign" in state) {
    throw new TestStateValidationError(
      `State ${name}: the local runner (aws-local-stepfunctions) runs JSONPath only, without Assign; test it on AWS`,
    );
  }
  if (state.Type === "Task") {
    if (roleArn === undefined && !mocked) {
      throw new TestStateValidationError("RoleArn must be specified when testing a Task state");
    }
    const resource = String(state.Resource ?? "");
    if (!mocked && (/\.(sync(:\d+)?|waitForTaskToken)$/.test(resource) || resource.includes(":activity:"))) {
      throw new InvalidDefinitionError(
        `TestState supports Activity tasks and the .sync and .waitForTaskToken integration patterns only with a ` +
          `mock: ${name} uses ${resource}`,
      );
    }
  }
  if (roleArn !== undefined && !/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(String(roleArn))) {
    throw new InvalidArnError(
      `Invalid Arn: '${String(roleArn)}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)`,
    );
  }
}

function readInput(input: unknown): unknown {
  if (input === undefined) return {};
  try {
    return JSON.parse(String(input));
  } catch (problem) {
    throw new InvalidExecutionInputError(`Invalid State Machine Execution Input: '${(problem as Error).message}'`);
  }
}

function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text);
  } catch (problem) {
    throw field === "definition"
      ? invalidDefinition("INVALID_JSON_DESCRIPTION", (problem as Error).message)
      : new TestStateValidationError(`${field} is not JSON: ${(problem as Error).message}`);
  }
}

/** asl-validator's diagnostics, in the message shape AWS gives InvalidDefinition. */
function assertValid(definition: unknown): void {
  const text = JSON.stringify(definition);
  if (validDefinitions.has(text)) return;
  const validation = validateDefinition({ definition: text });
  if (validation.result === "OK") {
    if (validDefinitions.size >= MAX_REMEMBERED_DEFINITIONS) validDefinitions.clear();
    validDefinitions.add(text);
    return;
  }
  throw new InvalidDefinitionError(
    `Invalid State Machine Definition: '${validation.diagnostics
      .map((found) => `${found.code}: ${found.message}${found.location ? ` at ${found.location}` : ""}`)
      .join(", ")}'`,
  );
}

/**
 * Why the machine could not be built: its definition (aws-local-stepfunctions validates it, at ~0.5 s a time, so it
 * is validated here again only when that failed) or a resource the runner does not emulate.
 */
function refusalOf(problem: unknown, machine: unknown): Error {
  const message = (problem as Error).message;
  if (message.startsWith("State machine definition is invalid")) assertValid(machine);
  return new TestStateValidationError(`${message}: give a mock, or test this state on AWS`);
}

function invalidDefinition(code: string, message: string): InvalidDefinitionError {
  return new InvalidDefinitionError(`Invalid State Machine Definition: '${code}: ${message}'`);
}

/**
 * The tested state first, without Retry (TestState never retries) and, for a Task, without the result processing
 * (applied afterwards, step by step); each target a Succeed state, so the run names the next state. A state that
 * targets itself gets a placeholder of another name.
 */
function oneStateMachine(testCase: TestCase) {
  const { name, state } = testCase;
  const again = `${name.slice(0, 70)} (again)`;
  const placeholder = (target: string) => (target === name ? again : target);
  const runnable: State = structuredClone(state);
  delete runnable.Retry;
  if (state.Type === "Task") {
    for (const field of ["ResultSelector", "ResultPath", "OutputPath"]) delete runnable[field];
  }
  const targets: string[] = [];
  const retarget = (holder: Record<string, unknown>, field: string) => {
    if (typeof holder[field] !== "string") return;
    targets.push(placeholder(holder[field]));
    holder[field] = placeholder(holder[field]);
  };
  retarget(runnable, "Next");
  retarget(runnable, "Default");
  for (const rule of (runnable.Choices ?? []) as Record<string, unknown>[]) retarget(rule, "Next");
  for (const catcher of (runnable.Catch ?? []) as Record<string, unknown>[]) retarget(catcher, "Next");
  const machine = {
    StartAt: name,
    States: { [name]: runnable, ...Object.fromEntries(targets.map((target) => [target, { Type: "Succeed" }])) },
  };
  return { machine, targetOf: (entered: string) => (entered === again ? name : entered) };
}

interface Run {
  events: EventLog[];
  /** True when the run was stopped at TestState's time limit. */
  done: Promise<boolean>;
  stop: () => void;
}

function startRun(
  machine: { States: Record<string, unknown> },
  testCase: TestCase,
  services: TestStateServices,
  ids: { stateMachineArn: string; executionArn: string; name: string },
): Run {
  let stopped = false;
  if (!testCase.mock) {
    let runner: StateMachineRunner;
    try {
      runner = new StateMachineRunner({ ...services, definition: machine });
    } catch (problem) {
      throw refusalOf(problem, machine);
    }
    const running = runner.start(testCase.input, ids);
    const stop = () => {
      stopped = true;
      running.stop();
    };
    return { events: running.events, done: running.outcome.then(() => stopped), stop };
  }
  const { result, errorOutput } = testCase.mock;
  const mocked = () => {
    if (!errorOutput) return result;
    const error = new Error(errorOutput.cause ?? "");
    error.name = errorOutput.error ?? "";
    throw error;
  };
  let mockedMachine: StateMachine;
  try {
    mockedMachine = validatedStateMachine(machine);
  } catch (problem) {
    throw refusalOf(problem, machine);
  }
  const execution = mockedMachine.run(testCase.input as never, {
    overrides: { taskResourceLocalHandlers: { [testCase.name]: mocked as never } },
    context: contextOf(testCase, ids) as never,
    noThrowOnAbort: true,
  });
  const events: EventLog[] = [];
  const collected = (async () => {
    for await (const event of execution.eventLogs) events.push(event as EventLog);
  })();
  const stop = () => {
    stopped = true;
    execution.abort();
  };
  const done = execution.result.then(
    () => undefined,
    () => undefined,
  );
  return { events, done: Promise.all([done, collected]).then(() => stopped), stop };
}

/** The context object ($$) the run and the data-flow steps see; a mocked test may give its own. */
function contextOf(testCase: TestCase, ids: { stateMachineArn: string; executionArn: string; name: string }) {
  return {
    Execution: { Id: ids.executionArn, Name: ids.name },
    StateMachine: { Id: ids.stateMachineArn, Name: "TestState" },
    State: { Name: testCase.name, EnteredTime: new Date().toISOString(), RetryCount: testCase.retryCount },
    Task: { Token: crypto.randomUUID() },
    ...testCase.context,
  };
}

/** The first retrier matching the error, if it has attempts left: AWS answers RETRIABLE rather than retrying. */
function retrierWithAttemptsLeft(testCase: TestCase, error: string) {
  const retriers = (testCase.state.Retry ?? []) as Record<string, unknown>[];
  const retryIndex = retriers.findIndex((retrier) =>
    matches(retrier.ErrorEquals as string[], error, testCase.state.Type === "Task"),
  );
  const retrier = retriers[retryIndex];
  if (!retrier || testCase.retryCount >= Number(retrier.MaxAttempts ?? 3)) return undefined;
  const interval = Number(retrier.IntervalSeconds ?? 1) * Number(retrier.BackoffRate ?? 2) ** testCase.retryCount;
  const capped = retrier.MaxDelaySeconds === undefined ? interval : Math.min(interval, Number(retrier.MaxDelaySeconds));
  return { retryIndex, retryBackoffIntervalSeconds: Math.round(capped) };
}

function matches(errorEquals: string[] = [], error: string, isTask: boolean): boolean {
  if (errorEquals.includes(error)) return true;
  if (UNMATCHABLE_BY_WILDCARD.includes(error)) return false;
  return (
    errorEquals.includes("States.ALL") ||
    (isTask && errorEquals.includes("States.TaskFailed") && error !== "States.Timeout")
  );
}

/** The index of the catcher the library chose (its StateCaught event carries the catcher, not its index). */
function catcherIndex(caught: EventLog, runnable: unknown): number {
  const catcher = JSON.stringify((caught as { catch?: { catcher?: unknown } }).catch?.catcher);
  const catchers = ((runnable as State).Catch ?? []) as unknown[];
  return catchers.findIndex((candidate) => JSON.stringify(candidate) === catcher);
}

function causeText(cause: unknown): string {
  return typeof cause === "string" ? cause : JSON.stringify(cause ?? "");
}

/** aws-local-stepfunctions reports a failed run as ExecutionError with the state's error as its cause. */
function stateError(error: unknown): { name: string; message: string } {
  const cause = (error as { cause?: unknown }).cause;
  const failure = cause instanceof Error ? cause : (error as Error);
  return { name: failure.name || "States.Runtime", message: failure.message };
}

/**
 * The data-flow steps of the tested state, each applied by a one-state Pass machine on aws-local-stepfunctions (the
 * same JSONPath, payload templates and intrinsic functions as the run), and the answer at the requested level.
 */
class Inspection {
  private readonly steps: Record<string, unknown> = {};

  constructor(
    private readonly testCase: TestCase,
    private readonly context: Record<string, unknown>,
  ) {}

  /** A Task's final output from its raw result: ResultSelector, then ResultPath on the input, then OutputPath. */
  async taskResult(result: unknown): Promise<unknown> {
    const { state, input } = this.testCase;
    this.steps.result = result;
    const selected = "ResultSelector" in state ? await this.pass({ Parameters: state.ResultSelector }, result) : result;
    this.steps.afterResultSelector = selected;
    const placed = await this.pass({ Result: selected, ...pick(state, "ResultPath") }, input);
    this.steps.afterResultPath = placed;
    return "OutputPath" in state ? this.pass(pick(state, "OutputPath"), placed) : placed;
  }

  async answer(response: TestStateResponse, extra: Record<string, unknown> = {}): Promise<TestStateResponse> {
    const cleaned = Object.fromEntries(Object.entries(response).filter(([, value]) => value !== undefined));
    if (this.testCase.level === "INFO") return cleaned as unknown as TestStateResponse;
    const inspectionData = { ...(await this.dataFlow(response.status)), ...extra };
    return { ...(cleaned as unknown as TestStateResponse), inspectionData };
  }

  /** Which steps AWS shows per state type (as its recorded DEBUG answers show them), as JSON text. */
  private async dataFlow(status: TestStatus): Promise<Record<string, unknown>> {
    const { state, input } = this.testCase;
    const flow: Record<string, unknown> = { input };
    try {
      if (state.Type === "Pass" && "Result" in state) {
        flow.result = state.Result;
        flow.afterResultSelector = state.Result;
        flow.afterResultPath = await this.pass({ Result: state.Result, ...pick(state, "ResultPath") }, input);
      } else {
        flow.afterInputPath = await this.pass(pick(state, "InputPath"), input);
        if (state.Type === "Task" || state.Type === "Pass") {
          flow.afterParameters = await this.pass(pick(state, "Parameters"), flow.afterInputPath);
        }
        if (state.Type === "Task" && status === "SUCCEEDED") Object.assign(flow, this.steps);
        if (state.Type === "Pass") {
          flow.afterResultSelector = flow.afterParameters;
          flow.afterResultPath = await this.pass({ Result: flow.afterParameters, ...pick(state, "ResultPath") }, input);
        }
      }
    } catch {
      // A step that fails here failed the run too: show the steps before it.
    }
    return Object.fromEntries(Object.entries(flow).map(([step, value]) => [step, JSON.stringify(value)]));
  }

  private async pass(fields: Record<string, unknown>, input: unknown): Promise<unknown> {
    const definition = { StartAt: "Step", States: { Step: { ...fields, Type: "Pass", End: true } } };
    // The tested state was validated: its fields in a Pass state need no second (slow) validation.
    const machine = new StateMachine(definition as never, { validationOptions: { noValidate: true } });
    return machine.run(input as never, { context: this.context as never }).result;
  }
}

function pick(state: State, field: string): Record<string, unknown> {
  return field in state ? { [field]: state[field] } : {};
}
