// Verifies the failure notifier (functions/failure-notifier): a batch of failed-execution events becomes one notice per
// status and error kind; a kind seen once gets the detailed notice (job, error, cause, console link), a kind seen more
// often one summary (count, time span, the first 10 jobs with links, an example cause, where to look); TIMED_OUT and
// ABORTED without an error are named States.Timeout and ExecutionAborted; subjects stay printable ASCII under SNS's
// 100 characters and messages under its 256 KB; a notice that cannot be published returns exactly its own group's
// messages (batchItemFailures), not the groups already sent; the handler module reads its environment and logs JSON.
// SNS is an aws-sdk-client-mock mock, and the events are written from the documented EventBridge event: this cannot
// show that the deployed rule, queue and event source mapping deliver them in one batch, nor what an email client shows.
import { PublishCommand, type PublishCommandInput, SNSClient } from "@aws-sdk/client-sns";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  awsWhereToLook,
  type FailedExecution,
  failureNotices,
  LISTED_JOBS,
  MAX_SUBJECT_LENGTH,
  publishFailureNotices,
} from "../../functions/failure-notifier/failure-notifier";
import { handleFailureEventBatch, parseStatusChangeEvent } from "../../functions/failure-notifier/sqs-adapter";
import { FAILURE_NOTICE_RUNBOOK } from "../../functions/shared/failure-notices";
import { sqsEvent, sqsRecord } from "../fixtures/sqs-event";
import { awsError } from "../fixtures/tiny-png";
import { type CapturedOutput, captureOutput, handlerObservability, lambdaContext } from "./powertools-output";

const REGION = "eu-west-1";
const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:123456789012:stateMachine:ImagePipeline`;
const NOTICE_QUEUE_ARN = `arn:aws:sqs:${REGION}:123456789012:failure-notices`;
const TOPIC_ARN = `arn:aws:sns:${REGION}:123456789012:alerts`;
const T0 = Date.parse("2026-11-23T12:00:00.000Z");
const WINDOW_SECONDS = 300;
const THROTTLED = "Too many requests, please wait before trying again.";

const sns = new SNSClient({ region: REGION, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
const snsMock = mockClient(sns);
const whereToLook = awsWhereToLook({ region: REGION, dashboardName: "CouchImagegen-pipeline" });
const deps = { sns, topicArn: TOPIC_ARN, whereToLook, windowSeconds: WINDOW_SECONDS };

function failure(name: string, fields: Partial<FailedExecution> = {}): FailedExecution {
  return {
    name,
    status: "FAILED",
    error: "ThrottlingException",
    cause: THROTTLED,
    executionArn: `${STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")}:${name}`,
    stopDate: T0,
    region: REGION,
    ...fields,
  };
}

function consoleLink(name: string): string {
  const executionArn = failure(name).executionArn;
  return `https://${REGION}.console.aws.amazon.com/states/home?region=${REGION}#/v2/executions/details/${executionArn}`;
}

/** `count` jobs failed with one error, one second apart. */
function storm(count: number, fields: Partial<FailedExecution> = {}): FailedExecution[] {
  return Array.from({ length: count }, (_, index) =>
    failure(`job-${String(index + 1).padStart(2, "0")}`, { stopDate: T0 + index * 1000, ...fields }),
  );
}

/** The EventBridge event for an execution's status change, as the rule puts it on the notice queue. */
function statusChangeEvent(execution: FailedExecution): string {
  return JSON.stringify({
    version: "0",
    id: `event-${execution.name}`,
    "detail-type": "Step Functions Execution Status Change",
    source: "aws.states",
    account: "123456789012",
    time: new Date(execution.stopDate ?? T0).toISOString(),
    region: execution.region,
    resources: [execution.executionArn],
    detail: {
      executionArn: execution.executionArn,
      stateMachineArn: STATE_MACHINE_ARN,
      name: execution.name,
      status: execution.status,
      startDate: (execution.stopDate ?? T0) - 5000,
      stopDate: execution.stopDate ?? null,
      input: '{"prompt":"a lighthouse"}',
      output: null,
      inputDetails: { included: true },
      outputDetails: null,
      error: execution.error ?? null,
      cause: execution.cause ?? null,
    },
  });
}

