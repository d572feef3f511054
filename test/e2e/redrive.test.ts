// Verifies RedriveExecution on the local stack through @aws-sdk/client-sfn, as a user or the console calls it: a job
// stopped while the Bedrock stand-in was too slow is redriven once the stand-in is fast again, runs again from
// GenerateImage (not from ValidatePrompt or RecordRunning) and SUCCEEDS with its image, with redriveCount,
// redriveDate and redriveStatus in DescribeExecution and ListExecutions and its history going on after
// ExecutionRedriven; a job FAILED by the stand-in (its model at end of life) is redriven after the model is served
// again, and fails again at once from its Fail state, as AWS redrives "from the unsuccessful step"; a SUCCEEDED
// execution is refused with ExecutionNotRedrivable and an unknown one with ExecutionDoesNotExist, HTTP 400. One stack
// serves the file. It cannot verify AWS itself: the executions run on aws-local-stepfunctions, and which state AWS
// restarts a Fail-state failure from is read from its documentation (test/fixtures/aws-history/README.md), not seen.
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  RedriveExecutionCommand,
  StopExecutionCommand,
} from "@aws-sdk/client-sfn";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_FAULTS } from "../../local/bedrock-stand-in";
import {
  type E2eStack,
  executionArnOf,
  getJob,
  imageKeyOf,
  listExecutions,
  objectExists,
  PIXEL_MODEL_ID,
  pollUntil,
  startE2eStack,
  submitJob,
  waitForExecution,
  waitForJob,
} from "./helpers";

let env: E2eStack;

beforeAll(async () => {
  env = await startE2eStack({ modelId: PIXEL_MODEL_ID });
});

afterEach(() => {
  env.stack.bedrock.setFaults(DEFAULT_FAULTS);
  env.stack.bedrock.setModelLifecycle(PIXEL_MODEL_ID, "LEGACY");
});

afterAll(async () => {
  await env?.stop();
});

async function history(executionArn: string): Promise<HistoryEvent[]> {
  const { events = [] } = await env.sfn.send(new GetExecutionHistoryCommand({ executionArn }));
  return events;
}

/** The states entered, in order. */
function statesEntered(events: HistoryEvent[]): string[] {
  return events.flatMap((event) => event.stateEnteredEventDetails?.name ?? []);
}

/** The error a call rejects with, for its SDK name, message and HTTP status. */
async function rejection(call: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
  try {
    await call;
  } catch (error) {
    const failure = error as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: failure.name, message: failure.message, status: failure.$metadata?.httpStatusCode };
  }
  throw new Error("The call succeeded; it was expected to be refused");
}

