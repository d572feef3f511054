// Verifies the local SNS endpoint in-process on free ports, with the real emulators behind it: a topic subscribed to
// a queue of the SQS emulator delivers what is published to it, and that queue answers on the SNS port as on the SQS
// port in both SQS protocols (the query protocol is what Debian's AWS CLI 2.9 speaks, and what fauxqs, serving SNS,
// refused as `InvalidAction … ReceiveMessage`). It cannot verify the AWS CLIs themselves
// (test/e2e/npm-start.test.ts runs the printed commands with both).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateTopicCommand, ListTopicsCommand, PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SnsEndpoint, startSnsEndpoint } from "../../local/sns-endpoint";
import { type JournaledSqs, startJournaledSqs } from "../../local/sqs-journal";
import { pollUntil } from "../e2e/helpers";

const config = { region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } };

let sqs: JournaledSqs;
let sns: SnsEndpoint;
let sqsClient: SQSClient;
let snsClient: SNSClient;
let topicArn: string;
let inboxUrl: string;

beforeAll(async () => {
  sqs = await startJournaledSqs({
    port: 0,
    journalFile: join(mkdtempSync(join(tmpdir(), "sns-endpoint-")), "journal.jsonl"),
    queueNames: [],
    region: "us-east-1",
    accountId: "123456789012",
  });
  sqsClient = new SQSClient({ ...config, endpoint: sqs.url });
  sns = await startSnsEndpoint({ port: 0, sqsUrl: sqs.url, sqsClient });
  snsClient = new SNSClient({ ...config, endpoint: sns.url });
  topicArn = (await snsClient.send(new CreateTopicCommand({ Name: "alerts" }))).TopicArn ?? "";
  inboxUrl = (await sqsClient.send(new CreateQueueCommand({ QueueName: "alerts-inbox" }))).QueueUrl ?? "";
  await sns.deliverToQueue(topicArn, inboxUrl);
});

afterAll(async () => {
  snsClient?.destroy();
  await sns?.close();
  sqsClient?.destroy();
  await sqs?.close();
});

/** ReceiveMessage in the query protocol, as Debian's AWS CLI 2.9 sends it; returns the bodies in the XML answer. */
async function receiveWithQueryProtocol(endpoint: string): Promise<{ status: number; bodies: string[] }> {
  const response = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
    body: new URLSearchParams({ Action: "ReceiveMessage", Version: "2012-11-05", QueueUrl: inboxUrl }),
  });
  const xml = await response.text();
  return { status: response.status, bodies: [...xml.matchAll(/<Body>([^<]*)<\/Body>/g)].map(([, body]) => body ?? "") };
}

describe("the SNS endpoint", () => {
  it("delivers a published message to the subscribed queue, readable on the SNS port in the query protocol", async () => {
    await snsClient.send(new PublishCommand({ TopicArn: topicArn, Message: "job a FAILED" }));

    const received = await pollUntil(
      "the notification in the inbox, read on the SNS port in the query protocol",
      () => receiveWithQueryProtocol(sns.url),
      ({ bodies }) => bodies.length > 0,
      5_000,
    );

    expect(received).toEqual({ status: 200, bodies: ["job a FAILED"] });
  });

  it("serves the same queue on the SNS port in the JSON protocol, and still serves SNS itself", async () => {
    const jsonOnSnsPort = new SQSClient({ ...config, endpoint: sns.url });
    await snsClient.send(new PublishCommand({ TopicArn: topicArn, Message: "job b FAILED" }));

    const received = await pollUntil(
      "the notification in the inbox, read on the SNS port in the JSON protocol",
      () => jsonOnSnsPort.send(new ReceiveMessageCommand({ QueueUrl: inboxUrl, WaitTimeSeconds: 0 })),
      ({ Messages = [] }) => Messages.length > 0,
      5_000,
    );
    const topics = await snsClient.send(new ListTopicsCommand({}));
    jsonOnSnsPort.destroy();

    expect(received.Messages?.map((message) => message.Body)).toEqual(["job b FAILED"]);
    expect(topics.Topics?.map((topic) => topic.TopicArn)).toEqual([topicArn]);
  });

  it("a query-protocol ReceiveMessage on the SQS port reads the same queue", async () => {
    await snsClient.send(new PublishCommand({ TopicArn: topicArn, Message: "job c FAILED" }));

    const received = await pollUntil(
      "the notification in the inbox, read on the SQS port",
      () => receiveWithQueryProtocol(sqs.url),
      ({ bodies }) => bodies.length > 0,
      5_000,
    );

    expect(received.bodies).toEqual(["job c FAILED"]);
  });
});
