// Verifies the local stand-in for the failure notices' rule, queue and batching window (local/failure-notices.ts):
// finished executions gather for the window from the first one, then the notifier's core notices them as one batch;
// a failure in a later window is a later batch; SUCCEEDED executions are ignored; a notice SNS refuses is tried again
// in the next window up to FAILURE_NOTICE_MAX_RECEIVES times; stopping notices what is pending at once; the notices
// name the local endpoint's commands. Time is vitest's fake clock and SNS an aws-sdk-client-mock mock: the e2e test
// test/e2e/failure-storm.test.ts runs it on the real local stack.
import { PublishCommand, type PublishCommandInput, SNSClient } from "@aws-sdk/client-sns";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FAILURE_NOTICE_MAX_RECEIVES } from "../../functions/shared/failure-notices";
import type { ExecutionRecord } from "../../local/executions";
import { type LocalFailureNotices, startFailureNotices } from "../../local/failure-notices";
import { awsError } from "../fixtures/tiny-png";
import { type CapturedOutput, captureOutput } from "./powertools-output";

const WINDOW_MS = 1000;
const STEP_FUNCTIONS_URL = "http://127.0.0.1:4601";
const MACHINE = "arn:aws:states:us-east-1:000000000000:stateMachine:ImagePipeline";

const sns = new SNSClient({ region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } });
const snsMock = mockClient(sns);
let logLines: Record<string, unknown>[];
let output: CapturedOutput;
let notices: LocalFailureNotices;

function record(name: string, fields: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    executionArn: `${MACHINE.replace(":stateMachine:", ":execution:")}:${name}`,
    stateMachineArn: MACHINE,
    name,
    status: "FAILED",
    input: "{}",
    error: "ModelUnavailable",
    cause: "end of life",
    startDate: new Date(),
    stopDate: new Date(),
    history: [],
    ...fields,
  };
}

function subjects(): (string | undefined)[] {
  return snsMock.commandCalls(PublishCommand).map((call) => (call.args[0].input as PublishCommandInput).Subject);
}

beforeEach(() => {
  vi.useFakeTimers();
  snsMock.reset();
  snsMock.on(PublishCommand).resolves({ MessageId: "m" });
  output = captureOutput();
  logLines = [];
  notices = startFailureNotices({
    sns,
    topicArn: "arn:aws:sns:us-east-1:000000000000:couch-imagegen-alerts",
    stepFunctionsUrl: STEP_FUNCTIONS_URL,
    windowMs: WINDOW_MS,
    log: (entry) => logLines.push(entry),
  });
});

afterEach(() => {
  output.restore();
  vi.useRealTimers();
});

describe("startFailureNotices", () => {
  it("gathers the failures of one window from the first, and notices them as one batch at its end", async () => {
    // Act
    notices.add(record("a"));
    await vi.advanceTimersByTimeAsync(WINDOW_MS - 1);
    notices.add(record("b"));
    notices.add(record("ok", { status: "SUCCEEDED" }));
    const beforeTheEnd = subjects().length;
    await vi.advanceTimersByTimeAsync(1);

    // Assess
    expect(beforeTheEnd).toBe(0);
    expect(subjects()).toEqual(["couch-imagegen: 2 jobs FAILED with ModelUnavailable"]);
  });

  it("a failure after a window closed opens the next one", async () => {
    // Act
    notices.add(record("a"));
    await vi.advanceTimersByTimeAsync(WINDOW_MS);
    notices.add(record("b", { status: "ABORTED", error: undefined, cause: undefined }));
    await vi.advanceTimersByTimeAsync(WINDOW_MS);

    // Assess
    expect(subjects()).toEqual([
      "couch-imagegen: job a FAILED (ModelUnavailable)",
      "couch-imagegen: job b ABORTED (ExecutionAborted)",
    ]);
    const message = snsMock.commandCalls(PublishCommand)[0]?.args[0].input.Message ?? "";
    expect(message).toContain(
      `Inspect: aws stepfunctions describe-execution --no-sign-request --region us-east-1 --endpoint-url ` +
        `${STEP_FUNCTIONS_URL} --execution-arn ${record("a").executionArn}`,
    );
  });

  it(`tries a refused notice again each window, ${FAILURE_NOTICE_MAX_RECEIVES} times in all, then says it gave up`, async () => {
    // Prepare
    snsMock.on(PublishCommand).rejects(awsError("InternalErrorException", "SNS is down", 500));

    // Act
    notices.add(record("a"));
    await vi.advanceTimersByTimeAsync(WINDOW_MS * (FAILURE_NOTICE_MAX_RECEIVES + 2));

    // Assess
    expect(subjects()).toHaveLength(FAILURE_NOTICE_MAX_RECEIVES);
    expect(logLines).toEqual([
      {
        level: "WARN",
        message: "Gave up on the failure notice of a job",
        jobId: "a",
        tries: FAILURE_NOTICE_MAX_RECEIVES,
      },
    ]);
  });

  it("stopping notices what is pending at once and takes nothing after", async () => {
    // Act
    notices.add(record("a"));
    await notices.flush();
    notices.add(record("late"));
    await vi.advanceTimersByTimeAsync(WINDOW_MS * 2);

    // Assess
    expect(subjects()).toEqual(["couch-imagegen: job a FAILED (ModelUnavailable)"]);
  });

  it("refuses a window that is not a positive number of milliseconds", () => {
    expect(() =>
      startFailureNotices({ sns, topicArn: "t", stepFunctionsUrl: STEP_FUNCTIONS_URL, windowMs: 0, log: () => {} }),
    ).toThrow("noticeWindowMs must be a positive number of milliseconds, got 0");
  });
});
