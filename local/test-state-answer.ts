// TestState's answer: which status an error gives (RETRIABLE, CAUGHT_ERROR, FAILED) and the DEBUG data-flow steps.
import "./promise-with-resolvers";
import { StateMachine } from "aws-local-stepfunctions";
import type { EventLog } from "./state-machine-runner";
import type { State, TestCase } from "./test-state-request";

type TestStatus = "SUCCEEDED" | "FAILED" | "RETRIABLE" | "CAUGHT_ERROR";

/** TestState's answer; the data-flow values are JSON text, as AWS sends them. */
export interface TestStateResponse {
  status: TestStatus;
  output?: string;
  error?: string;
  cause?: string;
  nextState?: string;
  inspectionData?: Record<string, unknown>;
}

/** Errors no wildcard matches (ASL: States.ALL and States.TaskFailed never catch or retry them). */
const UNMATCHABLE_BY_WILDCARD = ["States.Runtime", "States.DataLimitExceeded"];

/** The first retrier matching the error, if it has attempts left: AWS answers RETRIABLE rather than retrying. */
export function retrierWithAttemptsLeft(testCase: TestCase, error: string) {
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
export function catcherIndex(caught: EventLog, runnable: unknown): number {
  const catcher = JSON.stringify((caught as { catch?: { catcher?: unknown } }).catch?.catcher);
  const catchers = ((runnable as State).Catch ?? []) as unknown[];
  return catchers.findIndex((candidate) => JSON.stringify(candidate) === catcher);
}

export function causeText(cause: unknown): string {
  return typeof cause === "string" ? cause : JSON.stringify(cause ?? "");
}

/** aws-local-stepfunctions reports a failed run as ExecutionError with the state's error as its cause. */
export function stateError(error: unknown): { name: string; message: string } {
  const cause = (error as { cause?: unknown }).cause;
  const failure = cause instanceof Error ? cause : (error as Error);
  return { name: failure.name || "States.Runtime", message: failure.message };
}

/**
 * The data-flow steps of the tested state, each applied by a one-state Pass machine on aws-local-stepfunctions (the
 * same JSONPath, payload templates and intrinsic functions as the run), and the answer at the requested level.
 */
export class Inspection {
  private readonly steps: Record<string, unknown> = {};

  /**
   * @param calledWith the Parameters the task's resource received, when the run recorded them: shown as they were
   * rather than computed again (which would read clock-based context values a second time)
   */
  constructor(
    private readonly testCase: TestCase,
    private readonly context: Record<string, unknown>,
    private readonly calledWith?: unknown,
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
          flow.afterParameters = this.calledWith ?? (await this.pass(pick(state, "Parameters"), flow.afterInputPath));
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
