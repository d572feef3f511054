import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EventLog, ExecutionOutcome, ExecutionStatus, StateMachineRunner } from "./state-machine-runner";

/** A Step Functions history event, shaped as GetExecutionHistory returns it. */
export interface HistoryEvent {
  id: number;
  previousEventId: number;
  timestamp: Date;
  type: string;
  [details: string]: unknown;
}

export interface ExecutionRecord {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  input: string;
  output?: string;
  error?: string;
  cause?: string;
  startDate: Date;
  stopDate?: Date;
  history: HistoryEvent[];
}

/** The name is taken by an execution that is finished or has another input (Standard workflow rules). */
export class ExecutionAlreadyExistsError extends Error {
  override name = "ExecutionAlreadyExists";
}

export class ExecutionDoesNotExistError extends Error {
  override name = "ExecutionDoesNotExist";
}

export interface ExecutionStoreOptions {
  runner: StateMachineRunner;
  stateMachineArn: string;
  /** Where finished and running executions are kept between runs; none keeps them in memory only. */
  directory?: string;
  /** Told when an execution ends, whatever its status (the local stand-in for EventBridge). */
  onFinished?: (record: ExecutionRecord) => void;
}

/**
 * The executions of the one local state machine: starts them on the runner with Standard-workflow name idempotency,
 * keeps status, input, output and a Step Functions-shaped history, and persists them under `directory`.
 */
export class ExecutionStore {
  private readonly records = new Map<string, ExecutionRecord>();
  private readonly running = new Map<string, { stop: () => void; done: Promise<void>; events: EventLog[] }>();

  constructor(private readonly options: ExecutionStoreOptions) {
    if (options.directory) mkdirSync(options.directory, { recursive: true });
  }

  /** Loads persisted executions; those that were RUNNING when the stack stopped start again from the beginning. */
  resume(): ExecutionRecord[] {
    if (!this.options.directory) return [];
    const restarted: ExecutionRecord[] = [];
    for (const file of readdirSync(this.options.directory).filter((name) => name.endsWith(".json"))) {
      const record = reviveRecord(JSON.parse(readFileSync(join(this.options.directory, file), "utf8")));
      this.records.set(record.executionArn, record);
      if (record.status === "RUNNING") {
        record.history = [];
        this.run(record);
        restarted.push(record);
      }
    }
    return restarted;
  }

