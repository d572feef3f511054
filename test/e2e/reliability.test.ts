// End to end through the waiting room, under Bedrock faults, and the local Step Functions endpoint people inspect
// executions with: half of all InvokeModel calls throttled → every job still SUCCEEDED, each throttle absorbed by the
// generator putting its message back (no state-machine retry, one image per job); a job past bedrockConcurrency →
// WAITING with how long it has waited in GET /jobs, and GenerateImage in its history as AWS shows a callback task
// (TaskScheduled sqs sendMessage.waitForTaskToken, TaskStarted, TaskSubmitted, TaskSucceeded); a content-filter refusal → REJECTED at
// once, with no failure notice; DescribeExecution, GetExecutionHistory, ListExecutions, StopExecution with
// @aws-sdk/client-sfn and the AWS CLI. The whole local stack runs in this process with retry intervals ×0.01 (the
// attempts, backoff and catches are the file's own); the waiting room's delays are real seconds. A throttle on every
// receive, and generators that die holding a token, are test/fault/generator-dies.test.ts's. It cannot show AWS
// itself: the faults are the Bedrock stand-in's, not Bedrock's real throttling, the executions run on
// aws-local-stepfunctions, not on Step Functions, the event source mapping is a local poller, and SNS is the fauxqs
// emulator (no email goes out).
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  StopExecutionCommand,
} from "@aws-sdk/client-sfn";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_FAULTS } from "../../local/bedrock-stand-in";
import { LOCAL_REGION } from "../../local/emulators";
import {
  AlertsInbox,
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
  stagingKeyOf,
  startE2eStack,
  submitJob,
  waitForExecution,
  waitForJob,
} from "./helpers";

/** Generators at once in this file's stack: a third job waits for a slot. */
const BEDROCK_CONCURRENCY = 2;

/**
 * The stand-in's fault draws, alternating low and high: with throttleRate 0.5 exactly every other call is throttled.
 * Random draws could throttle one job many times in a row, each time with a longer delay; this keeps the 50% and
 * drops the luck (a job calling alone is never throttled twice in a row).
 */
function alternatingDraws(): () => number {
  let calls = 0;
  return () => (calls++ % 2 === 0 ? 0.25 : 0.75);
}

let env: E2eStack;
let alerts: AlertsInbox;

