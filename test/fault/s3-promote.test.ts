// Fault injection on StoreImage's promote step (S3 CopyObject of the staged PNG to its final key, then DeleteObject
// of the staged one): a proxy between the pipeline and the S3 emulator answers as S3 does when it sheds load or
// loses an answer. Checks that StoreImage's own retrier absorbs what it should, that Bedrock is never called a second
// time for a job, and what a job that runs out of retries leaves behind. Real HTTP faults reach the real SDK client
// in the real handler; what it cannot show: S3's own timing, or faults on GenerateImage's staging upload (its S3
// client retries those itself, before the state machine sees them).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { imageKeyOf, objectExists, stagingKeyOf, submitJob, waitForJob } from "../e2e/helpers";
import {
  attemptsOf,
  concernsJob,
  type FaultStack,
  firstMatching,
  historyOf,
  S3_COPY_200_WITH_ERROR,
  S3_SLOW_DOWN,
  startFaultStack,
} from "./fault-stack";

/** StoreImage's S3 retrier in the ASL file: 1 s ×2, 6 retries, so 7 attempts in all. */
const STORE_IMAGE_ATTEMPTS = 7;

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

const copyOf = (jobId: string) => (request: { operation: string; url: string; body: Buffer }) =>
  request.operation === "CopyObject" && concernsJob(request as never, jobId);

describe("S3 503 SlowDown bursts on the promote copy", () => {
  it("retries the copy until S3 answers, then stores the image once, with one Bedrock call", async () => {
    const jobId = "fault-s3-burst";
    const fault = firstMatching(3, copyOf(jobId), S3_SLOW_DOWN);
    env.inject("s3", fault);
    const imagesBefore = env.stack.bedrock.stats.images;

    await submitJob(env, { prompt: "a lighthouse in a gale" }, { "Idempotency-Key": jobId });
    const job = await waitForJob(env, jobId);

    expect(job.status).toBe("SUCCEEDED");
    expect(fault.applied()).toBe(3);
    const store = attemptsOf(historyOf(env, jobId), "StoreImage");
    expect(store).toEqual({ attempts: 4, errors: ["S3TransientError", "S3TransientError", "S3TransientError"] });
    expect(attemptsOf(historyOf(env, jobId), "GenerateImage").attempts).toBe(1);
    expect(env.stack.bedrock.stats.images - imagesBefore).toBe(1);
    expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(true);
    expect(await objectExists(env, stagingKeyOf(env, jobId))).toBe(false);
  });

  it("fails the job after StoreImage's last attempt, with the cause kept and no second Bedrock call", async () => {
    const jobId = "fault-s3-storm";
    const fault = firstMatching(Number.POSITIVE_INFINITY, copyOf(jobId), S3_SLOW_DOWN);
    env.inject("s3", fault);
    const imagesBefore = env.stack.bedrock.stats.images;

    await submitJob(env, { prompt: "a lighthouse in a storm that never ends" }, { "Idempotency-Key": jobId });
    const job = await waitForJob(env, jobId);

    expect(job.status).toBe("FAILED");
    expect(job.error).toBe("S3TransientError");
    expect(job.cause).toMatch(/Could not copy .*SlowDown/);
    expect(fault.applied()).toBe(STORE_IMAGE_ATTEMPTS);
    expect(attemptsOf(historyOf(env, jobId), "StoreImage").attempts).toBe(STORE_IMAGE_ATTEMPTS);
    expect(env.stack.bedrock.stats.images - imagesBefore).toBe(1);
    expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(false);
    // The paid-for image stays staged: a bucket lifecycle rule on the staging prefix is what removes it.
    expect(await objectExists(env, stagingKeyOf(env, jobId))).toBe(true);
  });

  it("treats CopyObject's 200-with-an-error-body as the failure it is, and retries", async () => {
    const jobId = "fault-s3-200-error";
    const fault = firstMatching(1, copyOf(jobId), S3_COPY_200_WITH_ERROR);
    env.inject("s3", fault);

    await submitJob(env, { prompt: "a lighthouse at noon" }, { "Idempotency-Key": jobId });
    const job = await waitForJob(env, jobId);

    expect(job.status).toBe("SUCCEEDED");
    expect(fault.applied()).toBe(1);
    expect(attemptsOf(historyOf(env, jobId), "StoreImage").errors).toEqual(["S3TransientError"]);
    expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(true);
  });
});

describe("answers lost after S3 acted", () => {
  it("finishes the promote when the delete of the staged image succeeded but its answer was lost", async () => {
    const jobId = "fault-s3-lost-delete";
    // The retry finds no staged image: StoreImage must see the final image already there and succeed.
    const fault = firstMatching(1, (request) => request.operation === "DeleteObject" && concernsJob(request, jobId), {
      drop: "after-forwarding",
    });
    env.inject("s3", fault);

    await submitJob(env, { prompt: "a lighthouse seen twice" }, { "Idempotency-Key": jobId });
    const job = await waitForJob(env, jobId);

    expect(job.status).toBe("SUCCEEDED");
    expect(fault.applied()).toBe(1);
    expect(attemptsOf(historyOf(env, jobId), "StoreImage").errors).toEqual(["S3TransientError"]);
    // StoreImage looked for the final image once (the generator's look for a staged image is a HEAD of another key).
    const heads = (env.requests.get("s3:HeadObject") ?? []).filter((request) =>
      request.url.includes(imageKeyOf(env, jobId)),
    );
    expect(heads).toHaveLength(1);
    expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(true);
    expect(await objectExists(env, stagingKeyOf(env, jobId))).toBe(false);
  });

  it("copies again when the copy's answer was lost, and stores one image", async () => {
    const jobId = "fault-s3-lost-copy";
    const fault = firstMatching(1, copyOf(jobId), { drop: "after-forwarding" });
    env.inject("s3", fault);

    await submitJob(env, { prompt: "a lighthouse, answered late" }, { "Idempotency-Key": jobId });
    const job = await waitForJob(env, jobId);

    expect(job.status).toBe("SUCCEEDED");
    expect(attemptsOf(historyOf(env, jobId), "StoreImage").errors).toEqual(["S3TransientError"]);
    expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(true);
    expect(await objectExists(env, stagingKeyOf(env, jobId))).toBe(false);
  });
});
