// End to end under Bedrock faults, and the local Step Functions endpoint people inspect executions with: half of all
// InvokeModel calls throttled → every job still SUCCEEDED through the state machine's retries; every call throttled →
// FAILED after the ASL's retry budget, the cause in GET /jobs and a failure notification on the SNS topic; a
// content-filter refusal → REJECTED at once, with no failure notification; DescribeExecution, GetExecutionHistory, ListExecutions, StopExecution with
// @aws-sdk/client-sfn and the AWS CLI. The whole local stack runs in this process with retry intervals ×0.01 (the
// attempts, backoff and catches are the file's own). It cannot show AWS itself: the faults are the Bedrock stand-in's,
// not Bedrock's real throttling, the executions run on aws-local-stepfunctions, not on Step Functions, and SNS is
// the fauxqs emulator (no email goes out).
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  StopExecutionCommand,
} from "@aws-sdk/client-sfn";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_FAULTS } from "../../local/bedrock-stand-in";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../local/emulators";
import {
  awsCli,
  type E2eStack,
  executionArnOf,
  getJob,
  imageKeyOf,
  listExecutions,
  objectExists,
  PIXEL_MODEL_ID,
  pollUntil,
  skipWithoutAwsCli,
  startE2eStack,
  submitJob,
  waitForExecution,
  waitForJob,
} from "./helpers";

/** GenerateImage's Bedrock retrier in the ASL file: the first call and 8 retries. */
const GENERATE_IMAGE_ATTEMPTS = 9;

/**
 * The stand-in's fault draws, alternating low and high: with throttleRate 0.5 exactly every other call is throttled.
 * Random draws would fail a job past its 9 attempts about once in 500 jobs; this keeps the 50% and drops the luck.
 */
function alternatingDraws(): () => number {
  let calls = 0;
  return () => (calls++ % 2 === 0 ? 0.25 : 0.75);
}

let env: E2eStack;
let alerts: SQSClient;

beforeAll(async () => {
  env = await startE2eStack({ modelId: PIXEL_MODEL_ID, bedrock: { random: alternatingDraws() } });
  // The alerts inbox is a queue on the SNS emulator (fauxqs), where the topic delivers.
  alerts = new SQSClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint: env.stack.snsUrl });
});

afterEach(() => {
  env.stack.bedrock.setFaults(DEFAULT_FAULTS);
});

afterAll(async () => {
  alerts?.destroy();
  await env?.stop();
});

async function history(jobId: string): Promise<HistoryEvent[]> {
  const { events = [] } = await env.sfn.send(
    new GetExecutionHistoryCommand({ executionArn: executionArnOf(env, jobId) }),
  );
  return events;
}

/** Every failure notification read from the alerts inbox so far (each is read once, then deleted). */
const notifications: string[] = [];

/** The failure notifications that name this job, waiting (bounded) for the first to arrive. */
async function failureNotifications(jobId: string): Promise<string[]> {
  return pollUntil(
    `a failure notification naming job ${jobId} in ${env.stack.alertsInboxUrl}`,
    async () => {
      const { Messages = [] } = await alerts.send(
        new ReceiveMessageCommand({ QueueUrl: env.stack.alertsInboxUrl, MaxNumberOfMessages: 10 }),
      );
      notifications.push(...Messages.map((message) => message.Body ?? ""));
      if (Messages.length > 0) {
        await alerts.send(
          new DeleteMessageBatchCommand({
            QueueUrl: env.stack.alertsInboxUrl,
            Entries: Messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle })),
          }),
        );
      }
      return notifications.filter((body) => body.includes(jobId));
    },
    (mine) => mine.length > 0,
  );
}

/** A job on the stack's model set to end of life for it: FAILED ModelUnavailable at once. Returns its jobId. */
async function failWithEndOfLifeModel(prompt: string): Promise<string> {
  env.stack.bedrock.setModelLifecycle(PIXEL_MODEL_ID, "EOL");
  try {
    const jobId = await submitJob(env, { prompt, width: 320, height: 320 });
    expect(await waitForJob(env, jobId)).toMatchObject({ status: "FAILED", error: "ModelUnavailable" });
    return jobId;
  } finally {
    env.stack.bedrock.setModelLifecycle(PIXEL_MODEL_ID, "LEGACY");
  }
}