beforeAll(async () => {
  env = await startE2eStack({
    modelId: PIXEL_MODEL_ID,
    bedrock: { random: alternatingDraws() },
    waitingRoom: { bedrockConcurrency: BEDROCK_CONCURRENCY },
  });
  alerts = new AlertsInbox(env);
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

/** The failure notices that name this job, waiting (bounded) for the first to arrive. */
function failureNotifications(jobId: string): Promise<string[]> {
  return alerts.noticesNaming(jobId);
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

/** The events of the state's one run, from its TaskStateEntered to its TaskStateExited. */
function eventsOfState(events: HistoryEvent[], state: string): HistoryEvent[] {
  const entered = events.findIndex((event) => event.stateEnteredEventDetails?.name === state);
  const exited = events.findIndex((event, index) => index > entered && event.stateExitedEventDetails?.name === state);
  if (entered < 0 || exited < 0) throw new Error(`${state} did not run to its end: ${JSON.stringify(events)}`);
  return events.slice(entered, exited + 1);
}

describe("Bedrock throttling, absorbed in the waiting room", () => {
  it("half of all calls throttled: every job of a batch of 6 SUCCEEDED, one Bedrock image each, no state-machine retry", async () => {
    env.stack.bedrock.setFaults({ throttleRate: 0.5 });
    env.stack.bedrock.resetStats();

    const jobIds = await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        submitJob(env, { prompt: `a harbour, picture ${index}`, width: 320, height: 320 }),
      ),
    );
    // A throttled message comes back after 1 s, then 1-2 s, 1-4 s...: real seconds, not scaled like the retries.
    const jobs = await Promise.all(jobIds.map((jobId) => waitForJob(env, jobId, 40_000)));

    expect(jobs.map((job) => job.status)).toEqual(Array(6).fill("SUCCEEDED"));
    const stats = env.stack.bedrock.stats;
    expect(stats.images).toBe(6);
    expect(stats.requests).toBe(stats.images + stats.throttled);
    expect(Math.abs(stats.throttled - stats.images)).toBeLessThanOrEqual(1);
    for (const jobId of jobIds) {
      expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(true);
      const events = await history(jobId);
      // The throttles never reached the state machine: GenerateImage ran once, and nothing failed.
      expect(events.filter((event) => event.type === "TaskFailed")).toEqual([]);
      expect(eventsOfState(events, "GenerateImage").filter((event) => event.type === "TaskScheduled")).toHaveLength(1);
      expect(events.at(-1)?.type).toBe("ExecutionSucceeded");
    }
  }, 60_000);
});

describe("the waiting room", () => {
  it("a job past bedrockConcurrency is WAITING, with how long it has waited, then SUCCEEDED", async () => {
    env.stack.bedrock.setFaults({ latencyMs: 1500 });
    env.stack.bedrock.resetStats();

    // Three jobs on two generators: one of them waits about 1.5 s for a slot.
    const jobIds = await Promise.all(
      Array.from({ length: BEDROCK_CONCURRENCY + 1 }, (_, index) =>
        submitJob(env, { prompt: `a waiting room, seat ${index}`, width: 320, height: 320 }),
      ),
    );
    const waiting = await pollUntil(
      "a job WAITING for half a second or more",
      async () => (await Promise.all(jobIds.map((jobId) => getJob(env, jobId)))).map(({ job }) => job),
      (jobs) => jobs.some((job) => job.status === "WAITING" && (job.waitedSeconds ?? 0) >= 0.5),
    ).then((jobs) => jobs.find((job) => job.status === "WAITING")!);
    const jobs = await Promise.all(jobIds.map((jobId) => waitForJob(env, jobId)));

    expect(waiting).toMatchObject({ status: "WAITING", waitingSince: expect.any(String) });
    expect(Date.parse(String(waiting.waitingSince))).not.toBeNaN();
    expect(jobs.map((job) => job.status)).toEqual(jobIds.map(() => "SUCCEEDED"));
    // The wait stops when a generator takes the job: it is kept, and it is at least what was seen while it waited.
    const done = jobs.find((job) => job.jobId === waiting.jobId)!;
    expect(done.waitingSince).toBe(waiting.waitingSince);
    expect(done.waitedSeconds).toBeGreaterThanOrEqual(waiting.waitedSeconds!);
    expect(env.stack.bedrock.stats).toMatchObject({ images: BEDROCK_CONCURRENCY + 1 });
    expect(env.stack.bedrock.stats.peakConcurrency).toBeLessThanOrEqual(BEDROCK_CONCURRENCY);
  });

  it("GetExecutionHistory shows GenerateImage as AWS shows a callback task: scheduled on SQS, started, succeeded", async () => {
    const jobId = await submitJob(env, { prompt: "a callback, answered", width: 320, height: 320 });
    await waitForJob(env, jobId);

    const generate = eventsOfState(await history(jobId), "GenerateImage");

    expect(generate.map((event) => event.type)).toEqual([
      "TaskStateEntered",
      "TaskScheduled",
      "TaskStarted",
      "TaskSubmitted",
      "TaskSucceeded",
      "TaskStateExited",
    ]);
    const [, scheduled, started, , succeeded] = generate;
    expect(scheduled?.taskScheduledEventDetails).toMatchObject({
      resourceType: "sqs",
      resource: "sendMessage.waitForTaskToken",
      region: LOCAL_REGION,
    });
    expect(started?.taskStartedEventDetails).toMatchObject({
      resourceType: "sqs",
      resource: "sendMessage.waitForTaskToken",
    });
    expect(succeeded?.taskSucceededEventDetails).toMatchObject({
      resourceType: "sqs",
      resource: "sendMessage.waitForTaskToken",
    });
    // The output is SendTaskSuccess's, as on AWS: it names where the generator staged the image.
    expect(succeeded?.taskSucceededEventDetails?.output).toContain(`"stagingKey":"${stagingKeyOf(env, jobId)}"`);
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
    expect(alerts.notices.filter((body) => body.includes(jobId))).toEqual([]);
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

    // Waits on the execution's own history (GenerateImage's message sent to the waiting room), then for a generator
    // to take it (RUNNING: its Bedrock call is in progress).
    const running = await pollUntil(
      `GenerateImage to be scheduled in execution ${jobId}`,
      () => history(jobId),
      (events) => events.some((event) => event.taskScheduledEventDetails?.resource === "sendMessage.waitForTaskToken"),
    );
    await pollUntil(
      `a generator to take job ${jobId}`,
      () => getJob(env, jobId),
      ({ job }) => job.status === "RUNNING",
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
