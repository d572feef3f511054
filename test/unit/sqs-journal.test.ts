// Verifies the local stack's SQS journal: which messages it records from SendMessage/SendMessageBatch answers in
// both SQS protocols (JSON for the SDK, query for the AWS CLI 2.9), and which it still holds after some are
// consumed; the redelivery on restart; the front's answers when it cannot forward. It cannot show the emulator's
// own behaviour (test/fault/kill-restart.test.ts runs the whole stack).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSEvent } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { redeliverJournaled, SqsJournal, sentMessages, startJournaledSqs } from "../../local/sqs-journal";

const QUEUE = "http://127.0.0.1:4602/123456789012/couch-imagegen-jobs";
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe("sentMessages", () => {
  it("reads a JSON-protocol SendMessage to the jobs queue", () => {
    const messages = sentMessages(
      { "x-amz-target": "AmazonSQS.SendMessage" },
      json({ QueueUrl: QUEUE, MessageBody: "me on top of a pyramid" }),
      json({ MessageId: "m-1", MD5OfMessageBody: "x" }),
      "couch-imagegen-jobs",
    );
    expect(messages).toEqual([{ messageId: "m-1", body: "me on top of a pyramid" }]);
  });

  it("pairs a JSON-protocol batch's bodies with the ids of the entries that succeeded", () => {
    const messages = sentMessages(
      { "x-amz-target": "AmazonSQS.SendMessageBatch" },
      json({
        QueueUrl: QUEUE,
        Entries: [
          { Id: "a", MessageBody: "one" },
          { Id: "b", MessageBody: "two" },
        ],
      }),
      json({ Successful: [{ Id: "b", MessageId: "m-2" }], Failed: [{ Id: "a", Code: "x" }] }),
      "couch-imagegen-jobs",
    );
    expect(messages).toEqual([{ messageId: "m-2", body: "two" }]);
  });

  it("reads the query protocol the AWS CLI 2.9 speaks, single and batch", () => {
    const single = sentMessages(
      { "content-type": "application/x-www-form-urlencoded" },
      Buffer.from(
        `Action=SendMessage&QueueUrl=${encodeURIComponent(QUEUE)}&MessageBody=a+lighthouse+%C3%A6%C3%B8%C3%A5`,
      ),
      Buffer.from(
        "<SendMessageResponse><SendMessageResult><MessageId>m-3</MessageId></SendMessageResult></SendMessageResponse>",
      ),
      "couch-imagegen-jobs",
    );
    const batch = sentMessages(
      {},
      Buffer.from(
        `Action=SendMessageBatch&QueueUrl=${encodeURIComponent(QUEUE)}` +
          "&SendMessageBatchRequestEntry.1.Id=x&SendMessageBatchRequestEntry.1.MessageBody=first" +
          "&SendMessageBatchRequestEntry.2.Id=y&SendMessageBatchRequestEntry.2.MessageBody=second",
      ),
      Buffer.from(
        "<SendMessageBatchResult><SendMessageBatchResultEntry><Id>y</Id><MessageId>m-5</MessageId></SendMessageBatchResultEntry>" +
          "<SendMessageBatchResultEntry><Id>x</Id><MessageId>m-4</MessageId></SendMessageBatchResultEntry></SendMessageBatchResult>",
      ),
      "couch-imagegen-jobs",
    );
    expect(single).toEqual([{ messageId: "m-3", body: "a lighthouse æøå" }]);
    expect(batch).toEqual([
      { messageId: "m-5", body: "second" },
      { messageId: "m-4", body: "first" },
    ]);
  });

  it("ignores other queues and other actions", () => {
    const dlq = "http://127.0.0.1:4602/123456789012/couch-imagegen-jobs-dlq";
    expect(
      sentMessages(
        { "x-amz-target": "AmazonSQS.SendMessage" },
        json({ QueueUrl: dlq, MessageBody: "x" }),
        json({ MessageId: "m" }),
        "couch-imagegen-jobs",
      ),
    ).toEqual([]);
    expect(
      sentMessages(
        { "x-amz-target": "AmazonSQS.ReceiveMessage" },
        json({ QueueUrl: QUEUE }),
        json({ Messages: [] }),
        "couch-imagegen-jobs",
      ),
    ).toEqual([]);
  });
});

