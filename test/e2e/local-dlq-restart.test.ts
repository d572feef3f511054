// Verifies that the local dead-letter queue keeps what it holds across a restart, as SQS does: a message that failed
// its deliveries (StartExecution refused by a proxy, maxReceiveCount 1) reaches the DLQ; the stack stops and starts
// again on the same data dir and ports (StartExecution now works); the DLQ still holds the message with its id, body
// and message attributes, the jobs queue does not, and start-job never started it (while a fresh message on the
// jobs queue still runs). Before that, a start that fails midway leaves its ports and data dir free for the next.
// After it, a job whose execution was still running when the stack stopped, with its image already promoted (its
// record put back to RUNNING on disk, as a stop between StoreImage and the execution's end leaves it), starts again
// from the beginning and ends SUCCEEDED without a second Bedrock call.
// It cannot verify SQS's own retention (the emulator keeps messages in memory; the stack's journal restores them)
// nor the real event source mapping, nor how Step Functions resumes (where the execution was, not from its start).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from "@aws-sdk/client-sfn";
import {
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Interposer, startInterposer } from "../../bench/interposer";
import { DATA_DIR_LOCK } from "../../local/data-dir";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../local/emulators";
import { FREE_PORTS, type LocalPorts, type LocalStack, startLocalStack } from "../../local/local-stack";
import { assertPortFree, freePorts, PIXEL_MODEL_ID, pollUntil } from "./helpers";

const POISON_BODY = JSON.stringify({ prompt: "a lighthouse nobody may start", width: 320, height: 320 });
const POISON_ATTRIBUTES = { origin: { DataType: "String", StringValue: "dlq-restart-test" } };

const dataDir = mkdtempSync(join(tmpdir(), "couch-imagegen-dlq-restart-"));
const logs: string[] = [];
/** While true, the proxy in front of Step Functions refuses every StartExecution. */
let refuseStartExecution = true;
let proxy: Interposer | undefined;
let stack: LocalStack | undefined;

/** The stack on `ports` (0: free ones) and this file's data dir, its Step Functions calls through the proxy. */
async function start(ports: LocalPorts | undefined): Promise<LocalStack> {
  return startLocalStack({
    dataDir,
    ports: ports ?? FREE_PORTS,
    modelId: PIXEL_MODEL_ID,
    retryTimeScale: 0.01,
    sqs: { visibilityTimeoutSeconds: 1, maxReceiveCount: 1 },
    log: (line) => logs.push(line),
    // The handler modules load once per process, so the restarted stack must name the same proxy URL.
    interpose: async (service, url) => {
      if (service !== "stepFunctions") return url;
      proxy ??= await startInterposer(url, service, (request) =>
        refuseStartExecution && request.operation === "StartExecution"
          ? {
              respond: {
                status: 400,
                headers: { "content-type": "application/x-amz-json-1.0" },
                body: JSON.stringify({ __type: "AccessDeniedException", message: "refused by the test's proxy" }),
              },
            }
          : undefined,
      );
      return proxy.url;
    },
  });
}

function portsOf(running: LocalStack): LocalPorts {
  const port = (url: string) => Number(new URL(url).port);
  return {
    api: port(running.apiUrl),
    stepFunctions: port(running.stepFunctionsUrl),
    sqs: port(running.queueUrl),
    s3: port(running.s3Url),
    dynamodb: port(running.dynamodbUrl),
    sns: port(running.snsUrl),
    bedrock: port(running.bedrockUrl),
    console: port(running.consoleUrl),
  };
}

function clientsOf(running: LocalStack) {
  const config = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  return {
    sqs: new SQSClient({ ...config, endpoint: new URL(running.queueUrl).origin }),
    sfn: new SFNClient({ ...config, endpoint: running.stepFunctionsUrl }),
  };
}

/**
 * The DLQ's messages, left visible (VisibilityTimeout 0) so a later look sees them again; the emulator may then hand
 * one out twice in an answer, so each is listed once.
 */
async function deadLetters(sqs: SQSClient, running: LocalStack): Promise<Message[]> {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: running.dlqUrl,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 0,
      MessageAttributeNames: ["All"],
    }),
  );
  return [...new Map(Messages.map((message) => [message.MessageId, message])).values()];
}

async function jobsQueueDepth(sqs: SQSClient, running: LocalStack): Promise<Record<string, string>> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: running.queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return Attributes;
}

