// Fault injection on the status writes the state machine makes through its direct DynamoDB integration
// (RecordRunning, RecordSucceeded, RecordFailed: UpdateItem): a proxy between the pipeline and the DynamoDB emulator
// answers ThrottlingException, ProvisionedThroughputExceededException or InternalServerError. Checks that the Record*
// retriers absorb a burst, and what a job whose final status write keeps failing ends as. The local runner's DynamoDB
// client is the SDK's, which retries a throttle itself (its default attempts) before the state machine sees it; Step
// Functions' own integration may not, so a fault here must outlast the SDK's attempts to reach the ASL retrier.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { InterceptedRequest, Interception } from "../../bench/interposer";
import { executionArnOf, getJob, imageKeyOf, objectExists, submitJob, waitForJob } from "../e2e/helpers";
import {
  attemptsOf,
  concernsJob,
  dynamodbError,
  type FaultStack,
  firstMatching,
  historyOf,
  startFaultStack,
} from "./fault-stack";

/** The Record* retrier in the ASL file: 1 s ×2, 5 retries, so 6 attempts. */
const RECORD_ATTEMPTS = 6;

let env: FaultStack;

beforeAll(async () => {
  env = await startFaultStack();
});

afterEach(() => {
  env.clearFaults();
});

afterAll(async () => {
  await env?.stop();
});

/** An UpdateItem of this job's status record that sets `status`. */
const statusWrite = (jobId: string, status: string) => (request: InterceptedRequest) =>
  request.operation === "UpdateItem" &&
  concernsJob(request, jobId) &&
  request.body.toString("utf8").includes(`{"S":"${status}"}`);

/**
 * Refuses a job's status write until the state machine has seen one failed attempt of `state`, however many times
 * the SDK retried inside that attempt: exactly one ASL retry, whatever the SDK version's retry defaults.
 */
function failFirstAttempt(jobId: string, state: string, status: string, fault: Interception) {
  let applied = 0;
  const rule = (request: InterceptedRequest) => {
    if (!statusWrite(jobId, status)(request)) return undefined;
    const history = env.stack.executions.history(executionArnOf(env, jobId));
    if (attemptsOf(history, state).errors.length > 0) return undefined;
    applied++;
    return fault;
  };
  return Object.assign(rule, { applied: () => applied });
}

describe("DynamoDB throttling on the status writes", () => {
  it("retries RecordRunning and RecordSucceeded through throttling bursts and both jobs succeed", async () => {
    const throttled = failFirstAttempt(
      "fault-ddb-throttled",
      "RecordRunning",
      // RecordRunning writes WAITING: the job's next stop is the waiting room (the generator writes RUNNING).
      "WAITING",
      dynamodbError("ThrottlingException", 400, "Rate of requests exceeds the allowed throughput."),
    );
    const overProvisioned = failFirstAttempt(
      "fault-ddb-provisioned",
      "RecordSucceeded",
      "SUCCEEDED",
      dynamodbError(
        "ProvisionedThroughputExceededException",
        400,
        "The level of configured provisioned throughput for the table was exceeded.",
      ),
    );
    env.inject("dynamodb", (request) => throttled(request) ?? overProvisioned(request));

    const jobs = await Promise.all(
      ["fault-ddb-throttled", "fault-ddb-provisioned"].map(async (jobId) => {
        await submitJob(env, { prompt: `a lighthouse, ${jobId}` }, { "Idempotency-Key": jobId });
        return waitForJob(env, jobId);
      }),
    );

    expect(jobs.map((job) => job.status)).toEqual(["SUCCEEDED", "SUCCEEDED"]);
    expect(throttled.applied()).toBeGreaterThanOrEqual(1);
    expect(overProvisioned.applied()).toBeGreaterThanOrEqual(1);
    expect(attemptsOf(historyOf(env, "fault-ddb-throttled"), "RecordRunning")).toEqual({
      attempts: 2,
      errors: ["DynamoDB.ThrottlingException"],
    });
    expect(attemptsOf(historyOf(env, "fault-ddb-provisioned"), "RecordSucceeded")).toEqual({
      attempts: 2,
      errors: ["DynamoDB.ProvisionedThroughputExceededException"],
    });
    for (const jobId of ["fault-ddb-throttled", "fault-ddb-provisioned"]) {
      expect(attemptsOf(historyOf(env, jobId), "GenerateImage").attempts).toBe(1);
    }
  });

  it("records FAILED when RecordSucceeded keeps failing past its retries, though the image is stored", async () => {
    const jobId = "fault-ddb-final-write";
    const fault = firstMatching(
      Number.POSITIVE_INFINITY,
      statusWrite(jobId, "SUCCEEDED"),
      dynamodbError("InternalServerError", 500, "Internal server error"),
    );
    env.inject("dynamodb", fault);

    await submitJob(env, { prompt: "a lighthouse nobody can record" }, { "Idempotency-Key": jobId });
    const job = await waitForJob(env, jobId);

    expect(job.status).toBe("FAILED");
    expect(job.error).toBe("DynamoDB.InternalServerError");
    // Every task attempt is refused, each after the SDK's own retries.
    expect(fault.applied() % RECORD_ATTEMPTS).toBe(0);
    expect(attemptsOf(historyOf(env, jobId), "RecordSucceeded")).toEqual({
      attempts: RECORD_ATTEMPTS,
      errors: Array(RECORD_ATTEMPTS).fill("DynamoDB.InternalServerError"),
    });
    expect(attemptsOf(historyOf(env, jobId), "RecordFailed")).toEqual({ attempts: 1, errors: [] });
    // The image was paid for and promoted before the write failed; the job says FAILED and why.
    expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(true);
    expect((await getJob(env, jobId)).job.cause).toMatch(/Internal server error/);
  });
});
