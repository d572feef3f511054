import type { EventLog, StateFields, TaskCall } from "./state-machine-runner";

/** A Step Functions history event, shaped as GetExecutionHistory returns it. */
export interface HistoryEvent {
  id: number;
  previousEventId: number;
  timestamp: Date;
  type: string;
  [details: string]: unknown;
}

/**
 * The role the local state machine names (DescribeStateMachine, ExecutionStarted). A placeholder: no IAM locally
 * (the runner calls the handlers itself). The deployed role is CDK's `ImageWorkflow`'s StateMachine role, granted
 * only what the tasks call.
 */
export function stateMachineRoleArn(stateMachineArn: string): string {
  const account = stateMachineArn.split(":")[4];
  return `arn:aws:iam::${account}:role/couch-imagegen-local-state-machine-role`;
}

/** What the history tells besides the runner's logs. */
export interface HistorySource {
  executionArn: string;
  stateMachineArn: string;
  /** The definition's states by name: each task's Resource, TimeoutSeconds and HeartbeatSeconds. */
  states: Record<string, StateFields>;
  /** StopExecution's error and cause, for ExecutionAborted. */
  stopError?: string;
  stopCause?: string;
}

/** One run of an execution, as the runner logged it: the library's events and the calls of the tasks' resources. */
export interface RunLog {
  events: readonly EventLog[];
  tasks: readonly TaskCall[];
}

/** A redriven run continues the history it had, after an ExecutionRedriven event. */
export interface Redrive {
  previous: readonly HistoryEvent[];
  redriveCount: number;
}

const STATE_TYPE_PREFIX: Record<string, string> = {
  Task: "Task",
  Pass: "Pass",
  Choice: "Choice",
  Wait: "Wait",
  Succeed: "Succeed",
  Fail: "Fail",
  Map: "Map",
  Parallel: "Parallel",
};

/** Every input and output is given whole: AWS sets `truncated` only past 256 KB, which the runner never holds. */
const NOT_TRUNCATED = { truncated: false };

/** A task state's attempt: entered (or retried) at `start`, its resource called at most once. */
interface Attempt {
  state: string;
  start: number;
  /** Whether its TaskScheduled (and what followed it) is written yet. */
  written: boolean;
  call?: TaskCall;
}

/**
 * Turns one run of the runner into Step Functions history events, as GetExecutionHistory returns them
 * (test/fixtures/aws-history/README.md names the AWS pages each shape follows):
 * - each state is `<Type>StateEntered` / `<Type>StateExited` with `name`, `input`/`output` as JSON text and
 *   `inputDetails`/`outputDetails`; a Fail state is entered, never exited;
 * - each call of a task's resource is TaskScheduled (`resourceType`/`resource` as AWS names the integration,
 *   `region`, `parameters`: the Parameters it received, `timeoutInSeconds`/`heartbeatInSeconds` from the state),
 *   TaskStarted, TaskSubmitted once a callback task's message is sent (SendMessage's answer), then TaskSucceeded with
 *   the resource's own result, or TaskFailed / TaskTimedOut; a retry is a new TaskScheduled after the failure; a
 *   caught failure is followed by TaskStateExited, with no TaskSucceeded; a state that failed before its resource
 *   was called (its Parameters) has no task events;
 * - `previousEventId` is the event this one follows from, as AWS links them: 0 for ExecutionStarted, the first state
 *   entered and ExecutionAborted; otherwise the event before it in the flow. ExecutionTimedOut is linked like
 *   ExecutionAborted, and a redriven run's ExecutionRedriven to the last event before it, which we could not confirm.
 */
