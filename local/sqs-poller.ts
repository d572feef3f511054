import { setTimeout as sleep } from "node:timers/promises";
import { DeleteMessageBatchCommand, type Message, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";

// Short polls with a pause, not long polls: local-aws-sqs holds a long poll until it has a full batch or the wait
// ends (SQS answers as soon as a message is there), which added up to a second to every job. The pause bounds what
// an idle stack costs (about 5% of a core) and what it adds to a job (about 0.1 s).
const EMPTY_POLL_PAUSE_MS = 100;

export interface SqsPollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  handler: (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;
  /** Messages per invocation, as the event source mapping's BatchSize. */
  batchSize: number;
  /** Seconds a received message stays invisible; a failed one comes back after it (then the DLQ after maxReceiveCount). */
  visibilityTimeoutSeconds: number;
  /** Concurrent pollers, as the mapping's concurrency. */
  pollers: number;
  /**
   * Handler invocations in flight at once, across pollers (the mapping's MaximumConcurrency): a poller then receives
   * up to ten messages, hands each batch to an invocation of its own and waits only when all are busy. Without it,
   * each poller runs one invocation at a time. @default none
   */
  maxConcurrency?: number;
  log?: (entry: Record<string, unknown>) => void;
}

export interface SqsPoller {
  /** Takes no more messages; handlers already running go on. */
  stopReceiving: () => void;
  /** Takes no more messages and waits for the handlers already running. */
  stop: () => Promise<void>;
}

/**
 * The SQS event source mapping: polls the queue, invokes the handler with an SQS event, deletes the messages
 * that succeeded and leaves the reported failures (or, if the handler throws, the whole batch) to reappear after
 * the visibility timeout. The queue's redrive policy moves a message to the DLQ after maxReceiveCount receives.
 */
export function startSqsPoller(options: SqsPollerOptions): SqsPoller {
  let stopping = false;
  const abort = new AbortController();
  const slots = options.maxConcurrency === undefined ? undefined : new Slots(options.maxConcurrency);
  const loops = Array.from({ length: options.pollers }, async () => {
    while (!stopping) {
      try {
        const received = slots
          ? await pollIntoSlots(options, slots, abort.signal)
          : await pollOnce(options, abort.signal);
        if (received === 0) await sleep(EMPTY_POLL_PAUSE_MS, undefined, { signal: abort.signal });
      } catch (error) {
        if (stopping) break;
        options.log?.({ level: "WARN", message: "SQS poll failed; retrying in 1 s", error: String(error) });
        await sleep(1000, undefined, { signal: abort.signal }).catch(() => undefined);
      }
    }
  });
  const stopReceiving = () => {
    stopping = true;
    abort.abort();
    slots?.dropReady();
  };
  return {
    stopReceiving,
    stop: async () => {
      stopReceiving();
      await Promise.allSettled(loops);
      await slots?.idle();
    },
  };
}

/**
 * Invocations in flight, at most `limit`, and batches received for them ahead of time, at most `limit` more: like
 * Lambda's pollers, which keep messages ready so that a free slot never waits for a ReceiveMessage.
 */
class Slots {
  private readonly running = new Set<Promise<void>>();
  private readonly ready: (() => Promise<void>)[] = [];
  private readonly settled = new Set<Promise<void>>();

  constructor(private readonly limit: number) {}

  /** Batches it can take now, running or ready. */
  get room(): number {
    return 2 * this.limit - this.running.size - this.ready.length;
  }

  add(work: () => Promise<void>): void {
    this.ready.push(work);
    this.startReady();
  }

  /** Resolves when there is room for another batch. */
  async hasRoom(signal: AbortSignal): Promise<void> {
    while (this.room <= 0 && !signal.aborted) await Promise.race(this.running);
  }

  /** Forgets the batches not started: their messages come back after the visibility timeout. */
  dropReady(): void {
    this.ready.length = 0;
  }

  /** Work to wait for when stopping, besides the invocations (the deletes after them). */
  track(work: Promise<void>): void {
    this.settled.add(work);
    void work.finally(() => this.settled.delete(work));
  }

  async idle(): Promise<void> {
    while (this.running.size > 0 || this.ready.length > 0 || this.settled.size > 0) {
      await Promise.allSettled([...this.running, ...this.settled]);
    }
  }

  private startReady(): void {
    while (this.running.size < this.limit && this.ready.length > 0) {
      const work = this.ready.shift() as () => Promise<void>;
      const done: Promise<void> = work().finally(() => {
        this.running.delete(done);
        this.startReady();
      });
      this.running.add(done);
    }
  }
}

/** Receives what the slots have room for and queues one invocation per batch; returns how many it received. */
async function pollIntoSlots(options: SqsPollerOptions, slots: Slots, signal: AbortSignal): Promise<number> {
  await slots.hasRoom(signal);
  if (signal.aborted) return 0;
  const { Messages: messages = [] } = await options.sqs.send(
    receiveCommand(options, Math.min(10, slots.room * options.batchSize)),
    { abortSignal: signal },
  );
  for (let start = 0; start < messages.length; start += options.batchSize) {
    const batch = messages.slice(start, start + options.batchSize);
    // The slot is free once the handler returns; the delete that follows is the poller's, as on AWS.
    slots.add(async () => {
      const handled = await handle(options, batch);
      slots.track(
        deleteHandled(options, handled).catch((error: unknown) =>
          options.log?.({
            level: "WARN",
            message: "Could not delete handled messages; they come back after the visibility timeout",
            error: String(error),
          }),
        ),
      );
    });
  }
  return messages.length;
}

/** Returns how many messages it received. */
async function pollOnce(options: SqsPollerOptions, signal: AbortSignal): Promise<number> {
  const { Messages: messages = [] } = await options.sqs.send(receiveCommand(options, options.batchSize), {
    abortSignal: signal,
  });
  if (messages.length === 0) return 0;
  return invoke(options, messages);
}

function receiveCommand(options: SqsPollerOptions, maxMessages: number): ReceiveMessageCommand {
  return new ReceiveMessageCommand({
    QueueUrl: options.queueUrl,
    MaxNumberOfMessages: maxMessages,
    WaitTimeSeconds: 0,
    VisibilityTimeout: options.visibilityTimeoutSeconds,
    MessageSystemAttributeNames: ["All"],
    // local-aws-sqs reads only the older name; without it ApproximateReceiveCount is missing from every message.
    AttributeNames: ["All"],
    MessageAttributeNames: ["All"],
  });
}

/** One handler invocation with `messages`; deletes those that succeeded. Returns how many it was given. */
async function invoke(options: SqsPollerOptions, messages: Message[]): Promise<number> {
  await deleteHandled(options, await handle(options, messages));
  return messages.length;
}

/** Invokes the handler; returns the messages it handled (none when it threw: the whole batch comes back). */
async function handle(options: SqsPollerOptions, messages: Message[]): Promise<Message[]> {
  const event: SQSEvent = { Records: messages.map((message) => toRecord(message, options)) };
  let failed: Set<string>;
  try {
    const result = await options.handler(event);
    failed = new Set((result?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
  } catch (error) {
    options.log?.({
      level: "ERROR",
      message: "SQS handler threw; the whole batch returns to the queue",
      error: String(error),
    });
    return [];
  }
  return messages.filter((message) => !failed.has(message.MessageId ?? ""));
}

async function deleteHandled(options: SqsPollerOptions, done: Message[]): Promise<void> {
  if (done.length === 0) return;
  await options.sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: options.queueUrl,
      Entries: done.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle })),
    }),
  );
}

/** The record Lambda's SQS event carries for a message. */
export function toRecord(message: Message, options: Pick<SqsPollerOptions, "queueArn">): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? "",
    receiptHandle: message.ReceiptHandle ?? "",
    body: message.Body ?? "",
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? "1",
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? "local",
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        {
          dataType: value.DataType ?? "String",
          stringValue: value.StringValue,
          binaryValue: value.BinaryValue ? Buffer.from(value.BinaryValue).toString("base64") : undefined,
        },
      ]),
    ),
    md5OfBody: message.MD5OfBody ?? "",
    eventSource: "aws:sqs",
    eventSourceARN: options.queueArn,
    awsRegion: options.queueArn.split(":")[3] ?? "us-east-1",
  };
}
