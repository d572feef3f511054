// Verifies the local stack's SQS journal: what it holds after messages are sent, moved and deleted (and after a
// crash cuts its last line), and, through the real in-process SQS emulator on a free port, that the journaled
// queues' messages are journaled whichever SQS protocol sent them, that a message moved to the DLQ by the emulator
// moves in the journal, that a restart puts the DLQ's messages back in the DLQ with their ids, bodies and attributes,
// and hands the jobs queue's to start-job with their ids (one failing again goes back on the jobs queue, same id).
// It cannot show the whole stack's restart (test/e2e/local-dlq-restart.test.ts, test/fault/kill-restart.test.ts).
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSEvent } from "aws-lambda";
import { afterEach, describe, expect, it } from "vitest";
import {
  type JournaledSqs,
  messageIdOf,
  redeliverJournaled,
  SqsJournal,
  startJournaledSqs,
} from "../../local/sqs-journal";
import { pollUntil } from "../e2e/helpers";

const JOBS = "couch-imagegen-jobs";
const DLQ = "couch-imagegen-jobs-dlq";
const ACCOUNT = "123456789012";

function journalFile(): string {
  return join(mkdtempSync(join(tmpdir(), "sqs-journal-")), "journal.jsonl");
}

describe("SqsJournal", () => {
  it("holds what was sent and not deleted, survives a torn last line, and compacts to just that", () => {
    // Prepare
    const file = journalFile();
    const journal = new SqsJournal(file);
    journal.recordSent([
      { messageId: "m-1", body: "one", queue: JOBS },
      { messageId: "m-2", body: "two", queue: JOBS },
      { messageId: "m-3", body: "three", queue: JOBS },
    ]);
    journal.recordDone(JOBS, ["m-2"]);
    writeFileSync(file, `${readFileSync(file, "utf8")}{"sent":{"messageId":"m-4","bo`);

    // Act
    const pending = new SqsJournal(file).pending();
    new SqsJournal(file).compact();

    // Assess
    expect(pending.map((message) => message.messageId)).toEqual(["m-1", "m-3"]);
    expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(2);
    expect(new SqsJournal(file).pending()).toEqual(pending);
  });

  it("moves a message sent again under its id to the new queue; a delete from the old queue leaves it", () => {
    // Prepare
    const journal = new SqsJournal(journalFile());
    journal.recordSent([{ messageId: "m-1", body: "poison", queue: JOBS }]);

    // Act: the emulator moves it to the DLQ after its last receive; a late delete names the jobs queue.
    journal.recordSent([{ messageId: "m-1", body: "poison", queue: DLQ }]);
    journal.recordDone(JOBS, ["m-1"]);

    // Assess
    expect(journal.pending()).toEqual([{ messageId: "m-1", body: "poison", queue: DLQ }]);
  });

  it("reads a line that names no queue (written before the DLQ was journaled) as the jobs queue's", () => {
    const file = journalFile();
    writeFileSync(file, `${JSON.stringify({ sent: { messageId: "m-old", body: "old" } })}\n`);

    expect(new SqsJournal(file, JOBS).pending()).toEqual([{ messageId: "m-old", body: "old", queue: JOBS }]);
  });

  it("holds nothing when there is no journal yet", () => {
    expect(new SqsJournal(join(tmpdir(), "no-such-journal.jsonl")).pending()).toEqual([]);
  });
});

