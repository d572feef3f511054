import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type HistoryEvent, type HistorySource, type Redrive, redrivePoint, toHistory } from "./execution-history";
import type { ExecutionOutcome, ExecutionStatus, RunningExecution, StateMachineRunner } from "./state-machine-runner";

export type { HistoryEvent } from "./execution-history";

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
  /** How many times RedriveExecution restarted it, as DescribeExecution counts; absent: never. */
  redriveCount?: number;
  /** When it was last redriven. */
  redriveDate?: Date;
  history: HistoryEvent[];
}

/** The name is taken by an execution that is finished or has another input (Standard workflow rules). */
export class ExecutionAlreadyExistsError extends Error {
  override name = "ExecutionAlreadyExists";
}

export class ExecutionDoesNotExistError extends Error {
  override name = "ExecutionDoesNotExist";
}

/** RedriveExecution refused: the message is the redriveStatusReason DescribeExecution gives. */
export class ExecutionNotRedrivableError extends Error {
  override name = "ExecutionNotRedrivable";
}

/** A Standard execution can be redriven for 14 days after it ended (RedriveExecution). */
const REDRIVABLE_FOR_MS = 14 * 24 * 60 * 60 * 1000;
/** A history must leave room for ExecutionRedriven and one more event under the 25,000-event quota. */
const REDRIVABLE_HISTORY_EVENTS = 24_999;
/** RedriveExecution answers a repeated client token idempotently for 15 minutes. */
const REDRIVE_TOKEN_VALID_MS = 15 * 60 * 1000;

/** DescribeExecution's redriveStatus, with the reason when it is NOT_REDRIVABLE. */
export type RedriveStatus =
  | { redriveStatus: "REDRIVABLE" }
  | { redriveStatus: "NOT_REDRIVABLE"; redriveStatusReason: string };

export interface ExecutionStoreOptions {
  runner: StateMachineRunner;
  stateMachineArn: string;
  /** Where finished and running executions are kept between runs; none keeps them in memory only. */
  directory?: string;
  /** Told when an execution ends, whatever its status (the local stand-in for EventBridge). */
  onFinished?: (record: ExecutionRecord) => void;
}

interface Run {
  execution: RunningExecution;
  done: Promise<void>;
  /** A redriven run: the history before it, which its events continue. */
  redrive?: Redrive;
}

/**
 * The executions of the one local state machine: starts them on the runner with Standard-workflow name idempotency,
 * redrives them as RedriveExecution does, keeps status, input, output and a Step Functions-shaped history, and
 * persists them under `directory`.
 */
export class ExecutionStore {
  private readonly records = new Map<string, ExecutionRecord>();
  private readonly running = new Map<string, Run>();
  /** RedriveExecution's client tokens of the last successful redrives, by execution (the last 10, for 15 minutes). */
  private readonly redriveTokens = new Map<string, { token: string; at: number }[]>();

  constructor(private readonly options: ExecutionStoreOptions) {
    if (options.directory) mkdirSync(options.directory, { recursive: true });
  }

