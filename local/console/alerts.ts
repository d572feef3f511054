import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { ListSubscriptionsByTopicCommand, SetSubscriptionAttributesCommand, type SNSClient } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { ConsoleAlert } from "./api-types";

/** The console's own queue on the alerts topic: the inbox a person reads with the CLI is left alone. */
export const CONSOLE_ALERTS_QUEUE = "couch-imagegen-console-alerts";
/** The console keeps this many notices, the newest. */
export const MAX_ALERTS = 1000;
const POLL_INTERVAL_MS = 500;

export interface ConsoleAlertsOptions {
  /** The SQS emulator, where the console's queue lives. */
  sqs: SQSClient;
  /** The SNS endpoint, to ask for the envelope (with the subject) rather than the bare message. */
  sns: SNSClient;
  topicArn: string;
  /** The SNS endpoint's subscription of a queue of the SQS emulator (local/sns-endpoint.ts `deliverToQueue`). */
  deliverToQueue: (topicArn: string, queueUrl: string) => Promise<void>;
  /** Where drained notices are kept between runs (JSON lines); none keeps them in memory only. */
  file?: string;
  log?: (entry: Record<string, unknown>) => void;
}

export interface ConsoleAlerts {
  /** Newest first. */
  list(): ConsoleAlert[];
  /** Reads the queue now (the page asks before it answers, so a notice just sent is shown). */
  drain(): Promise<void>;
  close(): void;
}

/**
 * Subscribes a queue of the console's own to the alerts topic, as the team's email address is subscribed on AWS, and
 * keeps every notice it receives. The subscription delivers SNS's envelope (RawMessageDelivery false): a raw delivery
 * has no subject, and the subject is the first thing an email shows.
 */
export async function startConsoleAlerts(options: ConsoleAlertsOptions): Promise<ConsoleAlerts> {
  const { QueueUrl: queueUrl = "" } = await options.sqs.send(
    new CreateQueueCommand({ QueueName: CONSOLE_ALERTS_QUEUE }),
  );
  await options.deliverToQueue(options.topicArn, queueUrl);
  await deliverEnvelopes(options.sns, options.topicArn, CONSOLE_ALERTS_QUEUE);

  const alerts = options.file ? loadAlerts(options.file) : [];
  const known = new Set(alerts.map((alert) => alert.id));
  let draining: Promise<void> | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  const receive = async () => {
    for (;;) {
      const { Messages = [] } = await options.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }),
      );
      if (Messages.length === 0) return;
      const read = Messages.map((message) => alertOf(message.Body ?? "", message.MessageId ?? ""));
      const added = read.filter((alert) => !known.has(alert.id));
      for (const alert of added) known.add(alert.id);
      alerts.push(...added);
      if (alerts.length > MAX_ALERTS) alerts.splice(0, alerts.length - MAX_ALERTS);
      if (options.file && added.length > 0) {
        mkdirSync(dirname(options.file), { recursive: true });
        appendFileSync(options.file, `${added.map((alert) => JSON.stringify(alert)).join("\n")}\n`);
      }
      // Deleted once kept: a notice is never lost between the two.
      await options.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: Messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle })),
        }),
      );
    }
  };
  const drain = (): Promise<void> => {
    draining ??= receive()
      .catch((error: unknown) => {
        if (!closed)
          options.log?.({ level: "WARN", message: "Console: could not read its alerts queue", error: String(error) });
      })
      .finally(() => {
        draining = undefined;
      });
    return draining;
  };
  const poll = () => {
    timer = setTimeout(() => {
      void drain().then(() => {
        if (!closed) poll();
      });
    }, POLL_INTERVAL_MS);
    timer.unref();
  };
  poll();

  return {
    list: () => [...alerts].sort((a, b) => b.sentAt.localeCompare(a.sentAt)),
    drain,
    close: () => {
      closed = true;
      clearTimeout(timer);
    },
  };
}

/** Turns the queue's subscription (made raw by deliverToQueue) into one that delivers SNS's JSON envelope. */
async function deliverEnvelopes(sns: SNSClient, topicArn: string, queueName: string): Promise<void> {
  let nextToken: string | undefined;
  do {
    const page = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken: nextToken }));
    for (const subscription of page.Subscriptions ?? []) {
      // deliverToQueue subscribes `<queue name>-delivery`, which it relays into the queue.
      if (subscription.Endpoint?.endsWith(`:${queueName}-delivery`) && subscription.SubscriptionArn) {
        await sns.send(
          new SetSubscriptionAttributesCommand({
            SubscriptionArn: subscription.SubscriptionArn,
            AttributeName: "RawMessageDelivery",
            AttributeValue: "false",
          }),
        );
        return;
      }
    }
    nextToken = page.NextToken;
  } while (nextToken);
  throw new Error(`No subscription of ${queueName} on ${topicArn}: the console cannot receive alerts`);
}

/** A notice from its SQS body: SNS's envelope (Subject, Message, Timestamp, MessageId), else the bare message. */
export function alertOf(body: string, messageId: string): ConsoleAlert {
  let envelope: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === "object" && parsed !== null && "Message" in parsed) {
      envelope = parsed as Record<string, unknown>;
    }
  } catch {
    // A raw delivery: the body is the message.
  }
  const message = typeof envelope?.Message === "string" ? envelope.Message : body;
  return {
    id: typeof envelope?.MessageId === "string" ? envelope.MessageId : messageId,
    subject: typeof envelope?.Subject === "string" ? envelope.Subject : "(no subject)",
    message,
    sentAt: typeof envelope?.Timestamp === "string" ? envelope.Timestamp : new Date().toISOString(),
    executions: executionsNamedIn(message),
  };
}

const EXECUTION_ARN = /arn:aws:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]+:([A-Za-z0-9_-]{1,80})/g;

/** The executions a notice names, each once, in order. */
export function executionsNamedIn(message: string): ConsoleAlert["executions"] {
  const named = new Map<string, string>();
  for (const match of message.matchAll(EXECUTION_ARN)) {
    if (!named.has(match[0])) named.set(match[0], match[1] ?? "");
  }
  return [...named].map(([executionArn, name]) => ({ executionArn, name }));
}

function loadAlerts(file: string): ConsoleAlert[] {
  if (!existsSync(file)) return [];
  const alerts: ConsoleAlert[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    try {
      alerts.push(JSON.parse(line) as ConsoleAlert);
    } catch {
      // A line cut short by a killed stack.
    }
  }
  return alerts.slice(-MAX_ALERTS);
}
