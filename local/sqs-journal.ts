import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { Message } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { createRequestHandler } from "local-aws-sqs";
import { guarded, type LoopbackServer, trackAndListen } from "./http-server";
import { toRecord } from "./sqs-poller";
import { countReceivesOnly, messageIdOf } from "./sqs-receive-counts";

export { messageIdOf } from "./sqs-receive-counts";

/** A message the journal holds: accepted by a journaled queue and not yet deleted from it. */
export interface JournaledMessage {
  messageId: string;
  body: string;
  /** The queue that holds it. Lines written before the DLQ was journaled name none: they are the jobs queue's. */
  queue?: string;
  /** Its message attributes, as SendMessage took them. */
  attributes?: Record<string, unknown>;
  /** Its system attributes: AWSTraceHeader, and in a DLQ the DeadLetterQueueSourceArn a redrive reads. */
  systemAttributes?: Record<string, unknown>;
  /** When its queue accepted it (epoch ms); past the queue's retention period it is not restored. */
  sentAt?: number;
}

type JournalLine = { sent: JournaledMessage } | { done: string };

/**
 * What the in-memory SQS emulator's journaled queues hold, kept in a file so that a stop or a crash loses nothing:
 * a line for every message a queue accepts (a message that moves, as to the DLQ after its last receive, is accepted
 * again under the same id by its new queue) and one for every message deleted. Reading the file back gives what
 * each queue held, to put back when the stack starts again.
 */
export class SqsJournal {
  private readonly held = new Map<string, JournaledMessage>();

  /** @param defaultQueue the queue of lines that name none (written before the DLQ was journaled) */
  constructor(
    private readonly file: string,
    private readonly defaultQueue?: string,
  ) {
    if (!existsSync(file)) return;
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (line === "") continue;
      let entry: JournalLine;
      try {
        entry = JSON.parse(line) as JournalLine;
      } catch {
        continue; // a line cut short by a crash: nothing was acknowledged for it
      }
      this.apply(entry);
    }
  }

  /** Messages a queue accepted; one the journal already holds has moved to that queue. */
  recordSent(messages: JournaledMessage[]): void {
    this.append(messages.map((sent) => ({ sent })));
  }

  /** Messages deleted from `queue`; an id the journal holds in another queue (it has moved there) stays. */
  recordDone(queue: string, messageIds: string[]): void {
    this.append(messageIds.filter((id) => this.held.get(id)?.queue === queue).map((done) => ({ done })));
  }

  /** Messages accepted and not deleted, in every journaled queue, in the order they were sent. */
  pending(): JournaledMessage[] {
    return [...this.held.values()];
  }

  /** Rewrites the file with only the pending messages (write then rename: a crash leaves the old file whole). */
  compact(): void {
    const lines = this.pending().map((sent) => `${JSON.stringify({ sent })}\n`);
    writeFileSync(`${this.file}.tmp`, lines.join(""));
    renameSync(`${this.file}.tmp`, this.file);
  }

  private apply(entry: JournalLine): void {
    if ("sent" in entry) {
      const queue = entry.sent.queue ?? this.defaultQueue;
      this.held.delete(entry.sent.messageId);
      this.held.set(entry.sent.messageId, { ...entry.sent, ...(queue !== undefined ? { queue } : {}) });
    } else {
      this.held.delete(entry.done);
    }
  }

  private append(entries: JournalLine[]): void {
    if (entries.length === 0) return;
    appendFileSync(this.file, entries.map((entry) => `${JSON.stringify(entry)}\n`).join(""));
    for (const entry of entries) this.apply(entry);
  }
}

export interface JournaledSqs extends LoopbackServer {
  journal: SqsJournal;
  /**
   * Puts messages the journal kept from the last run back in `queueName` (by default every one it holds for that
   * queue), each with its id, body and attributes: the emulator itself keeps nothing. One past the queue's retention
   * period is dropped instead. Returns how many went back. Call it once the queue exists, before anything reads it.
   */
  restore: (queueName: string, messages?: JournaledMessage[]) => number;
}

type EmulatorQueue = ReturnType<typeof createRequestHandler>["service"]["Queues"][number];
type SetRecord = EmulatorQueue["setRecord"];

// An SQS message is at most 1 MiB, and so is a batch's payload; twice that leaves room for the query protocol's
// encoding.
const MAX_REQUEST_BYTES = 2 * 1024 * 1024;

/**
 * `local-aws-sqs` (both SQS protocols: JSON for the SDK and current CLIs, query for Debian's AWS CLI 2.9) on
 * 127.0.0.1:`port`, with `queueNames` journaled: every message one of them accepts is in the journal before the
 * sender gets its answer, whoever sent it (SendMessage in either protocol, the emulator's own move to the DLQ, a
 * message move task), and every message deleted from one is marked done.
 */