afterAll(async () => {
  await stack?.stop();
  await proxy?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("a start that fails midway", () => {
  it("closes what it started: every port can be bound again and the data dir is not locked", async () => {
    // Prepare: the emulators and the Bedrock stand-in start; the failure comes after them.
    const [api, stepFunctions, sqs, s3, dynamodb, sns, bedrock] = await freePorts(7);
    const ports = { api, stepFunctions, sqs, s3, dynamodb, sns, bedrock } as LocalPorts;

    // Act
    const failed = startLocalStack({
      dataDir,
      ports,
      log: (line) => logs.push(line),
      interpose: async () => {
        throw new Error("injected failure while starting");
      },
    });

    // Assess
    await expect(failed).rejects.toThrow("injected failure while starting");
    for (const port of Object.values(ports)) await assertPortFree(port);
    expect(existsSync(join(dataDir, DATA_DIR_LOCK))).toBe(false);
  });
});

/** The ports of the stack the DLQ test started; the restarts after it use them again (the handlers name them). */
let ports: LocalPorts;

describe("a message in the local DLQ, across a restart", () => {
  let poisonId = "";

  beforeAll(async () => {
    stack = await start(undefined);
    ports = portsOf(stack);
    const { sqs } = clientsOf(stack);
    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.queueUrl,
        MessageBody: POISON_BODY,
        MessageAttributes: POISON_ATTRIBUTES,
      }),
    );
    poisonId = sent.MessageId ?? "";
    const running = stack;
    await pollUntil(
      `message ${poisonId} in the DLQ`,
      () => deadLetters(sqs, running),
      (messages) => messages.some((message) => message.MessageId === poisonId),
    );
    sqs.destroy();
    await stack.stop();
    stack = undefined;
    refuseStartExecution = false;
  });

  it("is still in the DLQ, with its id, body and attributes; not on the jobs queue; never started", async () => {
    // Prepare
    stack = await start(ports);
    const running = stack;
    const { sqs, sfn } = clientsOf(running);

    // Act: a fresh message on the jobs queue, whose job ending shows the poller has been round since the start.
    const canary = await sqs.send(
      new SendMessageCommand({
        QueueUrl: running.queueUrl,
        MessageBody: JSON.stringify({ prompt: "a lighthouse after the restart", width: 320, height: 320 }),
      }),
    );
    const { executions = [] } = await pollUntil(
      `the canary message ${canary.MessageId} to run`,
      () => sfn.send(new ListExecutionsCommand({ stateMachineArn: running.stateMachineArn })),
      (listed) => (listed.executions ?? []).some((execution) => execution.name === canary.MessageId),
    );
    const held = await deadLetters(sqs, running);
    const depth = await jobsQueueDepth(sqs, running);
    sqs.destroy();
    sfn.destroy();

    // Assess
    expect(held).toEqual([
      expect.objectContaining({
        MessageId: poisonId,
        Body: POISON_BODY,
        MessageAttributes: { origin: expect.objectContaining({ StringValue: "dlq-restart-test" }) },
      }),
    ]);
    expect(executions.map((execution) => execution.name)).toEqual([canary.MessageId]);
    expect(depth).toEqual({ ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0" });
  });
});

describe("a job restarted after its image was promoted", () => {
  it("starts again from the beginning and ends SUCCEEDED with the image it paid for, no second Bedrock call", async () => {
    // Prepare: a job that ends SUCCEEDED, one Bedrock call.
    const before = stack!;
    await before.executions.idle(10_000); // the canary job above
    const imagesBefore = before.bedrock.stats.images;
    const response = await fetch(`${before.apiUrl}/generate-image`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "a lighthouse, promoted before the stop", width: 320, height: 320 }),
    });
    const { jobId } = (await response.json()) as { jobId: string };
    const executionArn = `${before.stateMachineArn.replace(":stateMachine:", ":execution:")}:${jobId}`;
    const clients = clientsOf(before);
    await pollUntil(
      `job ${jobId} to succeed`,
      () => clients.sfn.send(new DescribeExecutionCommand({ executionArn })),
      (execution) => execution.status !== "RUNNING",
    );
    clients.sqs.destroy();
    clients.sfn.destroy();
    const paidBefore = before.bedrock.stats.images - imagesBefore;
    await before.stop();
    stack = undefined;
    // As a stop between StoreImage (image promoted, staged copy deleted) and the end leaves it: still RUNNING.
    const recordFile = join(dataDir, "executions", `${jobId}.json`);
    const record = JSON.parse(readFileSync(recordFile, "utf8")) as Record<string, unknown>;
    writeFileSync(recordFile, JSON.stringify({ ...record, status: "RUNNING", output: undefined, stopDate: undefined }));

    // Act
    stack = await start(ports);
    const after = stack;
    const { sqs, sfn } = clientsOf(after);
    const execution = await pollUntil(
      `the restarted job ${jobId} to end`,
      () => sfn.send(new DescribeExecutionCommand({ executionArn })),
      (described) => described.status !== "RUNNING",
    );
    sqs.destroy();
    sfn.destroy();

    // Assess
    expect(paidBefore).toBe(1);
    expect(after.resumed.map((resumed) => resumed.name)).toContain(jobId);
    expect(execution.status).toBe("SUCCEEDED");
    expect(after.bedrock.stats.requests).toBe(0);
    expect(logs.some((line) => line.includes("Restarted job: its promoted image is staged again"))).toBe(true);
  });
});