describe("SqsJournal", () => {
  it("holds what was sent and not consumed, survives a torn last line, and compacts to just that", () => {
    // Prepare
    const file = join(mkdtempSync(join(tmpdir(), "sqs-journal-")), "journal.jsonl");
    const journal = new SqsJournal(file);
    journal.recordSent([
      { messageId: "m-1", body: "one" },
      { messageId: "m-2", body: "two" },
      { messageId: "m-3", body: "three" },
    ]);
    journal.recordDone(["m-2"]);
    writeFileSync(file, `${readFileSync(file, "utf8")}{"sent":{"messageId":"m-4","bo`);

    // Act
    const pending = journal.pending();
    journal.compact();

    // Assess
    expect(pending.map((message) => message.messageId)).toEqual(["m-1", "m-3"]);
    expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(2);
    expect(new SqsJournal(file).pending()).toEqual(pending);
  });

  it("holds nothing when there is no journal yet", () => {
    expect(new SqsJournal(join(tmpdir(), "no-such-journal.jsonl")).pending()).toEqual([]);
  });
});

describe("redeliverJournaled", () => {
  const sqsMock = mockClient(SQSClient);
  const sqs = new SQSClient({ region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } });

  it("hands pending messages to start-job with their ids; one that fails again is queued anew; the journal empties", async () => {
    // Prepare
    sqsMock.reset();
    sqsMock.on(SendMessageCommand).resolves({ MessageId: "m-new" });
    const journal = new SqsJournal(join(mkdtempSync(join(tmpdir(), "sqs-journal-")), "journal.jsonl"));
    journal.recordSent([
      { messageId: "m-1", body: "one" },
      { messageId: "m-2", body: "two" },
    ]);
    const events: SQSEvent[] = [];
    const handler = async (event: SQSEvent) => {
      events.push(event);
      return { batchItemFailures: [{ itemIdentifier: "m-2" }] };
    };
    const log: Record<string, unknown>[] = [];

    // Act
    const count = await redeliverJournaled(journal, {
      sqs,
      queueUrl: QUEUE,
      queueArn: "arn:aws:sqs:us-east-1:123456789012:couch-imagegen-jobs",
      handler,
      log: (entry) => log.push(entry),
    });

    // Assess
    expect(count).toBe(2);
    expect(events[0]?.Records.map((record) => [record.messageId, record.body])).toEqual([
      ["m-1", "one"],
      ["m-2", "two"],
    ]);
    expect(sqsMock.commandCalls(SendMessageCommand).map((call) => call.args[0].input)).toEqual([
      { QueueUrl: QUEUE, MessageBody: "two" },
    ]);
    expect(log).toEqual([expect.objectContaining({ level: "WARN", messageId: "m-2" })]);
    expect(journal.pending()).toEqual([]);
  });
});

describe("startJournaledSqs: what the front answers when it cannot forward", () => {
  it("refuses a request over 2 MiB, saying SQS messages are at most 1 MiB", async () => {
    const front = await startJournaledSqs({
      port: 0,
      journalFile: join(mkdtempSync(join(tmpdir(), "sqs-front-")), "journal.jsonl"),
      queueName: "couch-imagegen-jobs",
      region: "us-east-1",
      accountId: "123456789012",
    });
    try {
      const response = await fetch(front.url, { method: "POST", body: "x".repeat(3 * 1024 * 1024) });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        __type: "RequestEntityTooLarge",
        message: "The request is larger than 2 MiB; an SQS message is at most 1 MiB",
      });
    } finally {
      await front.close();
    }
  });

  it("answers InternalFailure, journaling nothing, when the emulator behind it is gone", async () => {
    const directory = mkdtempSync(join(tmpdir(), "sqs-front-"));
    const socketPath = join(directory, "emulator.sock");
    const front = await startJournaledSqs({
      port: 0,
      journalFile: join(directory, "journal.jsonl"),
      queueName: "couch-imagegen-jobs",
      region: "us-east-1",
      accountId: "123456789012",
      socketPath,
    });
    try {
      rmSync(socketPath);
      const response = await fetch(front.url, {
        method: "POST",
        headers: { "x-amz-target": "AmazonSQS.SendMessage", "content-type": "application/x-amz-json-1.0" },
        body: JSON.stringify({ QueueUrl: QUEUE, MessageBody: "lost?" }),
      });
      expect(response.status).toBe(500);
      expect(((await response.json()) as { __type: string }).__type).toBe("InternalFailure");
      expect(front.journal.pending()).toEqual([]);
    } finally {
      await front.close();
    }
  });
});
