import type { AslDefinition } from "./layout";

/**
 * A history event as GetExecutionHistory returns it. The timestamp is epoch seconds as the JSON protocol sends it,
 * an ISO 8601 string, or a Date as the SDK gives it; the details sit under `<type>EventDetails`
 * (`taskFailedEventDetails`), or `stateEnteredEventDetails` / `stateExitedEventDetails` for every kind of state.
 */
export interface ExecutionHistoryEvent {
  id: number;
  previousEventId?: number;
  timestamp: number | string | Date;
  type: string;
  [details: string]: unknown;
}

export type StateStatus = "succeeded" | "failed" | "caught" | "in-progress" | "not-reached" | "cancelled";

export interface StateOutcome {
  status: StateStatus;
  /** Attempts after a failed one, summed over every run of the state (a redrive or a loop runs it again). */
  retries: number;
  /** Epoch milliseconds, of the state's last run. */
  enteredAt?: number;
  /** When the last run exited, or ended with the execution (failed, aborted, timed out). */
  exitedAt?: number;
  input?: string;
  output?: string;
  /** The last failed attempt's error, or the execution's when it ended in this state. */
  error?: string;
  cause?: string;
  /** The state the Catch went to. */
  caughtBy?: string;
}

/**
 * What a state run was doing: `scheduled` until the task started; `running` while it ran (for a callback task, only
 * until its message was submitted); `waiting` from TaskSubmitted to the answer, which for a callback task is the
 * waiting room and the worker's run together (history does not tell them apart), or a Wait state's wait;
 * `retry-wait` from a failed attempt to the retry.
 */
export interface TimelinePhase {
  kind: "scheduled" | "waiting" | "running" | "retry-wait";
  startedAt: number;
  endedAt?: number;
}

export interface TimelineEntry {
  state: string;
  status: Exclude<StateStatus, "not-reached">;
  retries: number;
  startedAt: number;
  endedAt?: number;
  phases: TimelinePhase[];
}

/**
 * What happened to each state of `definition`, from its execution history. A state run more than once (a redrive
 * restarts the failed state; a loop comes back) shows its last run, with the retries of every run summed.
 */
export function stateOutcomes(
  definition: AslDefinition,
  history: readonly ExecutionHistoryEvent[],
): Record<string, StateOutcome> {
  const outcomes = new Map<string, StateOutcome>(
    Object.keys(definition.States).map((name) => [name, { status: "not-reached", retries: 0 }]),
  );
  for (const run of readStateRuns(history)) {
    const earlier = outcomes.get(run.name);
    // A state inside a Map or Parallel: the graph draws only top-level states.
    if (!earlier) continue;
    outcomes.set(run.name, {
      status: run.status,
      retries: earlier.retries + run.retries,
      enteredAt: run.enteredAt,
      exitedAt: run.exitedAt,
      input: run.input,
      output: run.output,
      error: run.error,
      cause: run.cause,
      caughtBy: run.caughtBy,
    });
  }
  return Object.fromEntries(outcomes);
}

/** Every state run in the order they started, each with its phases (scheduled, running, waiting, retry-wait). */
export function stateTimeline(history: readonly ExecutionHistoryEvent[]): TimelineEntry[] {
  return readStateRuns(history).map((run) => ({
    state: run.name,
    status: run.status,
    retries: run.retries,
    startedAt: run.enteredAt,
    endedAt: run.exitedAt,
    phases: run.phases,
  }));
}

/** One run of a state: its outcome's fields, for this run only, with its phases. */
interface StateRun extends Omit<StateOutcome, "status" | "enteredAt"> {
  name: string;
  status: TimelineEntry["status"];
  enteredAt: number;
  phases: TimelinePhase[];
  /** When the last attempt failed, until a retry is scheduled, a Catch takes the error or the run ends. */
  failedAt?: number;
}

type ExecutionEnding = "succeeded" | "failed" | "aborted" | "timed-out";

const EXECUTION_ENDINGS: Readonly<Record<string, ExecutionEnding>> = {
  ExecutionSucceeded: "succeeded",
  ExecutionFailed: "failed",
  ExecutionAborted: "aborted",
  ExecutionTimedOut: "timed-out",
};

type AttemptStep = "scheduled" | "started" | "submitted" | "succeeded" | "failed";

// Task* for service integrations, LambdaFunction* and Activity* for the older Resource forms: one attempt each.
const ATTEMPT_EVENT =
  /^(?:Task|LambdaFunction|Activity)(Scheduled|Started|Submitted|Succeeded|Failed|TimedOut|StartFailed|SubmitFailed|ScheduleFailed)$/;
const ATTEMPT_STEPS: Readonly<Record<string, AttemptStep>> = {
  Scheduled: "scheduled",
  Started: "started",
  Submitted: "submitted",
  Succeeded: "succeeded",
  Failed: "failed",
  TimedOut: "failed",
  StartFailed: "failed",
  SubmitFailed: "failed",
  ScheduleFailed: "failed",
};
// A Map or Parallel state reports its own end besides its children's.
const BRANCHING_STATE_END = /^(?:Map|Parallel)State(Succeeded|Failed)$/;
const STATE_EVENT = /^([A-Z][a-z]+)State(Entered|Exited|Aborted)$/;

/**
 * Replays the history into state runs. Task events carry no state name: they belong to the innermost state entered
 * and not yet exited. ExecutionStarted and ExecutionRedriven need nothing: the states entered after them open new
 * runs. Unknown event types are skipped.
 */