  /**
   * Loads persisted executions; those that were RUNNING when the stack stopped start again from the beginning, or,
   * if redriven, from where their redrive started.
   */
  resume(): ExecutionRecord[] {
    if (!this.options.directory) return [];
    const restarted: ExecutionRecord[] = [];
    for (const file of readdirSync(this.options.directory).filter((name) => name.endsWith(".json"))) {
      const record = reviveRecord(JSON.parse(readFileSync(join(this.options.directory, file), "utf8")));
      this.records.set(record.executionArn, record);
      if (record.status !== "RUNNING") continue;
      if (record.redriveCount) {
        this.run(record, { previous: record.history, redriveCount: record.redriveCount });
      } else {
        record.history = [];
        this.run(record);
      }
      restarted.push(record);
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

  /**
   * RedriveExecution as AWS does it for a Standard workflow: a FAILED, ABORTED or TIMED_OUT execution that ended in
   * the last 14 days runs again under the same ARN and name from its unsuccessful state (the one it entered and never
   * left) with the input that state was entered with; the states that succeeded are not run again. Its history goes
   * on after an ExecutionRedriven event. AWS's rule is "from the unsuccessful step, with the same input as the last
   * non-successful state", and no page we found makes an exception for a Fail state: a job that failed through
   * RecordFailed into Failed (a Fail state) is redriven from Failed, and so fails again at once, as on AWS. What
   * redrive helps is a job stopped or timed out in a step, or a step that failed with no Catch.
   */
  redrive(executionArn: string, clientToken?: string): ExecutionRecord {
    const record = this.describe(executionArn);
    // A repeated request (an SDK retry sends the same token) answers as the first did rather than redriving again.
    const tokens = (this.redriveTokens.get(executionArn) ?? []).filter(
      (used) => Date.now() - used.at < REDRIVE_TOKEN_VALID_MS,
    );
    if (clientToken && tokens.some((used) => used.token === clientToken)) return record;
    const status = this.redriveStatus(record);
    if (status.redriveStatus === "NOT_REDRIVABLE") throw new ExecutionNotRedrivableError(status.redriveStatusReason);
    const previous = record.history;
    record.status = "RUNNING";
    record.redriveCount = (record.redriveCount ?? 0) + 1;
    record.redriveDate = new Date();
    record.stopDate = undefined;
    record.output = undefined;
    record.error = undefined;
    record.cause = undefined;
    this.run(record, { previous, redriveCount: record.redriveCount });
    if (clientToken)
      this.redriveTokens.set(executionArn, [...tokens, { token: clientToken, at: Date.now() }].slice(-10));
    return record;
  }

  /** Whether RedriveExecution would take the execution now, and if not why, in DescribeExecution's words. */
  redriveStatus(record: ExecutionRecord): RedriveStatus {
    const refuse = (redriveStatusReason: string): RedriveStatus => ({
      redriveStatus: "NOT_REDRIVABLE",
      redriveStatusReason,
    });
    if (record.status === "RUNNING" || record.status === "SUCCEEDED") {
      return refuse(`Execution is ${record.status} and cannot be redriven.`);
    }
    if (record.stopDate && Date.now() - record.stopDate.getTime() > REDRIVABLE_FOR_MS) {
      return refuse("Execution redrivable period exceeded.");
    }
    if (record.history.length >= REDRIVABLE_HISTORY_EVENTS) return refuse("Execution history event limit exceeded.");
    return { redriveStatus: "REDRIVABLE" };
  }

  describe(executionArn: string): ExecutionRecord {
    const record = this.records.get(executionArn);
    if (!record) throw new ExecutionDoesNotExistError(`Execution Does Not Exist: '${executionArn}'`);
    return record;
  }

  /** The history so far: a running execution's grows as it runs, as GetExecutionHistory shows it on AWS. */
  history(executionArn: string): HistoryEvent[] {
    const record = this.describe(executionArn);
    const run = this.running.get(executionArn);
    return run ? toHistory(run.execution, this.historySource(record), run.redrive) : record.history;
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
      this.running.get(executionArn)?.execution.stop();
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

  private run(record: ExecutionRecord, redrive?: Redrive): void {
    const from: { startAt?: string; input: unknown } = redrive
      ? this.redriveFrom(record, redrive.previous)
      : { input: JSON.parse(record.input) };
    const execution = this.options.runner.start(
      from.input,
      { executionArn: record.executionArn, name: record.name, stateMachineArn: record.stateMachineArn },
      { startAt: from.startAt },
    );
    this.persist(record);
    const done = execution.outcome.then((outcome) => this.finish(record, outcome));
    this.running.set(record.executionArn, { execution, done, redrive });
  }

  /**
   * The state a redrive starts from, and its input: the one the history shows unfinished; after a stop between two
   * states, the next one (every state of ours that exits names its Next: there is no Choice); before any, the start.
   */
  private redriveFrom(record: ExecutionRecord, history: readonly HistoryEvent[]): { startAt?: string; input: unknown } {
    const { unsuccessful, lastExited } = redrivePoint(history);
    if (unsuccessful) return { startAt: unsuccessful.state, input: JSON.parse(unsuccessful.input) };
    const next = lastExited ? this.options.runner.states[lastExited.state]?.Next : undefined;
    if (lastExited && next) return { startAt: next, input: JSON.parse(lastExited.output) };
    return { input: JSON.parse(record.input) };
  }

  private finish(record: ExecutionRecord, outcome: ExecutionOutcome): void {
    const run = this.running.get(record.executionArn);
    record.status = outcome.status;
    record.stopDate = new Date();
    if (outcome.status === "SUCCEEDED") record.output = JSON.stringify(outcome.output ?? null);
    if (outcome.error) record.error = outcome.error;
    if (outcome.cause) record.cause = outcome.cause;
    if (run) record.history = toHistory(run.execution, this.historySource(record), run.redrive);
    this.running.delete(record.executionArn);
    this.persist(record);
    this.options.onFinished?.(record);
  }

  private historySource(record: ExecutionRecord): HistorySource {
    return {
      executionArn: record.executionArn,
      stateMachineArn: record.stateMachineArn,
      states: this.options.runner.states,
      stopError: record.error,
      stopCause: record.cause,
    };
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
    redriveDate: raw.redriveDate ? new Date(raw.redriveDate) : undefined,
    history: raw.history.map((event) => ({ ...event, timestamp: new Date(event.timestamp) })),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
