// Verifies that no job waits forever, and none pays Bedrock twice, when the waiting room's generator dies holding a
// task token, and that a person can answer a task by hand. One local stack in this process (the real handlers, a fault
// proxy in front of Step Functions) whose generator is wrapped (`waitingRoom.wrapGenerator`) so that a test decides
// what it does with one job's messages. The generate queue's visibility timeout is 2 s, its maxReceives 3, and
// GenerateImage's HeartbeatSeconds 5 (600 s, 100 and 1200 s on AWS), so what takes minutes there takes seconds here:
// - crashes on its first receive (before anything): the message comes back after the visibility timeout and the next
//   receive finishes the job, SUCCEEDED with one Bedrock call;
// - hangs after Bedrock answered and the image was staged (its SendTaskSuccess never returns): the next receive finds
//   the staged image and answers with it, SUCCEEDED with the one Bedrock call made before it hung;
// - crashes on every receive: the message ends in the generate DLQ, and the execution fails with
//   States.HeartbeatTimeout, recorded FAILED with that error, with a failure notice;
// - Bedrock throttles every receive: the last receive fails the task with ThrottlingException (the DLQ never takes a
//   throttled message), after maxReceives calls, with a failure notice;
// - a task answered by hand with each AWS CLI: `send-task-failure` ends the job FAILED with the error given, and
//   `send-task-heartbeat` answers InvalidToken for a token that is not one and TaskDoesNotExist once the task is over.
// It cannot verify Lambda's own handling of a crashed invocation, SQS's or Step Functions' real timers, or IAM.
import { DescribeExecutionCommand, SendTaskHeartbeatCommand } from "@aws-sdk/client-sfn";
import { DeleteMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse } from "aws-lambda";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseGenerateMessage } from "../../functions/shared/waiting-room";
import { DEFAULT_FAULTS } from "../../local/bedrock-stand-in";
import type { SqsHandler } from "../../local/local-stack";
import {
  AlertsInbox,
  AWS_CLIS,
  type CliResult,
  executionArnOf,
  imageKeyOf,
  objectExists,
  pollUntil,
  stagingKeyOf,
  stepFunctionsCli,
  submitJob,
  waitForJob,
} from "../e2e/helpers";
import { attemptsOf, concernsJob, type FaultStack, historyOf, startFaultStack } from "./fault-stack";

const VISIBILITY_TIMEOUT_SECONDS = 2;
const MAX_RECEIVES = 3;
const HEARTBEAT_SECONDS = 5;

/** One receive of a job's generate message, as the wrapped generator saw it. */
interface Receive {
  at: number;
  receiveCount: number;
  taskToken: string;
  /** Settles when this receive's invocation ends, however it ends. */
  ended: Promise<unknown>;
}

/** What the generator does with a job's messages: `receive` counts from 1; `generate` runs the real generator. */
type Behaviour = (receive: number, generate: () => Promise<SQSBatchResponse>) => Promise<SQSBatchResponse>;

const CRASH: Behaviour = () => Promise.reject(new Error("injected: the generator crashed"));

const behaviours = new Map<string, Behaviour>();
const receives = new Map<string, Receive[]>();

/** The generator as the event source runs it (one message per invocation), doing what the job's behaviour says. */
function wrapGenerator(generator: SqsHandler): SqsHandler {
  return (event) => {
    const record = event.Records[0];
    const message = record && parseGenerateMessage(record.body);
    if (!record || !message) return generator(event);
    const behaviour = behaviours.get(message.jobId) ?? ((_receive, generate) => generate());
    const seen = receives.get(message.jobId) ?? [];
    receives.set(message.jobId, seen);
    const invocation = behaviour(seen.length + 1, () => generator(event));
    seen.push({
      at: Date.now(),
      receiveCount: Number(record.attributes.ApproximateReceiveCount),
      taskToken: message.taskToken,
      ended: invocation.catch(() => undefined),
    });
    return invocation;
  };
}

let env: FaultStack;
let alerts: AlertsInbox;

beforeAll(async () => {
  env = await startFaultStack({
    waitingRoom: {
      visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS,
      maxReceives: MAX_RECEIVES,
      heartbeatSeconds: HEARTBEAT_SECONDS,
      wrapGenerator,
    },
  });
  alerts = new AlertsInbox(env);
});

afterEach(() => {
  env.clearFaults();
  env.stack.bedrock.setFaults(DEFAULT_FAULTS);
});

afterAll(async () => {
  alerts?.destroy();
  await env?.stop();
});

function receivesOf(jobId: string): Receive[] {
  return receives.get(jobId) ?? [];
}

