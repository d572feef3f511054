import { randomUUID } from "node:crypto";

/**
 * Task tokens of the local stack's callback tasks (`.waitForTaskToken`): issued when a definition reads
 * `$$.Task.Token`, awaited by the task, and answered through the local Step Functions endpoint (SendTaskSuccess,
 * SendTaskFailure, SendTaskHeartbeat) with the answers and errors Step Functions gives.
 */
export class TaskTokens {
  private readonly tokens = new Map<string, TokenState>();

  /** A new token for a task of `executionArn`; each read of `$$.Task.Token` (each attempt) gets its own, as on AWS. */
  issue(executionArn: string): string {
    const token = Buffer.from(`${TOKEN_PREFIX}${executionArn}#${randomUUID()}`).toString("base64url");
    this.tokens.set(token, { executionArn, status: "issued" });
    return token;
  }

  /** The first issued, not yet awaited token found among the string values of `input` (the task's Parameters). */
  findIssued(input: unknown): string | undefined {
    if (typeof input === "string") return this.tokens.get(input)?.status === "issued" ? input : undefined;
    if (typeof input !== "object" || input === null) return undefined;
    for (const value of Object.values(input)) {
      const token = this.findIssued(value);
      if (token) return token;
    }
    return undefined;
  }

  /**
   * Waits for the token's answer: the output given to SendTaskSuccess (parsed), or an error named as SendTaskFailure
   * named it. `States.HeartbeatTimeout` when no heartbeat (or answer) came for `heartbeatMs`; `States.Timeout` after
   * `timeoutMs` in all.
   */
  wait(token: string, limits: { heartbeatMs?: number; timeoutMs?: number }): Promise<unknown> {
    const state = this.tokens.get(token);
    if (state?.status !== "issued") throw new Error(`Task token ${token} is not waiting to be awaited`);
    let waiting!: Waiting;
    const promise = new Promise<unknown>((resolve, reject) => {
      waiting = { resolve, reject, timers: [] };
    });
    const expire = (error: string, cause: string) => {
      this.settle(token, "timedOut");
      waiting.reject(namedError(error, cause));
    };
    const armHeartbeat = () => {
      if (limits.heartbeatMs === undefined) return;
      clearTimeout(waiting.heartbeat);
      waiting.heartbeat = setTimeout(
        () => expire("States.HeartbeatTimeout", `No heartbeat for ${limits.heartbeatMs! / 1000} s`),
        limits.heartbeatMs,
      );
    };
    if (limits.timeoutMs !== undefined) {
      waiting.timers.push(setTimeout(() => expire("States.Timeout", "Task timed out"), limits.timeoutMs));
    }
    waiting.armHeartbeat = armHeartbeat;
    armHeartbeat();
    this.tokens.set(token, { ...state, status: "waiting", waiting });
    return promise;
  }

  succeed(token: string, output: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(output);
    } catch {
      throw namedError("InvalidOutput", "Invalid Output: the output is not JSON");
    }
    this.open(token).waiting?.resolve(parsed);
    this.settle(token, "closed");
  }

  fail(token: string, error?: string, cause?: string): void {
    // An error SendTaskFailure does not name is States.TaskFailed, as on AWS.
    this.open(token).waiting?.reject(namedError(error || "States.TaskFailed", cause ?? ""));
    this.settle(token, "closed");
  }

  heartbeat(token: string): void {
    this.open(token).waiting?.armHeartbeat?.();
  }

  /** The message carrying the token was never sent: forget it, with nobody left waiting. */
  discard(token: string): void {
    this.settle(token, "closed");
  }

  /** The execution ended (or was stopped): its tokens no longer answer. */
  closeExecution(executionArn: string): void {
    for (const [token, state] of this.tokens) {
      if (state.executionArn !== executionArn) continue;
      this.settle(token, "closed");
      this.tokens.delete(token);
    }
  }

  private open(token: string): TokenState {
    if (!decodes(token)) throw namedError("InvalidToken", "Invalid Token: not a task token of this endpoint");
    const state = this.tokens.get(token);
    if (state?.status === "timedOut") throw namedError("TaskTimedOut", "Task Timed Out: the task's time ran out");
    if (!state) throw namedError("TaskDoesNotExist", "Task Does Not Exist");
    return state;
  }

  private settle(token: string, status: "closed" | "timedOut"): void {
    const state = this.tokens.get(token);
    if (!state || state.status === "timedOut") return;
    for (const timer of state.waiting?.timers ?? []) clearTimeout(timer);
    clearTimeout(state.waiting?.heartbeat);
    // A timed-out token is kept (without its callbacks) until its execution ends, so a late answer gets TaskTimedOut;
    // a closed one is forgotten and gets TaskDoesNotExist.
    if (status === "closed") this.tokens.delete(token);
    else this.tokens.set(token, { executionArn: state.executionArn, status });
  }
}

const TOKEN_PREFIX = "couch-imagegen-local-task-token:";

interface Waiting {
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
  timers: NodeJS.Timeout[];
  heartbeat?: NodeJS.Timeout;
  armHeartbeat?: () => void;
}

interface TokenState {
  executionArn: string;
  status: "issued" | "waiting" | "timedOut";
  waiting?: Waiting;
}

function decodes(token: string): boolean {
  return Buffer.from(token, "base64url").toString("utf8").startsWith(TOKEN_PREFIX);
}

function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}