describe("RedriveExecution", () => {
  it("a job stopped in GenerateImage, redriven once Bedrock answers again: runs again from there and SUCCEEDS", async () => {
    env.stack.bedrock.setFaults({ latencyMs: 60_000 });
    const jobId = await submitJob(env, { prompt: "a harbour at dawn, stopped", width: 320, height: 320 });
    const executionArn = executionArnOf(env, jobId);
    await pollUntil(
      `a generator to take job ${jobId}`,
      () => getJob(env, jobId),
      ({ job }) => job.status === "RUNNING",
    );
    await env.sfn.send(new StopExecutionCommand({ executionArn, error: "Operator.Stop", cause: "Bedrock too slow" }));
    const stopped = await waitForExecution(env, executionArn);
    expect(stopped).toMatchObject({ status: "ABORTED", redriveCount: 0, redriveStatus: "REDRIVABLE" });
    const before = await history(executionArn);

    env.stack.bedrock.setFaults(DEFAULT_FAULTS);
    const { redriveDate } = await env.sfn.send(new RedriveExecutionCommand({ executionArn }));
    const running = await env.sfn.send(new DescribeExecutionCommand({ executionArn }));
    const done = await waitForExecution(env, executionArn);

    expect(redriveDate).toBeInstanceOf(Date);
    expect(running).toMatchObject({
      status: "RUNNING",
      redriveCount: 1,
      redriveStatus: "NOT_REDRIVABLE",
      redriveStatusReason: "Execution is RUNNING and cannot be redriven.",
    });
    expect(running.error).toBeUndefined();
    expect(done).toMatchObject({ status: "SUCCEEDED", redriveCount: 1, redriveDate });
    expect((await getJob(env, jobId)).job.status).toBe("SUCCEEDED");
    expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(true);
    const [listed] = (await listExecutions(env, "SUCCEEDED")).filter((item) => item.executionArn === executionArn);
    expect(listed).toMatchObject({ redriveCount: 1, redriveDate });

    const after = await history(executionArn);
    expect(after.slice(0, before.length)).toEqual(before);
    const redriven = after[before.length];
    expect(redriven).toMatchObject({
      id: before.length + 1,
      type: "ExecutionRedriven",
      executionRedrivenEventDetails: { redriveCount: 1 },
    });
    expect(before.at(-1)?.type).toBe("ExecutionAborted");
    // From the state that was running, with the input it had: ValidatePrompt and RecordRunning ran once.
    expect(statesEntered(after.slice(before.length))).toEqual([
      "GenerateImage",
      "StoreImage",
      "RecordSucceeded",
      "Succeeded",
    ]);
    expect(statesEntered(after).filter((state) => state === "ValidatePrompt")).toHaveLength(1);
    const entered = (name: string, events: HistoryEvent[]) =>
      events.find((event) => event.stateEnteredEventDetails?.name === name)?.stateEnteredEventDetails?.input;
    expect(entered("GenerateImage", after.slice(before.length))).toBe(entered("GenerateImage", before));
    expect(after.at(-1)?.type).toBe("ExecutionSucceeded");
  });

  it("a job that FAILED into its Fail state: redriven after the cause is fixed, it fails again at once, as on AWS", async () => {
    env.stack.bedrock.setModelLifecycle(PIXEL_MODEL_ID, "EOL");
    const jobId = await submitJob(env, { prompt: "a lighthouse, model gone", width: 320, height: 320 });
    expect(await waitForJob(env, jobId)).toMatchObject({ status: "FAILED", error: "ModelUnavailable" });
    const executionArn = executionArnOf(env, jobId);
    const before = await history(executionArn);
    expect(statesEntered(before).slice(-2)).toEqual(["RecordFailed", "Failed"]);

    env.stack.bedrock.setModelLifecycle(PIXEL_MODEL_ID, "LEGACY");
    const requests = env.stack.bedrock.stats.requests;
    await env.sfn.send(new RedriveExecutionCommand({ executionArn }));
    const done = await waitForExecution(env, executionArn);

    expect(done).toMatchObject({ status: "FAILED", error: "ModelUnavailable", redriveCount: 1 });
    expect((await history(executionArn)).slice(before.length).map((event) => event.type)).toEqual([
      "ExecutionRedriven",
      "FailStateEntered",
      "ExecutionFailed",
    ]);
    expect(env.stack.bedrock.stats.requests).toBe(requests);
  });

  it("refuses a SUCCEEDED execution with ExecutionNotRedrivable and an unknown one with ExecutionDoesNotExist", async () => {
    const jobId = await submitJob(env, { prompt: "a teapot, done", width: 320, height: 320 });
    expect(await waitForJob(env, jobId)).toMatchObject({ status: "SUCCEEDED" });
    const executionArn = executionArnOf(env, jobId);

    expect(await rejection(env.sfn.send(new RedriveExecutionCommand({ executionArn })))).toEqual({
      name: "ExecutionNotRedrivable",
      message: "Execution is SUCCEEDED and cannot be redriven.",
      status: 400,
    });
    expect(await env.sfn.send(new DescribeExecutionCommand({ executionArn }))).toMatchObject({
      status: "SUCCEEDED",
      redriveCount: 0,
      redriveStatus: "NOT_REDRIVABLE",
      redriveStatusReason: "Execution is SUCCEEDED and cannot be redriven.",
    });
    const unknown = executionArnOf(env, "no-such-job");
    expect(await rejection(env.sfn.send(new RedriveExecutionCommand({ executionArn: unknown })))).toMatchObject({
      name: "ExecutionDoesNotExist",
      status: 400,
    });
  });
});
