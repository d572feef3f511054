import { Duration } from "aws-cdk-lib";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { QUEUE_RETENTION_DAYS } from "../config";

/** How long a message may stay invisible to others once received, and how often, in a `redrivenQueue`. */
export interface RedrivenQueueProps {
  readonly visibilityTimeout: Duration;
  /** Receives before SQS moves a message to the dead-letter queue. */
  readonly maxReceiveCount: number;
}

/**
 * A queue ("Queue") and its dead-letter queue ("DeadLetterQueue") in `scope`, as every queue of the pipeline is built
 * (the jobs queue, the waiting room, the failure notices): SQS-managed encryption, TLS only, messages kept
 * QUEUE_RETENTION_DAYS in the queue and 14 days in the DLQ (time to read and redrive them).
 */
export function redrivenQueue(
  scope: Construct,
  props: RedrivenQueueProps,
): { readonly queue: Queue; readonly deadLetterQueue: Queue } {
  const deadLetterQueue = new Queue(scope, "DeadLetterQueue", {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  const queue = new Queue(scope, "Queue", {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(QUEUE_RETENTION_DAYS),
    visibilityTimeout: props.visibilityTimeout,
    deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
  });
  return { queue, deadLetterQueue };
}
