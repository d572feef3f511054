// Fault injection on the generator's Bedrock call, through the stand-in's runtime fault settings: a throttling storm
// that hits every call for a while and then passes, model timeouts, 503s and 500s, and timeouts past GenerateImage's
// retry budget. A throttle is the waiting room's to absorb (the generator puts the message back with a short delay):
// the storm's jobs end SUCCEEDED with GenerateImage run once, no state-machine retry, and exactly one image drawn per
// job (no Bedrock call paid twice). The other errors are answered to the state machine, whose Retry runs GenerateImage
// again (a new task token, a new message): each job ends SUCCEEDED once Bedrock answers, and a storm longer than the
// budget ends the job FAILED after the ASL's 9 attempts, not stuck. Retry intervals are ×0.01 (attempts, backoff and
// jitter are the file's); the waiting room's delays are real seconds. The stand-in is not Bedrock: how the real
// service throttles, and how long its timeouts take, are not shown here.
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type BedrockStandInStats, DEFAULT_FAULTS } from "../../local/bedrock-stand-in";
import {
  type E2eStack,
  imageKeyOf,
  objectExists,
  PIXEL_MODEL_ID,
  startE2eStack,
  submitJob,
  waitForJob,
} from "../e2e/helpers";
import { attemptsOf, historyOf } from "./fault-stack";

/** GenerateImage's Bedrock retrier in the ASL file: the first call and 8 retries. */
const GENERATE_IMAGE_ATTEMPTS = 9;

let env: E2eStack;

beforeAll(async () => {
  env = await startE2eStack({ modelId: PIXEL_MODEL_ID, bedrock: { latencyMs: 20 } });
});

afterEach(() => {
  env.stack.bedrock.setFaults({ ...DEFAULT_FAULTS, latencyMs: 20 });
});

afterAll(async () => {
  await env?.stop();
});

/** Waits (bounded) until the stand-in's counters satisfy `reached`, then applies `after`. */
async function until(reached: (stats: BedrockStandInStats) => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!reached(env.stack.bedrock.stats)) {
    if (Date.now() > deadline)
      throw new Error(`The stand-in never saw ${what}: ${JSON.stringify(env.stack.bedrock.stats)}`);
    await sleep(5);
  }
}

describe("a Bedrock throttling storm that passes", () => {
  it("ends every job SUCCEEDED once the storm is over, GenerateImage run once, each with one image drawn", async () => {
    env.stack.bedrock.resetStats();
    env.stack.bedrock.setFaults({ throttleRate: 1 });
    const jobIds = Array.from({ length: 6 }, (_, index) => `fault-storm-${index}`);
    await Promise.all(
      jobIds.map((jobId, index) =>
        submitJob(env, { prompt: `a ship in storm ${index}` }, { "Idempotency-Key": jobId }),
      ),
    );
    await until((stats) => stats.throttled >= 2 * jobIds.length, "two throttled calls per job");
    env.stack.bedrock.setFaults({ throttleRate: 0 });

    // Each throttle puts the message back for 1 s, then 1-2 s, then 1-4 s: real seconds.
    const jobs = await Promise.all(jobIds.map((jobId) => waitForJob(env, jobId, 30_000)));

    expect(jobs.map((job) => job.status)).toEqual(jobIds.map(() => "SUCCEEDED"));
    const stats = env.stack.bedrock.stats;
    expect(stats.images).toBe(jobIds.length);
    expect(stats.requests - stats.throttled).toBe(jobIds.length);
    for (const jobId of jobIds) {
      // The storm never reached the state machine.
      expect(attemptsOf(historyOf(env, jobId), "GenerateImage")).toEqual({ attempts: 1, errors: [] });
      expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(true);
    }
  }, 45_000);
});

describe("model timeouts and server errors", () => {
  it.each([
    ["ModelTimeoutException", { timeoutRate: 1 }, (stats: BedrockStandInStats) => stats.timeouts >= 2],
    ["ServiceUnavailableException", { serverErrorRate: 1 }, (stats: BedrockStandInStats) => stats.serverErrors >= 2],
    // A 500 InternalServerException is not in the ASL's list by name: generate-image reports any Bedrock 5xx as
    // ServiceUnavailableException so that it is retried.
    ["ServiceUnavailableException", { internalErrorRate: 1 }, (stats: BedrockStandInStats) => stats.serverErrors >= 2],
  ] as const)("retries %s until Bedrock answers (%o)", async (error, faults, reached) => {
    const jobId = `fault-${Object.keys(faults)[0]}`;
    env.stack.bedrock.resetStats();
    env.stack.bedrock.setFaults(faults);
    await submitJob(env, { prompt: `a lighthouse, ${jobId}` }, { "Idempotency-Key": jobId });
    await until(reached, `two ${error} answers`);
    env.stack.bedrock.setFaults(DEFAULT_FAULTS);

    const job = await waitForJob(env, jobId);

    expect(job.status).toBe("SUCCEEDED");
    const generate = attemptsOf(historyOf(env, jobId), "GenerateImage");
    expect(generate.errors.length).toBeGreaterThanOrEqual(2);
    expect(new Set(generate.errors)).toEqual(new Set([error]));
    expect(env.stack.bedrock.stats.images).toBe(1);
  });

  it("ends a job FAILED after 9 timed-out calls, with the cause kept and no image", async () => {
    const jobId = "fault-timeouts-forever";
    env.stack.bedrock.resetStats();
    env.stack.bedrock.setFaults({ timeoutRate: 1 });

    await submitJob(env, { prompt: "a lighthouse the model never finishes" }, { "Idempotency-Key": jobId });
    const job = await waitForJob(env, jobId);

    expect(job.status).toBe("FAILED");
    expect(job.error).toBe("ModelTimeoutException");
    expect(job.cause).toMatch(/timed out/i);
    expect(attemptsOf(historyOf(env, jobId), "GenerateImage").attempts).toBe(GENERATE_IMAGE_ATTEMPTS);
    expect(env.stack.bedrock.stats).toMatchObject({ requests: GENERATE_IMAGE_ATTEMPTS, timeouts: 9, images: 0 });
    expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(false);
  });
});