function published(): PublishCommandInput[] {
  return snsMock.commandCalls(PublishCommand).map((call) => call.args[0].input);
}

beforeEach(() => {
  snsMock.reset();
  snsMock.on(PublishCommand).resolves({ MessageId: "notice-1" });
});

describe("failureNotices: grouping", () => {
  it("makes one notice per status and error kind: a summary for a kind seen often, a detailed one for the rest", () => {
    // Prepare
    const batch = [
      ...storm(3),
      failure("eol", { error: "ModelUnavailable", cause: "The model reached its end of life" }),
      failure("slow", { status: "TIMED_OUT", error: null, cause: null }),
    ];

    // Act
    const notices = failureNotices(batch, whereToLook, WINDOW_SECONDS);

    // Assess
    expect(notices.map((notice) => notice.subject)).toEqual([
      "couch-imagegen: 3 jobs FAILED with ThrottlingException",
      "couch-imagegen: job eol FAILED (ModelUnavailable)",
      "couch-imagegen: job slow TIMED_OUT (States.Timeout)",
    ]);
    expect(notices.map((notice) => notice.failures.map((covered) => covered.name))).toEqual([
      ["job-01", "job-02", "job-03"],
      ["eol"],
      ["slow"],
    ]);
  });

  it("keeps a status apart from another with the same error name", () => {
    // Act
    const notices = failureNotices(
      [failure("caught", { error: "States.Timeout" }), failure("whole", { status: "TIMED_OUT", error: null })],
      whereToLook,
      WINDOW_SECONDS,
    );

    // Assess
    expect(notices.map((notice) => notice.subject)).toEqual([
      "couch-imagegen: job caught FAILED (States.Timeout)",
      "couch-imagegen: job whole TIMED_OUT (States.Timeout)",
    ]);
  });

  it("counts an execution delivered twice once, while the notice still covers both events", () => {
    // Prepare
    const [first, second] = storm(2);

    // Act
    const [summary] = failureNotices([first!, second!, { ...first! }], whereToLook, WINDOW_SECONDS);
    const [detailed] = failureNotices([first!, { ...first! }], whereToLook, WINDOW_SECONDS);

    // Assess
    expect(summary?.subject).toBe("couch-imagegen: 2 jobs FAILED with ThrottlingException");
    expect(summary?.failures).toHaveLength(3);
    expect(detailed?.subject).toBe("couch-imagegen: job job-01 FAILED (ThrottlingException)");
    expect(detailed?.failures).toHaveLength(2);
  });
});

describe("failureNotices: the detailed notice of a lone failure", () => {
  it("names the job, its status, error and cause, the execution and its console page, the dashboard, the runbook", () => {
    // Act
    const [notice] = failureNotices([failure("job-1")], whereToLook, WINDOW_SECONDS);

    // Assess
    expect(notice?.message.split("\n")).toEqual([
      "couch-imagegen job job-1 ended FAILED.",
      "Error: ThrottlingException",
      `Cause: ${THROTTLED}`,
      `Execution: ${failure("job-1").executionArn}`,
      `Inspect: ${consoleLink("job-1")}`,
      `Dashboard: https://${REGION}.console.aws.amazon.com/cloudwatch/home?region=${REGION}#dashboards/dashboard/CouchImagegen-pipeline`,
      `Runbook: ${FAILURE_NOTICE_RUNBOOK}`,
    ]);
  });

  it("an ABORTED execution with no error or cause: ExecutionAborted in the subject, (none) in the message", () => {
    // Act
    const [notice] = failureNotices(
      [failure("stopped", { status: "ABORTED", error: null, cause: null })],
      awsWhereToLook({ region: REGION }),
      WINDOW_SECONDS,
    );

    // Assess
    expect(notice?.subject).toBe("couch-imagegen: job stopped ABORTED (ExecutionAborted)");
    expect(notice?.message).toContain("couch-imagegen job stopped ended ABORTED.\nError: (none)\nCause: (none)\n");
    expect(notice?.message).not.toContain("Dashboard:");
  });

  it("stays under SNS's 256 KB with the longest cause Step Functions keeps, in 3-byte characters", () => {
    // Act
    const [notice] = failureNotices([failure("job-1", { cause: "ø€".repeat(16_384) })], whereToLook, WINDOW_SECONDS);

    // Assess
    expect(Buffer.byteLength(notice!.message, "utf8")).toBeLessThan(256 * 1024);
    expect(notice?.message).toMatch(/Cause: (ø€)+ø?\.\.\.\n/);
  });
});

