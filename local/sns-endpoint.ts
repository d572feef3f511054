import { createServer, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { type MessageAttributeValue, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { buildApp } from "fauxqs";
import { guarded, type LoopbackServer, readBody, trackAndListen } from "./http-server";

export interface SnsEndpoint extends LoopbackServer {
  /** Delivers what `topicArn` publishes to `queueUrl`, a queue of the SQS emulator, raw (the message itself). */
  deliverToQueue: (topicArn: string, queueUrl: string) => Promise<void>;
}

// SNS caps a message at 256 KiB; the query protocol's encoding can triple it.
const MAX_REQUEST_BYTES = 1024 * 1024;
// fauxqs answers a long poll as soon as a message arrives, so an alert is relayed at once. Closing fauxqs ends a
// poll it is waiting on, but not one still on its way in: the wait is short so that close() never waits long.
const RELAY_WAIT_SECONDS = 1;

/**
 * SNS on 127.0.0.1:`port`: the `fauxqs` emulator's topics, subscriptions and Publish, behind a front that hands
 * every SQS request to the SQS emulator at `sqsUrl`, so a queue answers on this port too. fauxqs serves SQS only in
 * its JSON protocol and takes a query-protocol request (Debian's AWS CLI 2.9) for SNS, answering
 * `InvalidAction … ReceiveMessage`; so no queue anyone reads lives in fauxqs. A subscribed queue is the SQS
 * emulator's (both protocols): the topic delivers to a fauxqs queue of its own, which a relay empties into it.
 * fauxqs itself listens nowhere: the front calls it in-process.
 */
export async function startSnsEndpoint(options: {
  port: number;
  sqsUrl: string;
  sqsClient: SQSClient;
  log?: (entry: Record<string, unknown>) => void;
}): Promise<SnsEndpoint> {
  const app = buildApp({ logger: false });
  await app.ready();
  const front = await trackAndListen(
    createServer(
      guarded(async (request, response) => {
        const { body, tooLarge } = await readBody(request, MAX_REQUEST_BYTES);
        if (tooLarge) {
          response.writeHead(413, { "content-type": "text/xml", connection: "close" });
          response.end("<ErrorResponse><Error><Code>RequestEntityTooLarge</Code></Error></ErrorResponse>");
          return;
        }
        const head = { method: request.method ?? "POST", url: request.url ?? "/", headers: request.headers };
        const answer = isSqsRequest(request.headers, body)
          ? await forward(options.sqsUrl, head, body)
          : await injectInto(app, head, body);
        response.writeHead(answer.status, answer.headers);
        response.end(answer.body);
      }),
    ),
    options.port,
  );
  let stopping = false;
  const relays: Promise<void>[] = [];
  const relay = async (fromQueueUrl: string, toQueueUrl: string) => {
    while (!stopping) {
      try {
        const { Messages = [] } = (await fauxqsSqs(app, "ReceiveMessage", {
          QueueUrl: fromQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: RELAY_WAIT_SECONDS,
          MessageAttributeNames: ["All"],
        })) as { Messages?: { Body: string; ReceiptHandle: string; MessageAttributes?: MessageAttributes }[] };
        if (stopping) break;
        for (const message of Messages) {
          await options.sqsClient.send(
            new SendMessageCommand({
              QueueUrl: toQueueUrl,
              MessageBody: message.Body,
              MessageAttributes: message.MessageAttributes,
            }),
          );
          await fauxqsSqs(app, "DeleteMessage", { QueueUrl: fromQueueUrl, ReceiptHandle: message.ReceiptHandle });
        }
      } catch (error) {
        if (stopping) break;
        options.log?.({ level: "WARN", message: "Alert relay failed; retrying in 1 s", error: String(error) });
        await sleep(1000);
      }
    }
  };
  return {
    ...front,
    deliverToQueue: async (topicArn, queueUrl) => {
      const name = `${queueUrl.split("/").pop()}-delivery`;
      const { QueueUrl: deliveryUrl } = (await fauxqsSqs(app, "CreateQueue", { QueueName: name })) as {
        QueueUrl: string;
      };
      const { Attributes } = (await fauxqsSqs(app, "GetQueueAttributes", {
        QueueUrl: deliveryUrl,
        AttributeNames: ["QueueArn"],
      })) as { Attributes: { QueueArn: string } };
      const subscribed = await app.inject({
        method: "POST",
        url: "/",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        payload: new URLSearchParams({
          Action: "Subscribe",
          Version: "2010-03-31",
          TopicArn: topicArn,
          Protocol: "sqs",
          Endpoint: Attributes.QueueArn,
          "Attributes.entry.1.key": "RawMessageDelivery",
          "Attributes.entry.1.value": "true",
        }).toString(),
      });
      if (subscribed.statusCode !== 200) {
        throw new Error(`fauxqs Subscribe: ${subscribed.statusCode} ${subscribed.body}`);
      }
      relays.push(relay(deliveryUrl, queueUrl));
    },
    close: async () => {
      stopping = true;
      await front.close();
      // Closing fauxqs ends the relays' long polls.
      await app.close();
      await Promise.allSettled(relays);
    },
  };
}

type MessageAttributes = Record<string, MessageAttributeValue>;

/** An SQS request in the JSON protocol (`X-Amz-Target: AmazonSQS.*`) or the query protocol (Version 2012-11-05). */
function isSqsRequest(headers: IncomingHttpHeaders, body: Buffer): boolean {
  const target = headers["x-amz-target"];
  if (typeof target === "string") return target.startsWith("AmazonSQS.");
  if (!String(headers["content-type"] ?? "").includes("x-www-form-urlencoded")) return false;
  return new URLSearchParams(body.toString("utf8")).get("Version") === "2012-11-05";
}

/** One SQS call to fauxqs in its JSON protocol, in-process. */
async function fauxqsSqs(app: ReturnType<typeof buildApp>, action: string, input: Record<string, unknown>) {
  const reply = await app.inject({
    method: "POST",
    url: "/",
    headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": `AmazonSQS.${action}` },
    payload: JSON.stringify(input),
  });
  if (reply.statusCode !== 200) throw new Error(`fauxqs ${action}: ${reply.statusCode} ${reply.body}`);
  return reply.json() as unknown;
}

/** The request, its body already read, as fauxqs answers it in-process. */
async function injectInto(
  app: ReturnType<typeof buildApp>,
  request: { method: string; url: string; headers: IncomingHttpHeaders },
  body: Buffer,
): Promise<Answer> {
  const reply = await app.inject({
    method: request.method as "POST",
    url: request.url,
    headers: request.headers as Record<string, string>,
    payload: body,
  });
  return { status: reply.statusCode, headers: reply.headers as IncomingHttpHeaders, body: reply.rawPayload };
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Sends the request, its body already read, to `target` and returns the whole answer. */
function forward(
  target: string,
  request: { method: string; url: string; headers: IncomingHttpHeaders },
  body: Buffer,
): Promise<Answer> {
  const { hostname, port } = new URL(target);
  return new Promise((resolve, reject) => {
    const upstream = httpRequest(
      { host: hostname, port, method: request.method, path: request.url, headers: request.headers },
      (reply) => {
        readBody(reply, Number.POSITIVE_INFINITY).then(
          ({ body: replyBody }) =>
            resolve({ status: reply.statusCode ?? 502, headers: reply.headers, body: replyBody }),
          reject,
        );
      },
    );
    upstream.on("error", reject);
    upstream.end(body);
  });
}