describe("Bedrock throttling", () => {
  it("half of all calls throttled: every job of a batch of 10 still SUCCEEDED, through retries", async () => {
    env.stack.bedrock.setFaults({ throttleRate: 0.5 });
    env.stack.bedrock.resetStats();

    const jobIds = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        submitJob(env, { prompt: `a harbour, picture ${index}`, width: 320, height: 320 }),
      ),
    );
    const jobs = await Promise.all(jobIds.map((jobId) => waitForJob(env, jobId)));

    expect(jobs.map((job) => job.status)).toEqual(Array(10).fill("SUCCEEDED"));
    const stats = env.stack.bedrock.stats;
    expect(stats.images).toBe(10);
    expect(stats.requests).toBe(stats.images + stats.throttled);
    expect(Math.abs(stats.throttled - stats.images)).toBeLessThanOrEqual(1);
    for (const jobId of jobIds) expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(true);
    const throttledThenSucceeded = [];
    for (const jobId of jobIds) {
      const events = await history(jobId);
      const generateFailures = events.filter((event) => event.taskFailedEventDetails?.error === "ThrottlingException");
      if (generateFailures.length > 0) throttledThenSucceeded.push(jobId);
      expect(events.at(-1)?.type).toBe("ExecutionSucceeded");
    }
    expect(throttledThenSucceeded.length).toBeGreaterThan(0);
  });

  it("every call throttled: FAILED after the retry budget, the cause in GET /jobs, a failure notification on SNS", async () => {
    env.stack.bedrock.setFaults({ throttleRate: 1 });
    const callsBefore = env.stack.bedrock.stats.requests;

    const jobId = await submitJob(env, { prompt: "a crowded ferry terminal", width: 320, height: 320 });
    const job = await waitForJob(env, jobId);

    expect(job).toMatchObject({
      jobId,
      status: "FAILED",
      error: "ThrottlingException",
      cause: "Too many requests, please wait before trying again.",
    });
    expect(env.stack.bedrock.stats.requests - callsBefore).toBe(GENERATE_IMAGE_ATTEMPTS);
    expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(false);

    const events = await history(jobId);
    const failures = events.filter((event) => event.type === "TaskFailed");
    expect(failures).toHaveLength(GENERATE_IMAGE_ATTEMPTS);
    expect(new Set(failures.map((event) => event.taskFailedEventDetails?.error))).toEqual(
      new Set(["ThrottlingException"]),
    );
    const scheduled = events.filter((event) => event.taskScheduledEventDetails?.resource === "GenerateImage");
    expect(scheduled).toHaveLength(GENERATE_IMAGE_ATTEMPTS);
    // Caught, not succeeded: after its last TaskFailed, GenerateImage exits without a TaskSucceeded.
    const lastFailure = events.indexOf(failures.at(-1)!);
    expect(events.slice(lastFailure + 1, lastFailure + 3).map((event) => event.type)).toEqual([
      "TaskStateExited",
      "TaskStateEntered",
    ]);
    expect(events.at(-1)).toMatchObject({
      type: "ExecutionFailed",
      executionFailedEventDetails: { error: "ThrottlingException" },
    });

    const [notification] = await failureNotifications(jobId);
    expect(notification).toContain(`couch-imagegen job ${jobId} ended FAILED.`);
    expect(notification).toContain("Error: ThrottlingException");
    expect(notification).toContain("Too many requests, please wait before trying again.");
    expect(notification).toContain(executionArnOf(env, jobId));
  });
});

describe("content filter", () => {
  it("a prompt with the block word: REJECTED ContentBlocked after one Bedrock call, no retry", async () => {
    const before = env.stack.bedrock.stats;

    const jobId = await submitJob(env, { prompt: "selfie at the forbidden-landmark", width: 320, height: 320 });
    const job = await waitForJob(env, jobId);

    expect(job).toMatchObject({ status: "REJECTED", error: "ContentBlocked" });
    expect(job.cause).toMatch(/blocked by our content filters/);
    const after = env.stack.bedrock.stats;
    expect(after.requests - before.requests).toBe(1);
    expect(after.blocked - before.blocked).toBe(1);
    expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(false);
    // A refusal is an outcome, not an incident: no notice. A real failure after it is noticed, and the refusal is not.
    const failed = await failWithEndOfLifeModel("a notice sent after the refusal");
    await failureNotifications(failed);
    expect(notifications.filter((body) => body.includes(jobId))).toEqual([]);
  });
});