describe("failureNotices: the summary of a storm", () => {
  it("says how many, when, the first 10 jobs with their console pages, one example cause and where to look", () => {
    // Prepare: 37 failures over 4 min 12 s, the last with a different cause.
    const batch = storm(37).map((entry, index) =>
      index === 36 ? { ...entry, stopDate: T0 + 252_000, cause: "last" } : entry,
    );

    // Act
    const [notice] = failureNotices(batch, whereToLook, WINDOW_SECONDS);

    // Assess
    expect(notice?.subject).toBe("couch-imagegen: 37 jobs FAILED with ThrottlingException");
    const lines = notice!.message.split("\n");
    expect(lines[0]).toBe(
      "37 couch-imagegen jobs ended FAILED with error ThrottlingException between 2026-11-23T12:00:00Z and " +
        "2026-11-23T12:04:12Z (4 min 12 s).",
    );
    expect(lines[1]).toContain("gathered for up to 300 s and noticed once per error kind");
    expect(lines.slice(3, 5)).toEqual(["Example cause (job job-01):", THROTTLED]);
    const listed = lines.slice(lines.indexOf("The first 10 of the 37 jobs:") + 1, lines.indexOf("- and 27 more"));
    expect(listed).toEqual(batch.slice(0, LISTED_JOBS).map((entry) => `- ${entry.name}: ${consoleLink(entry.name)}`));
    expect(lines.slice(lines.indexOf("Where to look:") + 1)).toEqual([
      `- Every FAILED execution: aws stepfunctions list-executions --region ${REGION} --state-machine-arn ` +
        `${STATE_MACHINE_ARN} --status-filter FAILED`,
      `- Dashboard: https://${REGION}.console.aws.amazon.com/cloudwatch/home?region=${REGION}#dashboards/dashboard/CouchImagegen-pipeline`,
      `- Runbook: ${FAILURE_NOTICE_RUNBOOK}`,
    ]);
  });

  it("lists all the jobs when there are 10 or fewer, takes the first cause there is, and cuts a long one", () => {
    // Prepare
    const batch = storm(4).map((entry, index) => ({ ...entry, cause: index === 0 ? null : "x".repeat(5000) }));

    // Act
    const [notice] = failureNotices(batch, whereToLook, WINDOW_SECONDS);

    // Assess
    expect(notice?.message).toContain("and 2026-11-23T12:00:03Z (3 s).");
    expect(notice?.message).toContain("The 4 jobs:\n");
    expect(notice?.message).not.toContain("more");
    expect(notice?.message).toContain(`Example cause (job job-02):\n${"x".repeat(997)}...\n`);
  });

  it("a storm of 1000 with the longest causes is still one notice of a few KB", () => {
    // Act
    const notices = failureNotices(storm(1000, { cause: "c".repeat(32_768) }), whereToLook, WINDOW_SECONDS);

    // Assess
    expect(notices).toHaveLength(1);
    expect(Buffer.byteLength(notices[0]!.message, "utf8")).toBeLessThan(8 * 1024);
  });
});

describe("failureNotices: subjects", () => {
  it.each([
    ["a long job name", failure("j".repeat(80))],
    ["a long error name", failure("job-1", { error: `Custom.${"E".repeat(200)}` })],
    ["control and non-ASCII characters", failure("job-1", { error: "Fehler\n\tÜberlauf 🌋" })],
  ])("%s: printable ASCII, fewer than 100 characters", (_label, execution) => {
    // Act
    const subjects = [
      ...failureNotices([execution], whereToLook, WINDOW_SECONDS),
      ...failureNotices([execution, { ...execution, executionArn: `${execution.executionArn}-2` }], whereToLook, 1),
    ].map((notice) => notice.subject);

    // Assess
    for (const subject of subjects) {
      expect(subject.length).toBeLessThanOrEqual(MAX_SUBJECT_LENGTH);
      expect(subject).toMatch(/^couch-imagegen: [\x20-\x7E]+$/);
    }
  });
});