function readStateRuns(history: readonly ExecutionHistoryEvent[]): StateRun[] {
  const runs: StateRun[] = [];
  const open: StateRun[] = [];
  let lastExited: StateRun | undefined;
  // GetExecutionHistory may be read with reverseOrder; ids are the true order.
  for (const event of [...history].sort((a, b) => a.id - b.id)) {
    const at = epochMs(event);
    const stateEvent = STATE_EVENT.exec(event.type);
    if (stateEvent) {
      const [, stateType, step] = stateEvent;
      if (step === "Entered") {
        const details = detailsOf(event, "stateEnteredEventDetails");
        const run: StateRun = {
          name: text(details.name) ?? "",
          status: "in-progress",
          retries: 0,
          enteredAt: at,
          input: text(details.input),
          phases: [],
        };
        if (lastExited?.status === "caught" && lastExited.caughtBy === undefined) lastExited.caughtBy = run.name;
        lastExited = undefined;
        // A Task's phases come from its attempts; any other state is waiting (Wait) or running from entry to exit.
        if (stateType !== "Task") startPhase(run, stateType === "Wait" ? "waiting" : "running", at);
        runs.push(run);
        open.push(run);
        continue;
      }
      const name = text(detailsOf(event, "stateExitedEventDetails").name);
      const index = name === undefined ? open.length - 1 : open.findLastIndex((run) => run.name === name);
      const run = open[index];
      if (!run) continue;
      open.splice(index, 1);
      if (step === "Exited") {
        run.output = text(detailsOf(event, "stateExitedEventDetails").output);
        endRun(run, at, run.failedAt === undefined ? "succeeded" : "caught");
        lastExited = run;
      } else {
        endRun(run, at, "cancelled");
      }
      continue;
    }

    const attempt = ATTEMPT_EVENT.exec(event.type) ?? BRANCHING_STATE_END.exec(event.type);
    if (attempt) {
      const run = open.at(-1);
      if (run) recordAttempt(run, ATTEMPT_STEPS[attempt[1]!]!, at, detailsOf(event, detailsKey(event.type)));
      continue;
    }

    const ending = EXECUTION_ENDINGS[event.type];
    if (ending) {
      const details = detailsOf(event, detailsKey(event.type));
      for (const run of open.splice(0)) endWithExecution(run, ending, at, text(details.error), text(details.cause));
    }
  }
  for (const run of open) {
    if (run.failedAt !== undefined) run.phases.push({ kind: "retry-wait", startedAt: run.failedAt });
  }
  return runs;
}

function recordAttempt(run: StateRun, step: AttemptStep, at: number, details: Record<string, unknown>): void {
  switch (step) {
    case "scheduled":
      if (run.failedAt !== undefined) {
        run.phases.push({ kind: "retry-wait", startedAt: run.failedAt, endedAt: at });
        run.retries += 1;
        run.failedAt = undefined;
      }
      startPhase(run, "scheduled", at);
      break;
    case "started":
      startPhase(run, "running", at);
      break;
    case "submitted":
      startPhase(run, "waiting", at);
      break;
    case "succeeded":
      endPhase(run, at);
      run.error = undefined;
      run.cause = undefined;
      break;
    case "failed":
      endPhase(run, at);
      run.failedAt = at;
      run.error = text(details.error);
      run.cause = text(details.cause);
      break;
  }
}

function endWithExecution(
  run: StateRun,
  ending: ExecutionEnding,
  at: number,
  error: string | undefined,
  cause: string | undefined,
): void {
  if (ending === "failed") {
    // The task's own error if it failed; otherwise the execution's (a Fail state's Error and Cause).
    if (run.error === undefined) {
      run.error = error;
      run.cause = cause;
    }
    endRun(run, at, "failed");
  } else if (ending === "succeeded") {
    endRun(run, at, "succeeded");
  } else {
    run.error = error ?? run.error;
    run.cause = cause ?? run.cause;
    endRun(run, at, "cancelled");
  }
}

function endRun(run: StateRun, at: number, status: StateRun["status"]): void {
  endPhase(run, at);
  run.status = status;
  run.exitedAt = at;
  run.failedAt = undefined;
}

function startPhase(run: StateRun, kind: TimelinePhase["kind"], at: number): void {
  endPhase(run, at);
  run.phases.push({ kind, startedAt: at });
}

function endPhase(run: StateRun, at: number): void {
  const phase = run.phases.at(-1);
  if (phase && phase.endedAt === undefined) phase.endedAt = at;
}

/** `TaskFailed` → `taskFailedEventDetails`. */
function detailsKey(type: string): string {
  return `${type.charAt(0).toLowerCase()}${type.slice(1)}EventDetails`;
}

function detailsOf(event: ExecutionHistoryEvent, key: string): Record<string, unknown> {
  const details = event[key];
  return typeof details === "object" && details !== null ? (details as Record<string, unknown>) : {};
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function epochMs(event: ExecutionHistoryEvent): number {
  const { timestamp } = event;
  const ms =
    timestamp instanceof Date
      ? timestamp.getTime()
      : typeof timestamp === "number"
        ? Math.round(timestamp * 1000)
        : Date.parse(timestamp);
  if (!Number.isFinite(ms)) {
    throw new Error(
      `History event ${event.id} (${event.type}) has timestamp ${JSON.stringify(timestamp)}: expected epoch seconds, an ISO 8601 string or a Date.`,
    );
  }
  return ms;
}