describe("startJournaledSqs: the emulator's queues, journaled", () => {
  const started: { sqs: JournaledSqs; client: SQSClient }[] = [];

  afterEach(async () => {
    for (const { sqs, client } of started.splice(0)) {
      client.destroy();
      await sqs.close();
    }
  });

  /** The emulator on a free port, with the jobs queue and its DLQ (redrive after `maxReceiveCount` receives). */
  async function start(file: string, maxReceiveCount = 1) {
    const sqs = await startJournaledSqs({
      port: 0,
      journalFile: file,
      queueNames: [JOBS, DLQ],
      region: "us-east-1",
      accountId: ACCOUNT,
    });
    const client = new SQSClient({
      region: "us-east-1",
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
      endpoint: sqs.url,
    });
    started.push({ sqs, client });
    const dlq = await client.send(new CreateQueueCommand({ QueueName: DLQ }));
    const jobs = await client.send(
      new CreateQueueCommand({
        QueueName: JOBS,
        Attributes: {
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: `arn:aws:sqs:us-east-1:${ACCOUNT}:${DLQ}`,
            maxReceiveCount,
          }),
        },
      }),
    );
    return { sqs, client, jobsUrl: jobs.QueueUrl ?? "", dlqUrl: dlq.QueueUrl ?? "" };
  }

  /** Every message in the queue, left visible (the emulator may then hand one out twice in an answer: once here). */
  async function peek(client: SQSClient, queueUrl: string): Promise<Message[]> {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        MessageAttributeNames: ["All"],
      }),
    );
    return [...new Map(Messages.map((message) => [message.MessageId, message])).values()];
  }

  it("journals messages sent in either protocol; a deleted one is done", async () => {
    // Prepare
    const { sqs, client, jobsUrl } = await start(journalFile());
    const viaSdk = await client.send(new SendMessageCommand({ QueueUrl: jobsUrl, MessageBody: "by the SDK" }));
    const viaQuery = await fetch(sqs.url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        Action: "SendMessage",
        Version: "2012-11-05",
        QueueUrl: jobsUrl,
        MessageBody: "by the AWS CLI 2.9",
      }),
    });
    const queryId = /<MessageId>([^<]+)<\/MessageId>/.exec(await viaQuery.text())?.[1];

    // Act
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({ QueueUrl: jobsUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }),
    );
    const first = Messages.find((message) => message.MessageId === viaSdk.MessageId);
    await client.send(new DeleteMessageCommand({ QueueUrl: jobsUrl, ReceiptHandle: first?.ReceiptHandle }));

    // Assess
    expect(messageIdOf(first?.ReceiptHandle ?? "")).toBe(viaSdk.MessageId);
    expect(sqs.journal.pending()).toEqual([
      expect.objectContaining({ messageId: queryId, body: "by the AWS CLI 2.9", queue: JOBS }),
    ]);
  });

  it("a message the emulator moves to the DLQ is the DLQ's; after a restart it is back there, with its id, body and attributes", async () => {
    // Prepare
    const file = journalFile();
    const before = await start(file);
    const sent = await before.client.send(
      new SendMessageCommand({
        QueueUrl: before.jobsUrl,
        MessageBody: "poison",
        MessageAttributes: { origin: { DataType: "String", StringValue: "unit-test" } },
      }),
    );
    await before.client.send(new ReceiveMessageCommand({ QueueUrl: before.jobsUrl, VisibilityTimeout: 0 }));
    await pollUntil(
      `message ${sent.MessageId} in the DLQ`,
      () => peek(before.client, before.dlqUrl),
      (messages) => messages.some((message) => message.MessageId === sent.MessageId),
      5_000,
    );
    const journaled = before.sqs.journal.pending();

    // Act: a new emulator (it kept nothing) on the same journal.
    const after = await start(file);
    const restored = after.sqs.restore(DLQ);

    // Assess
    expect(journaled).toEqual([expect.objectContaining({ messageId: sent.MessageId, queue: DLQ })]);
    expect(restored).toBe(1);
    expect(await peek(after.client, after.dlqUrl)).toEqual([
      expect.objectContaining({
        MessageId: sent.MessageId,
        Body: "poison",
        MessageAttributes: { origin: expect.objectContaining({ StringValue: "unit-test" }) },
      }),
    ]);
    expect(await peek(after.client, after.jobsUrl)).toEqual([]);
  });

  it("restore drops a message past its queue's retention period instead of putting it back", async () => {
    // Prepare
    const file = journalFile();
    const day = 24 * 60 * 60 * 1000;
    writeFileSync(
      file,
      [
        { sent: { messageId: "m-kept", body: "still wanted", queue: DLQ, sentAt: Date.now() - day } },
        { sent: { messageId: "m-expired", body: "too old", queue: DLQ, sentAt: Date.now() - 5 * day } },
      ]
        .map((line) => `${JSON.stringify(line)}\n`)
        .join(""),
    );
    const { sqs, client, dlqUrl } = await start(file);

    // Act
    const restored = sqs.restore(DLQ);

    // Assess: the emulator's default retention, as SQS's, is 4 days.
    expect(restored).toBe(1);
    expect((await peek(client, dlqUrl)).map((message) => [message.MessageId, message.Body])).toEqual([
      ["m-kept", "still wanted"],
    ]);
    expect(new SqsJournal(file).pending().map((message) => message.messageId)).toEqual(["m-kept"]);
  });

  it("redelivery hands the jobs queue's messages to start-job with their ids; one failing again is back on the queue with its id", async () => {
    // Prepare: a journal from the last run, one message per queue.
    const file = journalFile();
    writeFileSync(
      file,
      [
        { sent: { messageId: "m-ok", body: "starts now", queue: JOBS } },
        { sent: { messageId: "m-again", body: "fails again", queue: JOBS } },
        { sent: { messageId: "m-dead", body: "poison", queue: DLQ } },
      ]
        .map((line) => `${JSON.stringify(line)}\n`)
        .join(""),
    );
    const { sqs, client, jobsUrl } = await start(file, 10);
    const events: SQSEvent[] = [];
    const log: Record<string, unknown>[] = [];

    // Act
    const count = await redeliverJournaled(sqs, {
      queueName: JOBS,
      queueArn: `arn:aws:sqs:us-east-1:${ACCOUNT}:${JOBS}`,
      handler: async (event) => {
        events.push(event);
        return { batchItemFailures: [{ itemIdentifier: "m-again" }] };
      },
      log: (entry) => log.push(entry),
    });

    // Assess
    expect(count).toBe(2);
    expect(events.flatMap((event) => event.Records.map((record) => [record.messageId, record.body]))).toEqual([
      ["m-ok", "starts now"],
      ["m-again", "fails again"],
    ]);
    expect((await peek(client, jobsUrl)).map((message) => [message.MessageId, message.Body])).toEqual([
      ["m-again", "fails again"],
    ]);
    expect(sqs.journal.pending().map((message) => [message.messageId, message.queue])).toEqual([
      ["m-again", JOBS],
      ["m-dead", DLQ],
    ]);
    expect(log).toEqual([expect.objectContaining({ level: "WARN", messageId: "m-again" })]);
  });

  it("DeleteQueue marks everything the queue held done", async () => {
    // Prepare
    const { sqs, client, dlqUrl } = await start(journalFile());
    await client.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: "dead" }));

    // Act
    await client.send(new DeleteQueueCommand({ QueueUrl: dlqUrl }));

    // Assess
    expect(sqs.journal.pending()).toEqual([]);
  });

  it("refuses a request over 2 MiB, saying SQS messages are at most 1 MiB, and keeps serving", async () => {
    const { sqs, client, jobsUrl } = await start(journalFile());

    const response = await fetch(sqs.url, { method: "POST", body: "x".repeat(3 * 1024 * 1024) });
    const attributes = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: jobsUrl, AttributeNames: ["ApproximateNumberOfMessages"] }),
    );

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      __type: "RequestEntityTooLarge",
      message: "The request is larger than 2 MiB; an SQS message is at most 1 MiB",
    });
    expect(attributes.Attributes?.ApproximateNumberOfMessages).toBe("0");
  });
});