describe("publishFailureNotices", () => {
  it("publishes each notice to the topic with its subject", async () => {
    // Act
    const result = await publishFailureNotices([...storm(5), failure("eol", { error: "ModelUnavailable" })], deps);

    // Assess
    expect(published().map(({ TopicArn, Subject }) => ({ TopicArn, Subject }))).toEqual([
      { TopicArn: TOPIC_ARN, Subject: "couch-imagegen: 5 jobs FAILED with ThrottlingException" },
      { TopicArn: TOPIC_ARN, Subject: "couch-imagegen: job eol FAILED (ModelUnavailable)" },
    ]);
    expect(result.unpublished).toEqual([]);
  });
});

describe("handleFailureEventBatch (the notice queue's batches)", () => {
  let output: CapturedOutput;
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => {
    output.restore();
  });

  it("one summary for 50 messages of one kind, nothing returned", async () => {
    // Prepare
    const event = sqsEvent(
      ...storm(50).map((entry) => sqsRecord(`m-${entry.name}`, statusChangeEvent(entry), NOTICE_QUEUE_ARN)),
    );

    // Act
    const response = await handleFailureEventBatch(event, deps);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(published().map((input) => input.Subject)).toEqual([
      "couch-imagegen: 50 jobs FAILED with ThrottlingException",
    ]);
  });

  it("a notice SNS refuses returns only its own group's messages; the notices sent are not resent", async () => {
    // Prepare
    snsMock
      .on(PublishCommand, { Subject: "couch-imagegen: 3 jobs FAILED with ThrottlingException" })
      .rejects(awsError("KMSThrottlingException", "Rate exceeded", 400));
    const throttled = storm(3);
    const eol = failure("eol", { error: "ModelUnavailable" });
    const event = sqsEvent(
      sqsRecord("m-1", statusChangeEvent(throttled[0]!), NOTICE_QUEUE_ARN),
      sqsRecord("m-eol", statusChangeEvent(eol), NOTICE_QUEUE_ARN),
      sqsRecord("m-2", statusChangeEvent(throttled[1]!), NOTICE_QUEUE_ARN),
      sqsRecord("m-3", statusChangeEvent(throttled[2]!), NOTICE_QUEUE_ARN),
    );

    // Act
    const response = await handleFailureEventBatch(event, { ...deps, ...handlerObservability("failure-notifier") });

    // Assess
    expect(response.batchItemFailures.map((item) => item.itemIdentifier)).toEqual(["m-1", "m-2", "m-3"]);
    expect(published()).toHaveLength(2);
    const errorLine = output.logs().find((line) => line.level === "ERROR");
    expect(errorLine).toMatchObject({
      function: "failure-notifier",
      message: "Could not publish a failure notice; its events return to the queue",
      subject: "couch-imagegen: 3 jobs FAILED with ThrottlingException",
      events: 3,
      error: "KMSThrottlingException",
    });
  });

  it("a message that is no failed execution's event is logged and returned, the others noticed", async () => {
    // Prepare
    const event = sqsEvent(
      sqsRecord("m-junk", "not an event", NOTICE_QUEUE_ARN),
      sqsRecord("m-ok", statusChangeEvent(failure("job-1")), NOTICE_QUEUE_ARN),
      sqsRecord(
        "m-succeeded",
        statusChangeEvent({ ...failure("job-2"), status: "SUCCEEDED" as never }),
        NOTICE_QUEUE_ARN,
      ),
    );

    // Act
    const response = await handleFailureEventBatch(event, { ...deps, ...handlerObservability("failure-notifier") });

    // Assess
    expect(response.batchItemFailures.map((item) => item.itemIdentifier)).toEqual(["m-junk", "m-succeeded"]);
    expect(published().map((input) => input.Subject)).toEqual([
      "couch-imagegen: job job-1 FAILED (ThrottlingException)",
    ]);
    expect(
      output
        .logs()
        .filter((line) => line.level === "ERROR")
        .map((line) => line.correlation_id),
    ).toEqual(["m-junk", "m-succeeded"]);
  });
});

