// Verifies that a storm of failures is summarised, end to end on the local stack: 50 jobs that fail together (their
// model set to end of life in the Bedrock stand-in, so each fails at its first Bedrock call; they are held in the
// waiting room until all 50 are there, then released) put at most one notice per notice window they span in the alerts
// inbox, together covering each job once: one summary naming all 50 when they fall in one window, as they do unless
// the machine is loaded; and a lone failure after it still gets its detailed notice, one more notice. The
// grouping is the notifier's own core (functions/failure-notifier), run by local/failure-notices.ts in place of the
// EventBridge rule, the notice queue and its batching window. It cannot show the AWS side: that the rule, the queue
// and the event source mapping deliver a storm as one batch per window (the window here is 3 s, not 300 s), nor any
// email: SNS is the fauxqs emulator and the inbox a queue of the SQS emulator.
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_REGION } from "../../local/emulators";
import {
  type E2eStack,
  executionArnOf,
  JOB_POLL_TIMEOUT_MS,
  PIXEL_MODEL_ID,
  pollUntil,
  startE2eStack,
  submitJob,
  waitForJob,
} from "./helpers";

/**
 * Long enough for the 50 released failures to fall in one window on an idle 2-core machine (they take 1 to 2 s);
 * on a loaded one they may span two, and the test then holds them to the bound instead.
 */
const NOTICE_WINDOW_MS = 3000;
const STORM_SIZE = 50;

let env: E2eStack;
/** Holds every generator invocation until the storm is released. */
let releaseStorm!: () => void;
const stormReleased = new Promise<void>((resolve) => {
  releaseStorm = resolve;
});

beforeAll(async () => {
  env = await startE2eStack({
    modelId: PIXEL_MODEL_ID,
    noticeWindowMs: NOTICE_WINDOW_MS,
    waitingRoom: {
      wrapGenerator: (generator) => async (event) => {
        await stormReleased;
        return generator(event);
      },
    },
  });
  env.stack.bedrock.setModelLifecycle(PIXEL_MODEL_ID, "EOL");
});

afterAll(async () => {
  await env?.stop();
});

/** Every notice read from the alerts inbox so far, in order (each is read once, then deleted). */
const notices: string[] = [];

/** Reads the alerts inbox until `done` accepts what has arrived, at most a window and a half past the call. */
async function noticesUntil(waitingFor: string, done: (all: string[]) => boolean): Promise<string[]> {
  return pollUntil(
    waitingFor,
    async () => {
      const { Messages = [] } = await env.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: env.stack.alertsInboxUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      notices.push(...Messages.map((message) => message.Body ?? ""));
      if (Messages.length > 0) {
        await env.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: env.stack.alertsInboxUrl,
            Entries: Messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle })),
          }),
        );
      }
      return notices;
    },
    done,
    NOTICE_WINDOW_MS * 1.5 + 2000,
  );
}

function submitPicture(prompt: string): Promise<string> {
  return submitJob(env, { prompt, width: 320, height: 320 });
}

/** Whether the job's execution has sent it to the waiting room (GenerateImage's SQS task started). */
function inWaitingRoom(jobId: string): boolean {
  return env.stack.executions
    .history(executionArnOf(env, jobId))
    .some((event) => event.type === "TaskStarted" && JSON.stringify(event).includes("sendMessage.waitForTaskToken"));
}

/** How many failed jobs a notice covers: a summary says how many, a detailed notice is about one. */
function jobsCovered(notice: string): number {
  const summary = /^(\d+) couch-imagegen jobs ended /.exec(notice);
  if (summary) return Number(summary[1]);
  return /^couch-imagegen job \S+ ended /.test(notice) ? 1 : 0;
}

const totalCovered = (all: string[]) => all.reduce((sum, notice) => sum + jobsCovered(notice), 0);

describe("a storm of failures", () => {
  it(`${STORM_SIZE} jobs failing together: at most one notice per window they span; one summary naming all 50 in one window`, async () => {
    // Prepare: every job waits in the waiting room, so that they fail together when released.
    const jobIds = await Promise.all(
      Array.from({ length: STORM_SIZE }, (_, index) => submitPicture(`a harbour at dusk, picture ${index}`)),
    );
    await pollUntil(
      `all ${STORM_SIZE} jobs in the waiting room`,
      async () => jobIds.filter(inWaitingRoom).length,
      (waiting) => waiting === STORM_SIZE,
    );

    // Act
    releaseStorm();
    await env.stack.executions.idle(JOB_POLL_TIMEOUT_MS);
    await noticesUntil(`notices covering all ${STORM_SIZE} failed jobs`, (all) => totalCovered(all) >= STORM_SIZE);

    // Assess: one error kind, so at most one notice per window the failures span, together covering each job once.
    const executions = jobIds.map((jobId) => env.stack.executions.describe(executionArnOf(env, jobId)));
    expect(new Set(executions.map(({ status, error }) => `${status} ${error}`))).toEqual(
      new Set(["FAILED ModelUnavailable"]),
    );
    const stops = executions.map((execution) => execution.stopDate!.getTime());
    const windowsSpanned = Math.floor((Math.max(...stops) - Math.min(...stops)) / NOTICE_WINDOW_MS) + 1;
    expect(totalCovered(notices)).toBe(STORM_SIZE);
    expect(notices.length).toBeLessThanOrEqual(windowsSpanned);
    if (windowsSpanned > 1) return;
    // In one window (the usual case): exactly one notice, the summary.
    expect(notices).toHaveLength(1);
    const summary = notices[0]!;
    const lines = summary.split("\n");
    expect(lines[0]).toMatch(
      new RegExp(
        `^${STORM_SIZE} couch-imagegen jobs ended FAILED with error ModelUnavailable between \\S+ and \\S+ \\(\\d+ s\\)\\.$`,
      ),
    );
    const listed = lines.filter((line) => line.startsWith("- ") && line.includes("describe-execution"));
    expect(listed).toHaveLength(10);
    for (const line of listed) expect(jobIds).toContain(line.slice(2, line.indexOf(":")));
    expect(summary).toContain(`- and ${STORM_SIZE - 10} more`);
    expect(summary).toContain(
      `aws stepfunctions list-executions --no-sign-request --region ${LOCAL_REGION} --endpoint-url ` +
        `${env.stack.stepFunctionsUrl} --state-machine-arn ${env.stack.stateMachineArn} --status-filter FAILED`,
    );
  });

  it("a lone failure after the storm gets its own detailed notice, and only it", async () => {
    // Prepare
    const before = notices.length;

    // Act
    const jobId = await submitPicture("a lighthouse after the storm");
    expect(await waitForJob(env, jobId)).toMatchObject({ status: "FAILED", error: "ModelUnavailable" });
    await noticesUntil(`the detailed notice of job ${jobId}`, (all) => all.some((body) => body.includes(jobId)));

    // Assess
    expect(notices).toHaveLength(before + 1);
    expect(notices.at(-1)!.split("\n").slice(0, 5)).toEqual([
      `couch-imagegen job ${jobId} ended FAILED.`,
      "Error: ModelUnavailable",
      expect.stringMatching(/^Cause: .+/),
      `Execution: ${executionArnOf(env, jobId)}`,
      `Inspect: aws stepfunctions describe-execution --no-sign-request --region ${LOCAL_REGION} --endpoint-url ` +
        `${env.stack.stepFunctionsUrl} --execution-arn ${executionArnOf(env, jobId)}`,
    ]);
  });
});