describe("the Step Functions endpoint", () => {
  it("DescribeExecution: status, input and output of a finished job", async () => {
    const jobId = await submitJob(env, { prompt: "a quiet library", width: 320, height: 320 });
    await waitForJob(env, jobId);

    const execution = await env.sfn.send(new DescribeExecutionCommand({ executionArn: executionArnOf(env, jobId) }));

    expect(execution).toMatchObject({
      executionArn: executionArnOf(env, jobId),
      stateMachineArn: env.stack.stateMachineArn,
      name: jobId,
      status: "SUCCEEDED",
    });
    expect(JSON.parse(execution.input ?? "{}")).toMatchObject({ jobId, prompt: "a quiet library", source: "api" });
    expect(JSON.parse(execution.output ?? "{}")).toMatchObject({
      stored: { s3Uri: `s3://${env.stack.bucket}/${imageKeyOf(env, jobId)}` },
    });
    expect(execution.stopDate!.getTime()).toBeGreaterThanOrEqual(execution.startDate!.getTime());
  });

  it("GetExecutionHistory: the states a successful job went through, in order", async () => {
    const jobId = await submitJob(env, { prompt: "a steam train", width: 320, height: 320 });
    await waitForJob(env, jobId);

    const events = await history(jobId);

    expect(events.map((event) => event.id)).toEqual(events.map((_, index) => index + 1));
    expect(events.flatMap((event) => event.stateEnteredEventDetails?.name ?? [])).toEqual([
      "ValidatePrompt",
      "RecordRunning",
      "GenerateImage",
      "StoreImage",
      "RecordSucceeded",
      "Succeeded",
    ]);
    expect(events[0]?.type).toBe("ExecutionStarted");
    expect(events.at(-1)?.type).toBe("ExecutionSucceeded");
  });

  it("ListExecutions: every execution of the state machine, filterable by status", async () => {
    const succeeded = await submitJob(env, { prompt: "a lighthouse keeper", width: 320, height: 320 });
    await waitForJob(env, succeeded);
    const blocked = await failWithEndOfLifeModel("a lighthouse at noon");

    const all = await listExecutions(env);
    const failed = await listExecutions(env, "FAILED");

    expect(all.find((execution) => execution.name === succeeded)).toMatchObject({ status: "SUCCEEDED" });
    expect(all.find((execution) => execution.name === blocked)).toMatchObject({ status: "FAILED" });
    expect(failed.map((execution) => execution.name)).toContain(blocked);
    expect(failed.map((execution) => execution.name)).not.toContain(succeeded);
    expect(failed.every((execution) => execution.status === "FAILED")).toBe(true);
  });

  it("StopExecution on a slow job: ABORTED, its history so far readable while it ran, a failure notification", async () => {
    env.stack.bedrock.setFaults({ latencyMs: 60_000 });
    const jobId = await submitJob(env, { prompt: "a very slow sunset", width: 320, height: 320 });
    const executionArn = executionArnOf(env, jobId);

    // Waits on the execution's own history: GenerateImage scheduled, its Bedrock call in progress.
    const running = await pollUntil(
      `GenerateImage to be scheduled in execution ${jobId}`,
      () => history(jobId),
      (events) => events.some((event) => event.taskScheduledEventDetails?.resource === "GenerateImage"),
    );
    await env.sfn.send(
      new StopExecutionCommand({ executionArn, error: "Operator.Stop", cause: "stopped by the e2e test" }),
    );
    const stopped = await waitForExecution(env, executionArn);

    expect(running.some((event) => event.type === "ExecutionStarted")).toBe(true);
    expect(stopped).toMatchObject({ status: "ABORTED", error: "Operator.Stop", cause: "stopped by the e2e test" });
    expect((await history(jobId)).at(-1)).toMatchObject({
      type: "ExecutionAborted",
      executionAbortedEventDetails: { error: "Operator.Stop", cause: "stopped by the e2e test" },
    });
    // The state machine writes no status after a stop; job-status reports the execution's end instead.
    const { job } = await getJob(env, jobId);
    expect(job).toMatchObject({ status: "FAILED", error: "Operator.Stop", cause: "stopped by the e2e test" });
    const [notification] = await failureNotifications(jobId);
    expect(notification).toContain(`couch-imagegen job ${jobId} ended ABORTED.`);
  });

  it.skipIf(skipWithoutAwsCli)("the AWS CLI's stepfunctions describe-execution works against it", async () => {
    const jobId = await submitJob(env, { prompt: "a paper boat", width: 320, height: 320 });
    await waitForJob(env, jobId);

    const execution = await awsCli([
      "stepfunctions",
      "describe-execution",
      "--endpoint-url",
      env.stack.stepFunctionsUrl,
      "--execution-arn",
      executionArnOf(env, jobId),
    ]);

    expect(execution).toMatchObject({ name: jobId, status: "SUCCEEDED", stateMachineArn: env.stack.stateMachineArn });
    expect(JSON.parse(String(execution.input))).toMatchObject({ jobId, prompt: "a paper boat" });
  });
});