export function toHistory(run: RunLog, source: HistorySource, redrive?: Redrive): HistoryEvent[] {
  const history: HistoryEvent[] = [...(redrive?.previous ?? [])];
  const push = (timestamp: number, type: string, previousEventId: number, details: Record<string, unknown>) => {
    const id = history.length + 1;
    history.push({ id, previousEventId, timestamp: new Date(timestamp), type, ...details });
    return id;
  };
  const region = source.executionArn.split(":")[3];
  const resourceOf = (state: string) => describeResource(source.states[state]?.Resource);
  const unclaimed = [...run.tasks];
  /** The event the next one in the flow follows from. */
  let cause = 0;
  let attempt: Attempt | undefined;
  let ended = false;

  /** Writes the attempt's TaskScheduled, TaskStarted and TaskSubmitted, from its call made up to `until`. */
  const writeCall = (current: Attempt, until = Number.POSITIVE_INFINITY) => {
    if (current.written) return current.call;
    current.written = true;
    const index = unclaimed.findIndex(
      (call) => call.state === current.state && call.timestamp >= current.start && call.timestamp <= until,
    );
    if (index < 0) return undefined;
    const [call] = unclaimed.splice(index, 1);
    current.call = call;
    const state = source.states[current.state];
    cause = push(call!.timestamp, "TaskScheduled", cause, {
      taskScheduledEventDetails: {
        ...resourceOf(current.state),
        region,
        parameters: json(call!.parameters),
        ...(state?.TimeoutSeconds === undefined ? {} : { timeoutInSeconds: state.TimeoutSeconds }),
        ...(state?.HeartbeatSeconds === undefined ? {} : { heartbeatInSeconds: state.HeartbeatSeconds }),
      },
    });
    cause = push(call!.timestamp, "TaskStarted", cause, { taskStartedEventDetails: resourceOf(current.state) });
    if (call!.submitted && call!.submitted.timestamp <= until) {
      cause = push(call!.submitted.timestamp, "TaskSubmitted", cause, {
        taskSubmittedEventDetails: {
          ...resourceOf(current.state),
          output: json(call!.submitted.output),
          outputDetails: NOT_TRUNCATED,
        },
      });
    }
    return call;
  };
  const succeeded = (name: string, call: TaskCall) => {
    cause = push(call.result!.timestamp, "TaskSucceeded", cause, {
      taskSucceededEventDetails: {
        ...resourceOf(name),
        output: json(call.result!.output),
        outputDetails: NOT_TRUNCATED,
      },
    });
  };

  for (const event of run.events) {
    if (ended) break;
    const state = event.state;
    const prefix = state ? (STATE_TYPE_PREFIX[state.type] ?? state.type) : "";
    switch (event.type) {
      case "ExecutionStarted":
        if (redrive) {
          cause = push(event.timestamp, "ExecutionRedriven", history.length, {
            executionRedrivenEventDetails: { redriveCount: redrive.redriveCount },
          });
        } else {
          push(event.timestamp, "ExecutionStarted", 0, {
            executionStartedEventDetails: {
              input: json(event.input),
              inputDetails: NOT_TRUNCATED,
              roleArn: stateMachineRoleArn(source.stateMachineArn),
            },
          });
        }
        break;
      case "StateEntered":
        cause = push(event.timestamp, `${prefix}StateEntered`, cause, {
          stateEnteredEventDetails: { name: state?.name, input: json(state?.input), inputDetails: NOT_TRUNCATED },
        });
        attempt = state?.type === "Task" ? { state: state.name, start: event.timestamp, written: false } : undefined;
        break;
      case "StateRetried":
        if (state) attempt = { state: state.name, start: event.timestamp, written: false };
        break;
      case "StateFailed": {
        if (state?.type !== "Task" || !attempt) break;
        const call = writeCall(attempt, event.timestamp);
        // A caught failure exits the state next, with no TaskSucceeded.
        attempt.call = undefined;
        if (!call) break;
        if (call.result && call.result.timestamp <= event.timestamp) {
          // The resource answered, then the state's own data flow failed (ResultSelector, ResultPath).
          succeeded(state.name, call);
          break;
        }
        const details = { ...resourceOf(state.name), error: event.Error, cause: String(event.Cause ?? "") };
        cause =
          event.Error === "States.Timeout" || event.Error === "States.HeartbeatTimeout"
            ? push(event.timestamp, "TaskTimedOut", cause, { taskTimedOutEventDetails: details })
            : push(event.timestamp, "TaskFailed", cause, { taskFailedEventDetails: details });
        break;
      }
      case "StateExited":
        if (state?.type === "Task" && attempt) {
          const call = attempt.written ? attempt.call : writeCall(attempt, event.timestamp);
          if (call?.result) succeeded(state.name, call);
        }
        cause = push(event.timestamp, `${prefix}StateExited`, cause, {
          stateExitedEventDetails: { name: state?.name, output: json(state?.output), outputDetails: NOT_TRUNCATED },
        });
        attempt = undefined;
        break;
      case "ExecutionSucceeded":
        push(event.timestamp, "ExecutionSucceeded", cause, {
          executionSucceededEventDetails: { output: json(event.output), outputDetails: NOT_TRUNCATED },
        });
        ended = true;
        break;
      case "ExecutionFailed":
        push(event.timestamp, "ExecutionFailed", cause, {
          executionFailedEventDetails: { error: event.Error, cause: String(event.Cause ?? "") },
        });
        ended = true;
        break;
      case "ExecutionAborted":
        if (attempt) writeCall(attempt, event.timestamp);
        push(event.timestamp, "ExecutionAborted", 0, {
          executionAbortedEventDetails: definedOnly({ error: source.stopError, cause: source.stopCause }),
        });
        ended = true;
        break;
      case "ExecutionTimeout":
        if (attempt) writeCall(attempt, event.timestamp);
        push(event.timestamp, "ExecutionTimedOut", 0, { executionTimedOutEventDetails: { error: "States.Timeout" } });
        ended = true;
        break;
    }
  }
  // Still running: the call its current task has made so far.
  if (!ended && attempt) writeCall(attempt);
  return history;
}

