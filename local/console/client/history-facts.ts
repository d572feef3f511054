// What the page reads from an execution's history besides the graph's outcomes: which state each event belongs to,
// a one-line detail per event, a state's failed attempts, and the Bedrock calls line of GenerateImage.
import type { HistoryEventJson } from "../api-types";

const STATE_EVENT = /^[A-Z][a-z]+State(Entered|Exited|Aborted)$/;

/** The state each event belongs to: a state's own events name it; task events belong to the state open around them. */
export function eventStates(history: readonly HistoryEventJson[]): Map<number, string> {
  const states = new Map<number, string>();
  const open: string[] = [];
  for (const event of [...history].sort((a, b) => a.id - b.id)) {
    const step = STATE_EVENT.exec(event.type)?.[1];
    const name = stateName(event);
    if (step === "Entered" && name) {
      open.push(name);
      states.set(event.id, name);
    } else if (step && name) {
      const index = open.lastIndexOf(name);
      if (index >= 0) open.splice(index, 1);
      states.set(event.id, name);
    } else if (open.length > 0 && !event.type.startsWith("Execution")) {
      states.set(event.id, open[open.length - 1]!);
    }
  }
  return states;
}

function stateName(event: HistoryEventJson): string | undefined {
  const details = (event.stateEnteredEventDetails ?? event.stateExitedEventDetails) as { name?: unknown } | undefined;
  return typeof details?.name === "string" ? details.name : undefined;
}

/** The event's details object (`taskFailedEventDetails` for TaskFailed). */
export function detailsOf(event: HistoryEventJson): Record<string, unknown> {
  const key = `${event.type.charAt(0).toLowerCase()}${event.type.slice(1)}EventDetails`;
  const details = event[key] ?? event.stateEnteredEventDetails ?? event.stateExitedEventDetails;
  return typeof details === "object" && details !== null ? (details as Record<string, unknown>) : {};
}

/** One line on what the event says: an error and its cause, a task's resource, a retry's attempt. */
export function eventSummary(event: HistoryEventJson): string {
  const details = detailsOf(event);
  const parts: string[] = [];
  if (typeof details.error === "string") parts.push(details.error);
  if (typeof details.cause === "string" && details.cause !== "") parts.push(excerpt(details.cause, 140));
  if (typeof details.resourceType === "string" && typeof details.resource === "string" && parts.length === 0) {
    parts.push(`${details.resourceType}:${details.resource}`);
  }
  if (typeof details.retryAttempt === "number") parts.push(`retry ${details.retryAttempt}`);
  return parts.join(" · ");
}

export interface FailedAttempt {
  error: string;
  cause: string;
  at: string;
}

/** Every failed attempt of a state's tasks, in order (each one the ASL retried, or the last). */
export function failedAttempts(history: readonly HistoryEventJson[], state: string): FailedAttempt[] {
  const states = eventStates(history);
  return history
    .filter((event) => /^(?:Task|LambdaFunction|Activity)(?:Failed|TimedOut)$/.test(event.type))
    .filter((event) => states.get(event.id) === state)
    .map((event) => {
      const details = detailsOf(event);
      return {
        error: typeof details.error === "string" ? details.error : event.type,
        cause: typeof details.cause === "string" ? details.cause : "",
        at: event.timestamp,
      };
    });
}

/**
 * "Bedrock called 4 times (throttled, put back 3)": the status record's bedrockCalls against the attempts the
 * generator answered (TaskSucceeded / TaskFailed of GenerateImage). A throttle never reaches the history: the generator
 * puts the job back in the waiting room (docs/ARCHITECTURE.md §1.4), so the calls the history does not account for
 * were throttled. While the job runs the count is "so far": one call may be in flight.
 */
export function bedrockCallsLine(
  bedrockCalls: unknown,
  history: readonly HistoryEventJson[],
  state: string,
  finished: boolean,
): string | undefined {
  if (typeof bedrockCalls !== "number") return undefined;
  const states = eventStates(history);
  const answered = history.filter(
    (event) => (event.type === "TaskSucceeded" || event.type === "TaskFailed") && states.get(event.id) === state,
  ).length;
  const retried = Math.max(0, answered - 1);
  const calls = `Bedrock called ${bedrockCalls} time${bedrockCalls === 1 ? "" : "s"}`;
  if (!finished) return `${calls} so far`;
  const notes: string[] = [];
  const putBack = bedrockCalls - answered;
  if (putBack > 0) notes.push(`throttled, put back ${putBack}`);
  if (retried > 0) notes.push(`the state machine retried ${retried}`);
  return notes.length > 0 ? `${calls} (${notes.join("; ")})` : calls;
}

export function excerpt(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}
