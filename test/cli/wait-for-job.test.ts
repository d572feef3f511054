// Verifies the bounds of couchgen's polling loop with a scripted API (in-process, no network): transient failures
// are retried only a few times in a row, an unknown job is waited for only up to the start timeout, Ctrl-C and the
// overall timeout end the loop. The loop against the real API is covered in couchgen-local-stack.test.ts.
import { describe, expect, it } from "vitest";
import type { JobsApi } from "../../cli/api-client";
import { CliError, ExitCode } from "../../cli/exit-codes";
import { waitForJob } from "../../cli/wait-for-job";
import type { JobStatus } from "../../functions/job-status/job-status";

type Answer = JobStatus["status"] | CliError;

const unavailable = () => new CliError("API 503: busy", ExitCode.Unavailable, { status: 503 });
const notFound = () => new CliError('API 404: No job "j1"', ExitCode.NotFound, { status: 404 });

/** An API whose status answers are played in order, the last one repeating. */
function scriptedApi(answers: Answer[]): { api: JobsApi; calls: () => number } {
  let calls = 0;
  const api = {
    status: async (jobId: string) => {
      const answer = answers[Math.min(calls, answers.length - 1)];
      calls++;
      if (answer instanceof CliError) throw answer;
      return { jobId, status: answer } as JobStatus;
    },
  } as unknown as JobsApi;
  return { api, calls: () => calls };
}

const fast = { timeoutMs: 5_000, intervalMs: 1, startTimeoutMs: 0, onState: () => {} };

describe("waitForJob", () => {
  it("reports each state before the last and resolves the final status", async () => {
    const { api } = scriptedApi(["QUEUED", "RUNNING", "RUNNING", "SUCCEEDED"]);
    const states: string[] = [];

    const job = await waitForJob(api, "j1", { ...fast, onState: (state) => states.push(state) });

    expect(job.status).toBe("SUCCEEDED");
    expect(states).toEqual(["QUEUED", "RUNNING", "RUNNING"]);
  });

  it("rides out four failed status requests in a row, and gives up at the fifth", async () => {
    const recovers = scriptedApi([unavailable(), unavailable(), unavailable(), unavailable(), "FAILED"]);
    const never = scriptedApi([unavailable()]);

    await expect(waitForJob(recovers.api, "j1", fast)).resolves.toMatchObject({ status: "FAILED" });
    await expect(waitForJob(never.api, "j1", fast)).rejects.toMatchObject({ exitCode: ExitCode.Unavailable });
    expect(never.calls()).toBe(5);
  });

  it("waits for an unknown job only up to the start timeout", async () => {
    const appears = scriptedApi([notFound(), notFound(), "SUCCEEDED"]);
    const never = scriptedApi([notFound()]);

    await expect(waitForJob(appears.api, "j1", { ...fast, startTimeoutMs: 1_000 })).resolves.toMatchObject({
      status: "SUCCEEDED",
    });
    const failure = waitForJob(never.api, "j1", { ...fast, startTimeoutMs: 50 });
    await expect(failure).rejects.toMatchObject({ exitCode: ExitCode.NotFound });
    await expect(failure).rejects.toThrow("Still unknown after 0 s");
  });

  it("ends at the timeout with the last state seen", async () => {
    const { api } = scriptedApi(["RUNNING"]);

    const failure = waitForJob(api, "j1", { ...fast, timeoutMs: 50, intervalMs: 10 });

    await expect(failure).rejects.toMatchObject({ exitCode: ExitCode.TimedOut, details: { lastState: "RUNNING" } });
  });

  it("stops at once when interrupted", async () => {
    const { api } = scriptedApi(["RUNNING"]);
    const interrupt = new AbortController();
    setTimeout(() => interrupt.abort(), 20);

    const failure = waitForJob(api, "j1", {
      ...fast,
      intervalMs: 60_000,
      timeoutMs: 120_000,
      signal: interrupt.signal,
    });

    await expect(failure).rejects.toMatchObject({ exitCode: ExitCode.Interrupted });
    await expect(failure).rejects.toThrow("couchgen wait j1");
  });
});
