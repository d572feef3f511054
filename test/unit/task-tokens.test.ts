// Verifies the local stack's task tokens (local/task-tokens.ts), which the runner's `.waitForTaskToken` tasks wait on
// and the local Step Functions endpoint answers: a token per read of $$.Task.Token, found in the task's Parameters;
// SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat with the answers and errors Step Functions gives
// (InvalidOutput, InvalidToken, TaskDoesNotExist, TaskTimedOut); the heartbeat and task timeouts
// (States.HeartbeatTimeout, States.Timeout) on fake timers; a discarded token and a closed execution. It cannot verify
// that AWS answers these cases the same way: the error names are the documented ones, not observed here.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TaskTokens } from "../../local/task-tokens";

const EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:ImagePipeline:job-1";
const OTHER_EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:ImagePipeline:job-2";

/** What a wait ended with, once it has: its output, or its error's name and message. */
function settled(wait: Promise<unknown>) {
  const result: { output?: unknown; error?: { name: string; message: string } } = {};
  wait.then(
    (output) => {
      result.output = output;
    },
    (error: Error) => {
      result.error = { name: error.name, message: error.message };
    },
  );
  return result;
}

/** The error `act` throws, as its name and message. */
function thrownBy(act: () => void): { name: string; message: string } | undefined {
  try {
    act();
  } catch (error) {
    return { name: (error as Error).name, message: (error as Error).message };
  }
  return undefined;
}

