import type { createRequestHandler } from "local-aws-sqs";

type EmulatorQueue = ReturnType<typeof createRequestHandler>["service"]["Queues"][number];

/** The emulator's own entry for a message: what its visibility timer reads when it decides on a move to the DLQ. */
interface EmulatorEntry {
  record: { MessageId: string; attributes: { ApproximateReceiveCount: string } };
}

/**
 * Makes a `local-aws-sqs` queue count receives as SQS does. The emulator counts a ChangeMessageVisibility as one more
 * receive, and its redrive to the DLQ reads that count: the waiting room, which puts a throttled message back with
 * ChangeMessageVisibility, saw 1, 3, 5... receives, backed off twice as fast as it should, and lost a message to the
 * DLQ after half of maxReceiveCount receives (so its last receive, which fails the task, never came). This takes the
 * extra count back from the emulator's own entry for the message, right after each change.
 */
export function countReceivesOnly(queue: EmulatorQueue): void {
  const entries = new Map<string, EmulatorEntry>();
  const setRecord = queue.setRecord;
  queue.setRecord = (input: unknown, messageId?: string) => {
    // For a standard queue this is the emulator's entry itself (a FIFO duplicate answers a copy, never changed).
    const stored = setRecord(input, messageId) as Partial<EmulatorEntry> | undefined;
    if (stored?.record?.MessageId && !queue.FifoQueue) entries.set(stored.record.MessageId, stored as EmulatorEntry);
    return stored;
  };
  const changeVisibility = queue.changeVisibility.bind(queue);
  queue.changeVisibility = (receiptHandle: string, visibilityTimeout: string) => {
    const changed = changeVisibility(receiptHandle, visibilityTimeout);
    const entry = changed ? entries.get(messageIdOf(receiptHandle) ?? "") : undefined;
    if (entry) {
      const counted = Number(entry.record.attributes.ApproximateReceiveCount);
      entry.record.attributes.ApproximateReceiveCount = String(Math.max(0, counted - 1));
    }
    return changed;
  };
  const deleteMessage = queue.delete.bind(queue);
  queue.delete = (receiptHandle: string) => {
    const deleted = deleteMessage(receiptHandle);
    if (deleted) entries.delete(messageIdOf(receiptHandle) ?? "");
    return deleted;
  };
}

/** local-aws-sqs's receipt handles are base64 of a random UUID followed by JSON that names the message. */
export function messageIdOf(receiptHandle: string): string | undefined {
  const decoded = Buffer.from(receiptHandle, "base64").toString("utf8");
  try {
    const { MessageId } = JSON.parse(decoded.slice(decoded.indexOf("{"))) as { MessageId?: unknown };
    return typeof MessageId === "string" ? MessageId : undefined;
  } catch {
    return undefined;
  }
}
