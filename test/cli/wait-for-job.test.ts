// Verifies the bounds of couchgen's polling loop with a scripted API (in-process, no network): transient failures
// are retried only a few times in a row, an unknown job is waited for only up to the start timeout, Ctrl-C and the
// overall timeout end the loop; a WAITING job is in progress like a RUNNING one, reported with how long it has waited.
// The loop against the real API is covered in couchgen-local-stack.test.ts.
import { describe, expect, it } from "vitest";
import type { JobsApi } from "../../cli/api-client";
import { CliError, ExitCode } from "../../cli/exit-codes";
import { waitForJob } from "../../cli/wait-for-job";
import type { JobStatus } from "../../functions/job-status/job-status";

/** A state, a status document without its jobId, or a failed request. */
type Answer = JobStatus["status"] | Omit<JobStatus, "jobId"> | CliError;

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
      return typeof answer === "string" ? ({ jobId, status: answer } as JobStatus) : { jobId, ...answer };
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

  it("reports a WAITING job with how long it has waited, and goes on polling it as it does a RUNNING one", async () => {
    const waitingSince = "2026-11-23T11:59:48.000Z";
    const { api } = scriptedApi([
      { status: "WAITING", waitingSince },
      { status: "WAITING", waitingSince, waitedSeconds: 12 },
      { status: "WAITING", waitingSince, waitedSeconds: 75.4 },
      { status: "RUNNING", waitingSince, waitedSeconds: 80.1 },
      { status: "SUCCEEDED", waitingSince, waitedSeconds: 80.1 },
    ]);
    const seen: [string, string | undefined][] = [];

    const job = await waitForJob(api, "j1", { ...fast, onState: (state, detail) => seen.push([state, detail]) });

    expect(job).toMatchObject({ status: "SUCCEEDED", waitingSince, waitedSeconds: 80.1 });
    expect(seen).toEqual([
      ["WAITING", "for a Bedrock slot"],
      ["WAITING", "for a Bedrock slot (waited 12.0 s)"],
      ["WAITING", "for a Bedrock slot (waited 1 min 15 s)"],
      ["RUNNING", undefined],
    ]);
  });

  it("ends at the timeout of a job still WAITING, as for one still RUNNING", async () => {
    const { api } = scriptedApi([{ status: "WAITING", waitedSeconds: 3 }]);

    const failure = waitForJob(api, "j1", { ...fast, timeoutMs: 50, intervalMs: 10 });

    await expect(failure).rejects.toMatchObject({ exitCode: ExitCode.TimedOut, details: { lastState: "WAITING" } });
    await expect(failure).rejects.toThrow("is still WAITING after 0 s; it goes on: couchgen wait j1");
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
