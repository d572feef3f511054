import type { HistoryEvent } from "../local/executions";

/** One run of a task's resource: from TaskScheduled to its TaskSucceeded, TaskFailed or TaskTimedOut. */
export interface TaskAttempt {
  state: string;
  ms: number;
  succeeded: boolean;
  error?: string;
}

/**
 * Billed state transitions of one execution, counted as Step Functions bills them: one per state entered, plus one
 * per retry ("each retry will be charged as an additional state transition", Step Functions pricing page).
 * A retry shows in the history as a TaskScheduled that follows from the task's TaskFailed or TaskTimedOut.
 */
export function stateTransitions(history: readonly HistoryEvent[]): { entered: number; retries: number } {
  let entered = 0;
  let retries = 0;
  const typeById = new Map(history.map((event) => [event.id, event.type]));
  for (const event of history) {
    if (event.type.endsWith("StateEntered")) entered++;
    const after = typeById.get(event.previousEventId);
    if (event.type === "TaskScheduled" && (after === "TaskFailed" || after === "TaskTimedOut")) retries++;
  }
  return { entered, retries };
}

/** Milliseconds from each state's StateEntered to its StateExited (states the execution never left are skipped). */
export function stateDurations(history: readonly HistoryEvent[]): { state: string; ms: number }[] {
  const durations: { state: string; ms: number }[] = [];
  const entered = new Map<string, number>();
  for (const event of history) {
    if (event.type.endsWith("StateEntered")) {
      entered.set(String(detail(event, "stateEnteredEventDetails").name), event.timestamp.getTime());
    } else if (event.type.endsWith("StateExited")) {
      const state = String(detail(event, "stateExitedEventDetails").name);
      const start = entered.get(state);
      if (start !== undefined) durations.push({ state, ms: event.timestamp.getTime() - start });
    }
  }
  return durations;
}

/** Every task attempt, retries included: what a Lambda task is billed for, one invocation each. */
export function taskAttempts(history: readonly HistoryEvent[]): TaskAttempt[] {
  const attempts: TaskAttempt[] = [];
  // TaskScheduled names the resource (`invoke`, `updateItem`), as on AWS; the state is the one last entered.
  let state = "";
  let open: { state: string; start: number } | undefined;
  for (const event of history) {
    if (event.type.endsWith("StateEntered")) {
      state = String(detail(event, "stateEnteredEventDetails").name);
    } else if (event.type === "TaskScheduled") {
      open = { state, start: event.timestamp.getTime() };
    } else if (
      (event.type === "TaskSucceeded" || event.type === "TaskFailed" || event.type === "TaskTimedOut") &&
      open
    ) {
      const failure = event.type === "TaskFailed" ? "taskFailedEventDetails" : "taskTimedOutEventDetails";
      const error = event.type === "TaskSucceeded" ? undefined : String(detail(event, failure).error);
      attempts.push({
        state: open.state,
        ms: event.timestamp.getTime() - open.start,
        succeeded: event.type === "TaskSucceeded",
        ...(error ? { error } : {}),
      });
      open = undefined;
    }
  }
  return attempts;
}

function detail(event: HistoryEvent, key: string): Record<string, unknown> {
  const value = event[key];
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
}