/** The generate messages the generate DLQ holds for this job, waiting (bounded) for the first; each is deleted. */
async function deadLettersOf(jobId: string): Promise<string[]> {
  const found: string[] = [];
  await pollUntil(
    `job ${jobId}'s generate message in ${env.stack.generateDlqUrl}`,
    async () => {
      const { Messages = [] } = await env.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: env.stack.generateDlqUrl, MaxNumberOfMessages: 10 }),
      );
      for (const message of Messages.filter(
        (candidate) => parseGenerateMessage(candidate.Body ?? "")?.jobId === jobId,
      )) {
        found.push(message.Body ?? "");
        await env.sqs.send(
          new DeleteMessageCommand({ QueueUrl: env.stack.generateDlqUrl, ReceiptHandle: message.ReceiptHandle }),
        );
      }
      return found.length;
    },
    (count) => count > 0,
  );
  return found;
}

describe("a generator that dies once holding a token", () => {
  it("crashes on its first receive: the message comes back after the visibility timeout, one Bedrock call", async () => {
    const jobId = "dies-first-receive";
    behaviours.set(jobId, (receive, generate) => (receive === 1 ? CRASH(receive, generate) : generate()));
    env.stack.bedrock.resetStats();

    await submitJob(env, { prompt: "a lighthouse, crashed once" }, { "Idempotency-Key": jobId });
    const job = await waitForJob(env, jobId);

    expect(job.status).toBe("SUCCEEDED");
    const [first, second, ...more] = receivesOf(jobId);
    expect([first?.receiveCount, second?.receiveCount, more.length]).toEqual([1, 2, 0]);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(VISIBILITY_TIMEOUT_SECONDS * 1000 - 100);
    expect(env.stack.bedrock.stats).toMatchObject({ requests: 1, images: 1 });
    // No state-machine retry: the same task, the same token, answered by the second receive.
    expect(second?.taskToken).toBe(first?.taskToken);
    expect(attemptsOf(historyOf(env, jobId), "GenerateImage")).toEqual({ attempts: 1, errors: [] });
    expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(true);
  });

  it("hangs after Bedrock answered: the next receive answers with the staged image, no second Bedrock call", async () => {
    const jobId = "dies-after-bedrock";
    // The first receive's SendTaskSuccess is held at the proxy, as if the generator had hung just before answering.
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held = 0;
    env.inject("stepFunctions", (request) => {
      if (request.operation !== "SendTaskSuccess" || !concernsJob(request, jobId) || held > 0) return undefined;
      held++;
      return released.then(() => ({ drop: "before-forwarding" as const }));
    });
    env.stack.bedrock.resetStats();

    await submitJob(env, { prompt: "a lighthouse, hung once" }, { "Idempotency-Key": jobId });
    const job = await waitForJob(env, jobId);
    release();
    const [first, second, ...more] = receivesOf(jobId);
    // The hung receive ends too: its answer, sent again by the SDK, finds the task over (TaskDoesNotExist).
    await first?.ended;

    expect(job.status).toBe("SUCCEEDED");
    expect(held).toBe(1);
    expect([first?.receiveCount, second?.receiveCount, more.length]).toEqual([1, 2, 0]);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(VISIBILITY_TIMEOUT_SECONDS * 1000 - 100);
    // The one call is the hung receive's: the second found its image staged and did not pay again.
    expect(env.stack.bedrock.stats).toMatchObject({ requests: 1, images: 1 });
    expect(attemptsOf(historyOf(env, jobId), "GenerateImage")).toEqual({ attempts: 1, errors: [] });
    expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(true);
    expect(await objectExists(env, stagingKeyOf(env, jobId))).toBe(false);
  });
});