  start(name: string, input: string): { record: ExecutionRecord; created: boolean } {
    const executionArn = `${this.options.stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
    const existing = this.records.get(executionArn);
    if (existing) {
      if (existing.status === "RUNNING" && existing.input === input) return { record: existing, created: false };
      throw new ExecutionAlreadyExistsError(`Execution Already Exists: '${executionArn}'`);
    }
    const record: ExecutionRecord = {
      executionArn,
      stateMachineArn: this.options.stateMachineArn,
      name,
      status: "RUNNING",
      input,
      startDate: new Date(),
      history: [],
    };
    this.records.set(executionArn, record);
    this.run(record);
    return { record, created: true };
  }

  describe(executionArn: string): ExecutionRecord {
    const record = this.records.get(executionArn);
    if (!record) throw new ExecutionDoesNotExistError(`Execution Does Not Exist: '${executionArn}'`);
    return record;
  }

  /** The history so far: a running execution's grows as it runs, as GetExecutionHistory shows it on AWS. */
  history(executionArn: string): HistoryEvent[] {
    const record = this.describe(executionArn);
    const running = this.running.get(executionArn);
    return running ? toHistory(running.events, record, this.options.runner.taskResources) : record.history;
  }

  /** Newest first, as ListExecutions answers. */
  list(statusFilter?: string): ExecutionRecord[] {
    return [...this.records.values()]
      .filter((record) => !statusFilter || record.status === statusFilter)
      .sort((a, b) => b.startDate.getTime() - a.startDate.getTime());
  }

  stop(executionArn: string, error?: string, cause?: string): ExecutionRecord {
    const record = this.describe(executionArn);
    if (record.status === "RUNNING") {
      record.error = error;
      record.cause = cause;
      this.running.get(executionArn)?.stop();
    }
    return record;
  }

  /** Resolves when no execution is running (or the timeout passes): used to stop the stack cleanly. */
  async idle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.running.size > 0 && Date.now() < deadline) {
      await Promise.race([
        Promise.all([...this.running.values()].map((run) => run.done)),
        sleep(deadline - Date.now()),
      ]);
    }
    return this.running.size === 0;
  }

  get runningCount(): number {
    return this.running.size;
  }

  private run(record: ExecutionRecord): void {
    const execution = this.options.runner.start(JSON.parse(record.input), {
      executionArn: record.executionArn,
      name: record.name,
      stateMachineArn: record.stateMachineArn,
    });
    this.persist(record);
    const done = execution.outcome.then((outcome) => this.finish(record, outcome, execution.events));
    this.running.set(record.executionArn, { stop: execution.stop, done, events: execution.events });
  }

  private finish(record: ExecutionRecord, outcome: ExecutionOutcome, events: EventLog[]): void {
    record.status = outcome.status;
    record.stopDate = new Date();
    if (outcome.status === "SUCCEEDED") record.output = JSON.stringify(outcome.output ?? null);
    if (outcome.error) record.error = outcome.error;
    if (outcome.cause) record.cause = outcome.cause;
    record.history = toHistory(events, record, this.options.runner.taskResources);
    this.running.delete(record.executionArn);
    this.persist(record);
    this.options.onFinished?.(record);
  }

  private persist(record: ExecutionRecord): void {
    if (!this.options.directory) return;
    const file = join(this.options.directory, `${record.name}.json`);
    // Write then rename, so a stack killed mid-write never leaves half a file.
    writeFileSync(`${file}.tmp`, JSON.stringify(record));
    renameSync(`${file}.tmp`, file);
  }
}

function reviveRecord(raw: ExecutionRecord): ExecutionRecord {
  return {
    ...raw,
    startDate: new Date(raw.startDate),
    stopDate: raw.stopDate ? new Date(raw.stopDate) : undefined,
    history: raw.history.map((event) => ({ ...event, timestamp: new Date(event.timestamp) })),
  };
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

/**
 * Turns the runner's event log into Step Functions history events (the types and detail fields the console and
 * `aws stepfunctions get-execution-history` show). Each task run is TaskScheduled (naming its resource as AWS does:
 * `lambda` `invoke`, `sqs` `sendMessage.waitForTaskToken`, `dynamodb` `updateItem`), TaskStarted, then TaskSucceeded,
 * TaskFailed or TaskTimedOut (a heartbeat or task timeout); a retried task shows its failure then a new TaskScheduled,
 * as on AWS. A task whose error a Catch took shows its failure then TaskStateExited, with no TaskSucceeded.
 */
export function toHistory(
  events: EventLog[],
  record: ExecutionRecord,
  taskResources: Record<string, string> = {},
): HistoryEvent[] {
  const history: HistoryEvent[] = [];
  const push = (timestamp: number, type: string, details: Record<string, unknown>) => {
    history.push({
      id: history.length + 1,
      previousEventId: history.length,
      timestamp: new Date(timestamp),
      type,
      ...details,
    });
  };
  const json = (value: unknown) => JSON.stringify(value ?? null);
  const schedule = (timestamp: number, name: string | undefined, retryAttempt?: number) => {
    const resource = describeResource(name === undefined ? undefined : taskResources[name]);
    push(timestamp, "TaskScheduled", {
      taskScheduledEventDetails: {
        ...resource,
        region: record.executionArn.split(":")[3],
        ...(retryAttempt === undefined ? {} : { retryAttempt }),
      },
    });
    push(timestamp, "TaskStarted", { taskStartedEventDetails: resource });
  };
  let caught = false;
  for (const event of events) {
    const state = event.state;
    const prefix = state ? (STATE_TYPE_PREFIX[state.type] ?? state.type) : "";
    switch (event.type) {
      case "ExecutionStarted":
        push(event.timestamp, "ExecutionStarted", {
          executionStartedEventDetails: { input: json(event.input), roleArn: "arn:aws:iam::123456789012:role/local" },
        });
        break;
      case "StateEntered":
        push(event.timestamp, `${prefix}StateEntered`, {
          stateEnteredEventDetails: { name: state?.name, input: json(state?.input) },
        });
        if (state?.type === "Task") schedule(event.timestamp, state.name);
        break;
      case "StateRetried":
        schedule(event.timestamp, state?.name, event.retry?.attempt);
        break;
      case "StateFailed": {
        if (state?.type !== "Task") break;
        const details = {
          ...describeResource(taskResources[state.name]),
          error: event.Error,
          cause: String(event.Cause ?? ""),
        };
        if (event.Error === "States.Timeout" || event.Error === "States.HeartbeatTimeout") {
          push(event.timestamp, "TaskTimedOut", { taskTimedOutEventDetails: details });
        } else {
          push(event.timestamp, "TaskFailed", { taskFailedEventDetails: details });
        }
        break;
      }
      case "StateCaught":
        caught = true;
        break;
      case "StateExited":
        if (state?.type === "Task" && !caught)
          push(event.timestamp, "TaskSucceeded", {
            taskSucceededEventDetails: { ...describeResource(taskResources[state.name]), output: json(state.output) },
          });
        push(event.timestamp, `${prefix}StateExited`, {
          stateExitedEventDetails: { name: state?.name, output: json(state?.output) },
        });
        caught = false;
        break;
      case "ExecutionSucceeded":
        push(event.timestamp, "ExecutionSucceeded", { executionSucceededEventDetails: { output: json(event.output) } });
        break;
      case "ExecutionFailed":
        push(event.timestamp, "ExecutionFailed", {
          executionFailedEventDetails: { error: event.Error, cause: String(event.Cause ?? "") },
        });
        break;
      case "ExecutionAborted":
        push(event.timestamp, "ExecutionAborted", {
          executionAbortedEventDetails: { error: record.error, cause: record.cause },
        });
        break;
      case "ExecutionTimeout":
        push(event.timestamp, "ExecutionTimedOut", { executionTimedOutEventDetails: { error: "States.Timeout" } });
        break;
    }
  }
  return history;
}

/** `arn:aws:states:::sqs:sendMessage.waitForTaskToken` → resourceType `sqs`, resource `sendMessage.waitForTaskToken`. */
function describeResource(resourceArn: string | undefined): { resourceType: string; resource: string } {
  const match = /^arn:aws:states:::([\w-]+):(.+)$/.exec(resourceArn ?? "");
  return match ? { resourceType: match[1]!, resource: match[2]! } : { resourceType: "unknown", resource: "unknown" };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
