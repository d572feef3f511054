import { randomUUID } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { createRequestHandler } from "local-aws-sqs";
import { type LoopbackServer, readBody, trackAndListen } from "./http-server";
import { toRecord } from "./sqs-poller";

/** A message the journal holds: sent to the jobs queue and not yet consumed. */
export interface JournaledMessage {
  messageId: string;
  body: string;
}

type JournalLine = { sent: JournaledMessage } | { done: string };

/**
 * Makes the in-memory SQS emulator's jobs queue survive a stop or a crash: every message accepted for the queue
 * is appended to a file, and every message the poller has consumed is marked done. On the next start the stack
 * hands what is left to the start-job SQS adapter with its original message id, as SQS would redeliver it;
 * the jobId is the message id, so a message whose job had already started starts nothing new. A message the (equally
 * in-memory) DLQ held is handed over again too, rather than lost.
 */
export class SqsJournal {
  constructor(private readonly file: string) {}

  recordSent(messages: JournaledMessage[]): void {
    this.append(messages.map((sent) => ({ sent })));
  }

  recordDone(messageIds: string[]): void {
    this.append(messageIds.map((done) => ({ done })));
  }

  /** Messages sent and not marked done, in the order they were sent. */
  pending(): JournaledMessage[] {
    if (!existsSync(this.file)) return [];
    const open = new Map<string, JournaledMessage>();
    for (const line of readFileSync(this.file, "utf8").split("\n")) {
      if (line === "") continue;
      let entry: JournalLine;
      try {
        entry = JSON.parse(line) as JournalLine;
      } catch {
        continue; // a line cut short by a crash: nothing was acknowledged for it
      }
      if ("sent" in entry) open.set(entry.sent.messageId, entry.sent);
      else open.delete(entry.done);
    }
    return [...open.values()];
  }

  /** Rewrites the file with only the pending messages (write then rename: a crash leaves the old file whole). */
  compact(): void {
    const lines = this.pending().map((sent) => `${JSON.stringify({ sent })}\n`);
    writeFileSync(`${this.file}.tmp`, lines.join(""));
    renameSync(`${this.file}.tmp`, this.file);
  }

  private append(entries: JournalLine[]): void {
    if (entries.length === 0) return;
    appendFileSync(this.file, entries.map((entry) => `${JSON.stringify(entry)}\n`).join(""));
  }
}

export interface JournaledSqs extends LoopbackServer {
  journal: SqsJournal;
}

/**
 * `local-aws-sqs` (both SQS protocols) behind a loopback front on `port` that journals the messages accepted for
 * `queueName` before it answers the sender. The emulator itself listens on a Unix socket; its queue URLs name the
 * front's port, so every client goes through the front.
 */
export async function startJournaledSqs(options: {
  port: number;
  journalFile: string;
  queueName: string;
  region: string;
  accountId: string;
  /** Where the emulator listens. @default a fresh path in the temp directory */
  socketPath?: string;
}): Promise<JournaledSqs> {
  const journal = new SqsJournal(options.journalFile);
  // The emulator listens on a Unix socket, not a second TCP port: nothing else to collide with or to expose.
  const socketPath =
    options.socketPath ?? join(tmpdir(), `couch-imagegen-sqs-${process.pid}-${randomUUID().slice(0, 8)}.sock`);
  const front = await trackAndListen(
    createServer((request, response) => {
      void forward(request, response, socketPath, journal, options.queueName);
    }),
    options.port,
  );
  const { requestHandler } = createRequestHandler({
    port: front.port,
    hostname: "127.0.0.1",
    region: options.region,
    accountId: options.accountId,
    emulateQueueCreationLifecycle: false,
  });
  const emulator = createServer((request, response) => void requestHandler(request, response));
  await new Promise<void>((resolve, reject) => {
    emulator.once("error", reject);
    emulator.listen(socketPath, () => resolve());
  });
  return {
    ...front,
    journal,
    close: async () => {
      await front.close();
      emulator.closeAllConnections();
      await new Promise<void>((resolve) => emulator.close(() => resolve()));
      rmSync(socketPath, { force: true });
    },
  };
}

async function forward(
  request: IncomingMessage,
  response: ServerResponse,
  socketPath: string,
  journal: SqsJournal,
  queueName: string,
): Promise<void> {
  const { body, tooLarge } = await readBody(request, 2 * 1024 * 1024);
  if (tooLarge) {
    response.writeHead(400, { "content-type": "application/json" });
    response.end(
      JSON.stringify({
        __type: "RequestEntityTooLarge",
        message: "The request is larger than 2 MiB; an SQS message is at most 1 MiB",
      }),
    );
    return;
  }
  const answer = await new Promise<{ status: number; headers: IncomingMessage["headers"]; body: Buffer }>(
    (resolve, reject) => {
      const upstream = httpRequest(
        { socketPath, method: request.method, path: request.url, headers: request.headers },
        (reply) => {
          readBody(reply, Number.POSITIVE_INFINITY).then(
            ({ body: replyBody }) =>
              resolve({ status: reply.statusCode ?? 500, headers: reply.headers, body: replyBody }),
            reject,
          );
        },
      );
      upstream.on("error", reject);
      upstream.end(body);
    },
  ).catch((error: unknown) => ({
    status: 500,
    headers: { "content-type": "application/json" },
    body: Buffer.from(JSON.stringify({ __type: "InternalFailure", message: String(error) })),
  }));
  if (answer.status === 200) {
    journal.recordSent(sentMessages(request.headers, body, answer.body, queueName));
  }
  response.writeHead(answer.status, answer.headers);
  response.end(answer.body);
}