let tokens: TaskTokens;
beforeEach(() => {
  vi.useFakeTimers();
  tokens = new TaskTokens();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("issue and findIssued", () => {
  it("issues a new token on every read, as each attempt of a task gets its own", () => {
    // Act
    const first = tokens.issue(EXECUTION);
    const second = tokens.issue(EXECUTION);

    // Assess
    expect(first).not.toBe(second);
    expect(first).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(first.length).toBeLessThanOrEqual(2048);
  });

  it("finds the issued token among the task's Parameters, and not one already awaited", () => {
    // Prepare
    const token = tokens.issue(EXECUTION);
    const parameters = { QueueUrl: "https://queue", MessageBody: { jobId: "job-1", taskToken: token } };

    // Act + Assess
    expect(tokens.findIssued(parameters)).toBe(token);
    void tokens.wait(token, {});
    expect(tokens.findIssued(parameters)).toBeUndefined();
    expect(tokens.findIssued({ MessageBody: { taskToken: "not a token" } })).toBeUndefined();
  });

  it("refuses to wait twice on one token", () => {
    // Prepare
    const token = tokens.issue(EXECUTION);
    void tokens.wait(token, {});

    // Act + Assess
    expect(() => tokens.wait(token, {})).toThrow(/is not waiting to be awaited/);
  });
});

describe("SendTaskSuccess", () => {
  it("ends the wait with the output, parsed; the token then no longer exists", async () => {
    // Prepare
    const token = tokens.issue(EXECUTION);
    const wait = tokens.wait(token, { heartbeatMs: 1000 });

    // Act
    tokens.succeed(token, JSON.stringify({ stagingKey: "staging/job-1.png", seed: 7 }));

    // Assess
    await expect(wait).resolves.toEqual({ stagingKey: "staging/job-1.png", seed: 7 });
    expect(thrownBy(() => tokens.succeed(token, "{}"))?.name).toBe("TaskDoesNotExist");
    // Its heartbeat timer went with it.
    expect(vi.getTimerCount()).toBe(0);
  });

  it("answers InvalidOutput for output that is not JSON, and leaves the task waiting", async () => {
    // Prepare
    const token = tokens.issue(EXECUTION);
    const wait = tokens.wait(token, {});

    // Act
    const refused = thrownBy(() => tokens.succeed(token, "{not json"));

    // Assess
    expect(refused?.name).toBe("InvalidOutput");
    tokens.succeed(token, "{}");
    await expect(wait).resolves.toEqual({});
  });
});

describe("SendTaskFailure", () => {
  it("fails the wait with the error and cause given", async () => {
    // Prepare
    const token = tokens.issue(EXECUTION);
    const wait = tokens.wait(token, {});

    // Act
    tokens.fail(token, "ModelTimeoutException", "Model timed out");

    // Assess
    await expect(wait).rejects.toMatchObject({ name: "ModelTimeoutException", message: "Model timed out" });
    expect(thrownBy(() => tokens.fail(token, "Again"))?.name).toBe("TaskDoesNotExist");
  });

  it("names an unnamed failure States.TaskFailed, as Step Functions does", async () => {
    // Prepare
    const token = tokens.issue(EXECUTION);
    const wait = tokens.wait(token, {});

    // Act
    tokens.fail(token);

    // Assess
    await expect(wait).rejects.toMatchObject({ name: "States.TaskFailed", message: "" });
  });
});

describe("a string that is not a token of this endpoint", () => {
  it.each([
    ["a random string", "not-a-token"],
    ["base64 of something else", Buffer.from("arn:aws:states:eu-west-1:1:execution:x#1").toString("base64url")],
  ])("answers InvalidToken for %s", (_what, token) => {
    expect(thrownBy(() => tokens.succeed(token, "{}"))?.name).toBe("InvalidToken");
    expect(thrownBy(() => tokens.fail(token, "E"))?.name).toBe("InvalidToken");
    expect(thrownBy(() => tokens.heartbeat(token))?.name).toBe("InvalidToken");
  });
});

describe("the heartbeat and the task timeout", () => {
  it("times the task out with States.HeartbeatTimeout when no heartbeat comes in time", async () => {
    // Prepare
    const token = tokens.issue(EXECUTION);
    const wait = settled(tokens.wait(token, { heartbeatMs: 1000, timeoutMs: 60_000 }));

    // Act
    await vi.advanceTimersByTimeAsync(1000);

    // Assess
    expect(wait.error).toEqual({ name: "States.HeartbeatTimeout", message: "No heartbeat for 1 s" });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("restarts the heartbeat clock on each SendTaskHeartbeat", async () => {
    // Prepare
    const token = tokens.issue(EXECUTION);
    const wait = settled(tokens.wait(token, { heartbeatMs: 1000 }));

    // Act + Assess
    await vi.advanceTimersByTimeAsync(900);
    tokens.heartbeat(token);
    await vi.advanceTimersByTimeAsync(900);
    expect(wait.error).toBeUndefined();
    await vi.advanceTimersByTimeAsync(100);
    expect(wait.error?.name).toBe("States.HeartbeatTimeout");
  });

  it("times the task out with States.Timeout however many heartbeats come", async () => {
    // Prepare
    const token = tokens.issue(EXECUTION);
    const wait = settled(tokens.wait(token, { heartbeatMs: 1000, timeoutMs: 2500 }));

    // Act
    for (let elapsed = 0; elapsed < 3000; elapsed += 500) {
      await vi.advanceTimersByTimeAsync(500);
      if (!wait.error) tokens.heartbeat(token);
    }

    // Assess
    expect(wait.error).toEqual({ name: "States.Timeout", message: "Task timed out" });
  });

  it("answers TaskTimedOut to a late answer or heartbeat, until the execution ends", async () => {
    // Prepare
    const token = tokens.issue(EXECUTION);
    settled(tokens.wait(token, { heartbeatMs: 1000 }));
    await vi.advanceTimersByTimeAsync(1000);

    // Act + Assess
    expect(thrownBy(() => tokens.succeed(token, "{}"))?.name).toBe("TaskTimedOut");
    expect(thrownBy(() => tokens.fail(token, "E"))?.name).toBe("TaskTimedOut");
    expect(thrownBy(() => tokens.heartbeat(token))?.name).toBe("TaskTimedOut");
    tokens.closeExecution(EXECUTION);
    expect(thrownBy(() => tokens.succeed(token, "{}"))?.name).toBe("TaskDoesNotExist");
  });
});

describe("discard and closeExecution", () => {
  it("forgets a discarded token (its message was never sent): no timeout fires, answers get TaskDoesNotExist", async () => {
    // Prepare
    const token = tokens.issue(EXECUTION);
    const wait = settled(tokens.wait(token, { heartbeatMs: 1000, timeoutMs: 5000 }));

    // Act
    tokens.discard(token);
    await vi.advanceTimersByTimeAsync(10_000);

    // Assess
    expect(wait).toEqual({});
    expect(thrownBy(() => tokens.heartbeat(token))?.name).toBe("TaskDoesNotExist");
  });

  it("closes every token of an ended execution and leaves the others' alone", async () => {
    // Prepare
    const ended = tokens.issue(EXECUTION);
    const alsoEnded = tokens.issue(EXECUTION);
    const running = tokens.issue(OTHER_EXECUTION);
    const endedWait = settled(tokens.wait(ended, { heartbeatMs: 1000 }));
    const runningWait = tokens.wait(running, {});

    // Act
    tokens.closeExecution(EXECUTION);
    await vi.advanceTimersByTimeAsync(2000);

    // Assess
    expect(endedWait).toEqual({});
    expect(thrownBy(() => tokens.succeed(ended, "{}"))?.name).toBe("TaskDoesNotExist");
    expect(thrownBy(() => tokens.heartbeat(alsoEnded))?.name).toBe("TaskDoesNotExist");
    expect(tokens.findIssued({ taskToken: alsoEnded })).toBeUndefined();
    tokens.succeed(running, '{"ok":true}');
    await expect(runningWait).resolves.toEqual({ ok: true });
  });
});