describe("parseStatusChangeEvent", () => {
  it("reads the whole EventBridge event, and one cut down by an input transformer", () => {
    // Prepare
    const whole = JSON.parse(statusChangeEvent(failure("job-1"))) as {
      region: string;
      detail: Record<string, unknown>;
    };
    const { name, status, error, cause, executionArn, stopDate } = whole.detail;

    // Act
    const fromWhole = parseStatusChangeEvent(JSON.stringify(whole));
    const fromTransformed = parseStatusChangeEvent(
      JSON.stringify({ region: REGION, detail: { name, status, error, cause, executionArn, stopDate } }),
    );

    // Assess
    expect(fromWhole).toEqual(failure("job-1"));
    expect(fromTransformed).toEqual(failure("job-1"));
  });

  it("takes the event's time when the stop date is missing, and null for an aborted execution's error", () => {
    // Act
    const parsed = parseStatusChangeEvent(
      JSON.stringify({
        region: REGION,
        time: "2026-11-23T12:00:05Z",
        detail: { name: "job-1", status: "ABORTED", executionArn: failure("job-1").executionArn, error: null },
      }),
    );

    // Assess
    expect(parsed).toEqual({ ...failure("job-1"), status: "ABORTED", error: null, cause: null, stopDate: T0 + 5000 });
  });

  it.each([
    ["not JSON", "{"],
    ["JSON null", "null"],
    ["no detail", JSON.stringify({ region: REGION })],
    ["no name", JSON.stringify({ region: REGION, detail: { status: "FAILED", executionArn: "arn" } })],
    [
      "a status that is no failure",
      JSON.stringify({ region: REGION, detail: { name: "a", status: "RUNNING", executionArn: "arn" } }),
    ],
  ])("refuses %s", (_label, body) => {
    expect(parseStatusChangeEvent(body)).toBeUndefined();
  });
});

describe("the handler module", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it("publishes to TOPIC_ARN with links in the function's region and the dashboard named in DASHBOARD_NAME", async () => {
    // Prepare
    vi.stubEnv("TOPIC_ARN", TOPIC_ARN);
    vi.stubEnv("AWS_REGION", REGION);
    vi.stubEnv("DASHBOARD_NAME", "Ops-board");
    const anySns = mockClient(SNSClient);
    anySns.on(PublishCommand).resolves({ MessageId: "m" });
    const { handler } = await import("../../functions/failure-notifier/handler");
    const output = captureOutput();

    try {
      // Act
      const response = await handler(
        sqsEvent(sqsRecord("m-1", statusChangeEvent(failure("job-1")), NOTICE_QUEUE_ARN)),
        lambdaContext("req-1", "CouchImagegen-FailureNotifier"),
      );

      // Assess
      expect(response).toEqual({ batchItemFailures: [] });
      const input = anySns.commandCalls(PublishCommand)[0]?.args[0].input;
      expect(input?.TopicArn).toBe(TOPIC_ARN);
      expect(input?.Message).toContain(`Inspect: ${consoleLink("job-1")}`);
      expect(input?.Message).toContain("#dashboards/dashboard/Ops-board");
      expect(output.logs()).toContainEqual(
        expect.objectContaining({
          level: "INFO",
          function: "failure-notifier",
          function_request_id: "req-1",
          message: "Failure notice published",
          subject: "couch-imagegen: job job-1 FAILED (ThrottlingException)",
        }),
      );
    } finally {
      output.restore();
      anySns.restore();
    }
  });

  it("refuses to start without TOPIC_ARN", async () => {
    // Prepare
    vi.stubEnv("TOPIC_ARN", "");
    vi.stubEnv("AWS_REGION", REGION);

    // Act, Assess
    await expect(import("../../functions/failure-notifier/handler")).rejects.toThrow(
      "TOPIC_ARN environment variable is not set",
    );
  });
});