/** The messages a successful SendMessage/SendMessageBatch put on `queueName`, in either SQS protocol. */
export function sentMessages(
  headers: IncomingMessage["headers"],
  requestBody: Buffer,
  responseBody: Buffer,
  queueName: string,
): JournaledMessage[] {
  const target = String(headers["x-amz-target"] ?? "");
  const onQueue = (queueUrl: unknown) => typeof queueUrl === "string" && queueUrl.endsWith(`/${queueName}`);
  if (target.startsWith("AmazonSQS.")) {
    const input = JSON.parse(requestBody.toString("utf8") || "{}") as Record<string, unknown>;
    const output = JSON.parse(responseBody.toString("utf8") || "{}") as Record<string, unknown>;
    if (!onQueue(input.QueueUrl)) return [];
    if (target === "AmazonSQS.SendMessage" && typeof output.MessageId === "string") {
      return [{ messageId: output.MessageId, body: String(input.MessageBody ?? "") }];
    }
    if (target === "AmazonSQS.SendMessageBatch") {
      const bodies = new Map(
        ((input.Entries ?? []) as { Id: string; MessageBody: string }[]).map((entry) => [entry.Id, entry.MessageBody]),
      );
      return ((output.Successful ?? []) as { Id: string; MessageId: string }[]).map((sent) => ({
        messageId: sent.MessageId,
        body: bodies.get(sent.Id) ?? "",
      }));
    }
    return [];
  }
  // The query protocol (the AWS CLI 2.9): a form-encoded request, an XML answer.
  const form = new URLSearchParams(requestBody.toString("utf8"));
  if (!onQueue(form.get("QueueUrl"))) return [];
  const xml = responseBody.toString("utf8");
  if (form.get("Action") === "SendMessage") {
    const messageId = /<MessageId>([^<]+)<\/MessageId>/.exec(xml)?.[1];
    return messageId ? [{ messageId, body: form.get("MessageBody") ?? "" }] : [];
  }
  if (form.get("Action") === "SendMessageBatch") {
    const bodies = new Map<string, string>();
    for (let index = 1; form.has(`SendMessageBatchRequestEntry.${index}.Id`); index += 1) {
      bodies.set(
        form.get(`SendMessageBatchRequestEntry.${index}.Id`) ?? "",
        form.get(`SendMessageBatchRequestEntry.${index}.MessageBody`) ?? "",
      );
    }
    return [...xml.matchAll(/<SendMessageBatchResultEntry>([\s\S]*?)<\/SendMessageBatchResultEntry>/g)].flatMap(
      ([, entry]) => {
        const id = /<Id>([^<]+)<\/Id>/.exec(entry ?? "")?.[1];
        const messageId = /<MessageId>([^<]+)<\/MessageId>/.exec(entry ?? "")?.[1];
        return id && messageId ? [{ messageId, body: bodies.get(id) ?? "" }] : [];
      },
    );
  }
  return [];
}

/**
 * Hands the jobs-queue messages the journal kept from the last run (the emulator forgets them) to the start-job SQS
 * adapter with their original ids, in batches as the event source mapping would. One that still fails goes back on
 * the queue as a new message, so the poller retries it.
 */
export async function redeliverJournaled(
  journal: SqsJournal,
  deps: {
    sqs: SQSClient;
    queueUrl: string;
    queueArn: string;
    handler: (event: SQSEvent) => Promise<SQSBatchResponse>;
    log: (entry: Record<string, unknown>) => void;
  },
): Promise<number> {
  const pending = journal.pending();
  for (let start = 0; start < pending.length; start += 10) {
    const batch = pending.slice(start, start + 10);
    const event: SQSEvent = {
      Records: batch.map((message) =>
        toRecord(
          { MessageId: message.messageId, Body: message.body, Attributes: { ApproximateReceiveCount: "2" } },
          deps,
        ),
      ),
    };
    const failed = new Set((await deps.handler(event)).batchItemFailures.map((failure) => failure.itemIdentifier));
    for (const message of batch.filter((entry) => failed.has(entry.messageId))) {
      await deps.sqs.send(new SendMessageCommand({ QueueUrl: deps.queueUrl, MessageBody: message.body }));
      deps.log({
        level: "WARN",
        message: "Redelivered message failed again; queued anew",
        messageId: message.messageId,
      });
    }
    journal.recordDone(batch.map((message) => message.messageId));
  }
  journal.compact();
  return pending.length;
}