export async function startJournaledSqs(options: {
  port: number;
  journalFile: string;
  /** The queues that keep their messages across a restart; the first is the one older journal lines name. */
  queueNames: readonly string[];
  region: string;
  accountId: string;
}): Promise<JournaledSqs> {
  const journal = new SqsJournal(options.journalFile, options.queueNames[0]);
  const { service, requestHandler } = createRequestHandler({
    port: options.port,
    hostname: "127.0.0.1",
    region: options.region,
    accountId: options.accountId,
    emulateQueueCreationLifecycle: false,
  });
  const unjournaled = new WeakMap<EmulatorQueue, SetRecord>();
  const hooked = new WeakSet<EmulatorQueue>();
  /**
   * Hooks every queue that exists (one created since the last request included): each counts receives as SQS does,
   * and the journaled ones journal.
   */
  const journalQueues = () => {
    for (const queue of service.Queues) {
      if (hooked.has(queue)) continue;
      hooked.add(queue);
      countReceivesOnly(queue);
      if (options.queueNames.includes(queue.QueueName)) unjournaled.set(queue, journalQueue(queue, journal));
    }
  };
  const front = await trackAndListen(
    createServer(
      guarded((request, response) => {
        if (Number(request.headers["content-length"] ?? 0) > MAX_REQUEST_BYTES) {
          response.writeHead(400, { "content-type": "application/json", connection: "close" });
          response.end(
            JSON.stringify({
              __type: "RequestEntityTooLarge",
              message: "The request is larger than 2 MiB; an SQS message is at most 1 MiB",
            }),
          );
          return;
        }
        journalQueues();
        const handled = requestHandler(request, response);
        limitBody(request, MAX_REQUEST_BYTES);
        return handled;
      }),
    ),
    options.port,
  );
  // With port 0 the emulator learns its port now, as its own createSqsServer does: queue URLs name it.
  service.PORT = front.port;
  return {
    ...front,
    journal,
    restore: (queueName, messages) => {
      journalQueues();
      const queue = service.Queues.find((candidate) => candidate.QueueName === queueName);
      const setRecord = queue && unjournaled.get(queue);
      if (!queue || !setRecord) throw new Error(`${queueName} is not a journaled queue of this SQS emulator`);
      const held = messages ?? journal.pending().filter((message) => message.queue === queueName);
      const expired = held.filter(
        (message) => message.sentAt !== undefined && Date.now() - message.sentAt > queue.MessageRetentionPeriod * 1000,
      );
      journal.recordDone(
        queueName,
        expired.map((message) => message.messageId),
      );
      const kept = held.filter((message) => !expired.includes(message));
      for (const message of kept) {
        setRecord(
          {
            MessageBody: message.body,
            MessageAttributes: message.attributes,
            MessageSystemAttributes: message.systemAttributes,
          },
          message.messageId,
        );
      }
      return kept.length;
    },
  };
}

/** Journals what `queue` accepts and what is deleted from it; returns its own setRecord, which journals nothing. */
function journalQueue(queue: EmulatorQueue, journal: SqsJournal): SetRecord {
  const setRecord = queue.setRecord;
  queue.setRecord = (input: Record<string, unknown>, messageId?: string) => {
    const stored = setRecord(input, messageId) as { record: { MessageId: string } };
    journal.recordSent([
      {
        messageId: stored.record.MessageId,
        body: String(input.MessageBody ?? ""),
        queue: queue.QueueName,
        ...(input.MessageAttributes ? { attributes: input.MessageAttributes as Record<string, unknown> } : {}),
        ...(input.MessageSystemAttributes
          ? { systemAttributes: input.MessageSystemAttributes as Record<string, unknown> }
          : {}),
        sentAt: Date.now(),
      },
    ]);
    return stored;
  };
  const deleteMessage = queue.delete.bind(queue);
  queue.delete = (receiptHandle: string) => {
    const deleted = deleteMessage(receiptHandle);
    const messageId = messageIdOf(receiptHandle);
    if (deleted && messageId) journal.recordDone(queue.QueueName, [messageId]);
    return deleted;
  };
  // A purge (60 s after PurgeQueue, as the emulator does it) and DeleteQueue clear the whole queue.
  const clearRecords = queue.clearRecords.bind(queue);
  queue.clearRecords = () => {
    clearRecords();
    const held = journal.pending().filter((message) => message.queue === queue.QueueName);
    journal.recordDone(
      queue.QueueName,
      held.map((message) => message.messageId),
    );
  };
  return setRecord;
}

/** Ends a connection whose body (chunked, so without a length to refuse up front) grows past `limit` bytes. */
function limitBody(request: IncomingMessage, limit: number): void {
  let size = 0;
  request.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) request.socket.destroy();
  });
}

/**
 * Hands the messages the journal kept for `queueName` from the last run to the start-job SQS adapter, with their
 * ids, in batches as the event source mapping would, before anything else reads the queue: a job whose execution
 * had started finds it (the jobId is the message id), so nothing runs twice. One that fails again goes back on the
 * queue with its id, for the poller to retry and, past maxReceiveCount, to move to the DLQ. Returns how many were
 * handed over.
 */
export async function redeliverJournaled(
  sqs: JournaledSqs,
  deps: {
    queueName: string;
    queueArn: string;
    handler: (event: SQSEvent) => Promise<SQSBatchResponse>;
    log: (entry: Record<string, unknown>) => void;
  },
): Promise<number> {
  const pending = sqs.journal.pending().filter((message) => message.queue === deps.queueName);
  for (let start = 0; start < pending.length; start += 10) {
    const batch = pending.slice(start, start + 10);
    const event: SQSEvent = {
      Records: batch.map((message) =>
        toRecord(
          {
            MessageId: message.messageId,
            Body: message.body,
            Attributes: { ApproximateReceiveCount: "2" },
            MessageAttributes: message.attributes as Message["MessageAttributes"],
          },
          deps,
        ),
      ),
    };
    const failed = await deps.handler(event).then(
      (result) => new Set(result.batchItemFailures.map((failure) => failure.itemIdentifier)),
      (error: unknown) => {
        deps.log({ level: "ERROR", message: "start-job threw on a redelivered batch", error: String(error) });
        return new Set(batch.map((message) => message.messageId));
      },
    );
    const again = batch.filter((message) => failed.has(message.messageId));
    sqs.restore(deps.queueName, again);
    for (const message of again) {
      deps.log({
        level: "WARN",
        message: "Redelivered message failed again; back on the queue",
        messageId: message.messageId,
      });
    }
    sqs.journal.recordDone(
      deps.queueName,
      batch.filter((message) => !failed.has(message.messageId)).map((message) => message.messageId),
    );
  }
  return pending.length;
}