/** Where a redrive of this history restarts, from what it shows. */
export interface RedrivePoint {
  /** The state to run, with the input it was entered with. */
  unsuccessful?: { state: string; input: string };
  /** The last state that exited, when none is left unfinished (stopped between two states). */
  lastExited?: { state: string; output: string };
}

/**
 * The state a redrive restarts from: the last one entered and never exited (it failed, or was running when the
 * execution was stopped or timed out), with the input it was entered with. Read from the history, so it works for
 * an execution loaded from disk as for one this process ran.
 */
export function redrivePoint(history: readonly HistoryEvent[]): RedrivePoint {
  let unsuccessful: RedrivePoint["unsuccessful"];
  let lastExited: RedrivePoint["lastExited"];
  for (const event of history) {
    const entered = event.stateEnteredEventDetails as { name: string; input: string } | undefined;
    const exited = event.stateExitedEventDetails as { name: string; output: string } | undefined;
    if (entered) unsuccessful = { state: entered.name, input: entered.input };
    if (exited) {
      unsuccessful = undefined;
      lastExited = { state: exited.name, output: exited.output };
    }
  }
  return { ...(unsuccessful ? { unsuccessful } : {}), ...(lastExited ? { lastExited } : {}) };
}

/** `arn:aws:states:::sqs:sendMessage.waitForTaskToken` → resourceType `sqs`, resource `sendMessage.waitForTaskToken`. */
function describeResource(resourceArn: string | undefined): { resourceType: string; resource: string } {
  const match = /^arn:aws:states:::([\w-]+):(.+)$/.exec(resourceArn ?? "");
  return match ? { resourceType: match[1]!, resource: match[2]! } : { resourceType: "unknown", resource: "unknown" };
}

function json(value: unknown): string {
  return JSON.stringify(value ?? null);
}

/** The fields that have a value: AWS leaves out the detail fields it has no value for. */
function definedOnly(fields: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(fields).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}