describe("no execution waits forever", () => {
  it("a generator that crashes on every receive: the generate DLQ, States.HeartbeatTimeout, FAILED, a failure notice", async () => {
    const jobId = "dies-every-receive";
    behaviours.set(jobId, CRASH);
    env.stack.bedrock.resetStats();

    await submitJob(env, { prompt: "a lighthouse nobody draws" }, { "Idempotency-Key": jobId });
    const job = await waitForJob(env, jobId);
    const deadLetters = await deadLettersOf(jobId);

    expect(job).toMatchObject({ status: "FAILED", error: "States.HeartbeatTimeout" });
    const execution = await env.sfn.send(new DescribeExecutionCommand({ executionArn: executionArnOf(env, jobId) }));
    expect(execution).toMatchObject({ status: "FAILED", error: "States.HeartbeatTimeout" });
    expect(attemptsOf(historyOf(env, jobId), "GenerateImage")).toEqual({
      attempts: 1,
      errors: ["States.HeartbeatTimeout"],
    });
    expect(historyOf(env, jobId).some((event) => event.type === "TaskTimedOut")).toBe(true);
    expect(receivesOf(jobId).map((receive) => receive.receiveCount)).toEqual([1, 2, 3]);
    expect(deadLetters).toHaveLength(1);
    expect(env.stack.bedrock.stats.requests).toBe(0);
    const [notice] = await alerts.noticesNaming(jobId);
    expect(notice).toContain(`couch-imagegen job ${jobId} ended FAILED.`);
    expect(notice).toContain("Error: States.HeartbeatTimeout");
  });

  it("Bedrock throttles every receive: the last receive fails the task with ThrottlingException, nothing in the DLQ", async () => {
    const jobId = "throttled-every-receive";
    env.stack.bedrock.resetStats();
    env.stack.bedrock.setFaults({ throttleRate: 1 });

    await submitJob(env, { prompt: "a crowded ferry terminal" }, { "Idempotency-Key": jobId });
    const job = await waitForJob(env, jobId);

    expect(job).toMatchObject({ status: "FAILED", error: "ThrottlingException" });
    expect(job.cause).toContain(`Bedrock throttled this job on all ${MAX_RECEIVES} receives of its generate message`);
    expect(env.stack.bedrock.stats).toMatchObject({ requests: MAX_RECEIVES, throttled: MAX_RECEIVES, images: 0 });
    expect(receivesOf(jobId).map((receive) => receive.receiveCount)).toEqual([1, 2, 3]);
    expect(attemptsOf(historyOf(env, jobId), "GenerateImage")).toEqual({
      attempts: 1,
      errors: ["ThrottlingException"],
    });
    expect(await objectExists(env, imageKeyOf(env, jobId))).toBe(false);
    const [notice] = await alerts.noticesNaming(jobId);
    expect(notice).toContain("Error: ThrottlingException");
    // Answered, so deleted: the DLQ is for messages no generator could answer.
    const { Messages = [] } = await env.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: env.stack.generateDlqUrl, MaxNumberOfMessages: 10 }),
    );
    expect(Messages.filter((message) => parseGenerateMessage(message.Body ?? "")?.jobId === jobId)).toEqual([]);
  });
});

describe("a task answered by hand with the AWS CLI", () => {
  // The two CLIs side by side, each on its own job.
  for (const cli of AWS_CLIS) {
    const cliTest = cli.path || process.env.CI ? it.concurrent : it.skip;
    cliTest(`send-task-failure and send-task-heartbeat with ${cli.label}`, async ({ expect }) => {
      if (!cli.path) throw new Error(cli.missing);
      const path = cli.path;
      const jobId = `answered-by-hand-${AWS_CLIS.indexOf(cli)}`;
      // The generator takes the message and never answers: the task waits for a person.
      behaviours.set(jobId, async () => ({ batchItemFailures: [] }));

      await submitJob(env, { prompt: "a lighthouse, failed by hand" }, { "Idempotency-Key": jobId });
      const [{ taskToken }] = (await pollUntil(
        `a generator to take job ${jobId}`,
        async () => receivesOf(jobId),
        (seen) => seen.length > 0,
      )) as [Receive];
      // The CLI takes longer to start here than the stack's 5 s HeartbeatSeconds: the test keeps the task alive.
      const keepAlive = setInterval(() => {
        env.sfn.send(new SendTaskHeartbeatCommand({ taskToken })).catch(() => undefined);
      }, 1000);
      let failed: CliResult;
      try {
        failed = await stepFunctionsCli(path, env.stack.stepFunctionsUrl, [
          "send-task-failure",
          "--task-token",
          taskToken,
          "--error",
          "Operator.Failed",
          "--cause",
          `failed by hand with ${path}`,
        ]);
      } finally {
        clearInterval(keepAlive);
      }
      const job = await waitForJob(env, jobId);
      const [ended, notAToken] = await Promise.all([
        stepFunctionsCli(path, env.stack.stepFunctionsUrl, ["send-task-heartbeat", "--task-token", taskToken]),
        stepFunctionsCli(path, env.stack.stepFunctionsUrl, ["send-task-heartbeat", "--task-token", "not-a-task-token"]),
      ]);

      expect(failed).toMatchObject({ code: 0, stderr: "" });
      expect(job).toMatchObject({ status: "FAILED", error: "Operator.Failed", cause: `failed by hand with ${path}` });
      expect(attemptsOf(historyOf(env, jobId), "GenerateImage")).toEqual({ attempts: 1, errors: ["Operator.Failed"] });
      expect(ended.code).not.toBe(0);
      expect(ended.stderr).toContain("(TaskDoesNotExist) when calling the SendTaskHeartbeat operation");
      expect(notAToken.code).not.toBe(0);
      expect(notAToken.stderr).toContain("(InvalidToken) when calling the SendTaskHeartbeat operation");
    });
  }
});
