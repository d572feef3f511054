// Verifies that no client can take the local stack down: on every port it listens on (API, Step Functions, SQS, S3,
// DynamoDB, SNS, the Bedrock stand-in) a request whose client closes mid-body, a connection reset (RST) mid-body, a
// 100 KB header, a body sent slowly and requests no service can parse each leave every service answering a real
// call, and none of them reaches the process as an uncaught exception or unhandled rejection (which kills
// `npm start`); and that every endpoint takes the credentials a developer already has set (test/test, a profile),
// not only the stack's own. One stack serves every case. It cannot verify clients beyond loopback or TLS (the stack serves
// neither), nor a flood of connections.
import { execFile } from "node:child_process";
import { connect, type Socket } from "node:net";
import { promisify } from "node:util";
import { BedrockClient, GetFoundationModelCommand } from "@aws-sdk/client-bedrock";
import { DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ListExecutionsCommand, SFNClient } from "@aws-sdk/client-sfn";
import { ListTopicsCommand, SNSClient } from "@aws-sdk/client-sns";
import { GetQueueUrlCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../local/emulators";
import {
  AWS_CLIS,
  type E2eStack,
  getJob,
  PIXEL_MODEL_ID,
  sqsEndpoint,
  startE2eStack,
  toolEnvironment,
} from "./helpers";

const execFileAsync = promisify(execFile);
const ANSWER_TIMEOUT_MS = 5_000;
const SLOW_BODY_CHUNKS = 8;
const SLOW_BODY_PAUSE_MS = 40;

let env: E2eStack;
let dynamodb: DynamoDBClient;
let sns: SNSClient;
let bedrock: BedrockClient;
/** Everything that reached the process as uncaught while this file ran. */
const uncaught: unknown[] = [];
const recordUncaught = (error: unknown) => {
  uncaught.push(error);
};

interface Service {
  name: string;
  url: string;
  /** A real call a client of the service makes; resolves to something that shows it was answered. */
  call: () => Promise<unknown>;
}

let services: Service[];

beforeAll(async () => {
  process.on("uncaughtException", recordUncaught);
  process.on("unhandledRejection", recordUncaught);
  env = await startE2eStack({ modelId: PIXEL_MODEL_ID });
  const config = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  dynamodb = new DynamoDBClient({ ...config, endpoint: env.stack.dynamodbUrl });
  sns = new SNSClient({ ...config, endpoint: env.stack.snsUrl });
  bedrock = new BedrockClient({ ...config, endpoint: env.stack.bedrockUrl });
  const { stack } = env;
  services = [
    { name: "API", url: stack.apiUrl, call: async () => (await getJob(env, "no-such-job")).status },
    {
      name: "Step Functions",
      url: stack.stepFunctionsUrl,
      call: async () =>
        Array.isArray(
          (await env.sfn.send(new ListExecutionsCommand({ stateMachineArn: stack.stateMachineArn }))).executions,
        ),
    },
    {
      name: "SQS",
      url: sqsEndpoint(stack),
      call: async () =>
        (await env.sqs.send(new GetQueueUrlCommand({ QueueName: "couch-imagegen-jobs" }))).QueueUrl === stack.queueUrl,
    },
    {
      name: "S3",
      url: stack.s3Url,
      call: async () => (await env.s3.send(new ListObjectsV2Command({ Bucket: stack.bucket }))).Name === stack.bucket,
    },
    {
      name: "DynamoDB",
      url: stack.dynamodbUrl,
      call: async () =>
        (await dynamodb.send(new DescribeTableCommand({ TableName: stack.tableName }))).Table?.TableStatus,
    },
    {
      name: "SNS",
      url: stack.snsUrl,
      call: async () =>
        ((await sns.send(new ListTopicsCommand({}))).Topics ?? []).some(
          (topic) => topic.TopicArn === stack.alertsTopicArn,
        ),
    },
    {
      name: "Bedrock stand-in",
      url: stack.bedrockUrl,
      call: async () =>
        (await bedrock.send(new GetFoundationModelCommand({ modelIdentifier: PIXEL_MODEL_ID }))).modelDetails?.modelId,
    },
  ];
});

afterAll(async () => {
  for (const client of [dynamodb, sns, bedrock]) client?.destroy();
  await env?.stop();
  process.off("uncaughtException", recordUncaught);
  process.off("unhandledRejection", recordUncaught);
});

/** What each service answers to its real call now, by name. */
async function answers(): Promise<Record<string, unknown>> {
  return Object.fromEntries(await Promise.all(services.map(async (service) => [service.name, await service.call()])));
}

const EXPECTED_ANSWERS = {
  API: 404,
  "Step Functions": true,
  SQS: true,
  S3: true,
  DynamoDB: "ACTIVE",
  SNS: true,
  "Bedrock stand-in": PIXEL_MODEL_ID,
};

function open(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** A POST that announces 100 bytes and sends 5, then ends the connection the way `how` says. */
async function abandonMidBody(url: string, how: "close" | "reset"): Promise<void> {
  const socket = await open(url);
  socket.on("error", () => undefined);
  const head = `POST /generate-image HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n`;
  await new Promise<void>((resolve) => socket.write(`${head}{"pro`, () => resolve()));
  if (how === "reset") socket.resetAndDestroy();
  else socket.destroy();
}

/**
 * Writes `parts` (pausing `pauseMs` between them, and awaiting `beforeLastPart` before the last) and resolves with
 * the status line the server answers; past `timeoutMs` it rejects, or with `orNothing` resolves "" (for requests
 * whose own answer the test does not need).
 */
async function statusLine(
  url: string,
  parts: string[],
  {
    pauseMs = 0,
    timeoutMs = ANSWER_TIMEOUT_MS,
    orNothing = false,
    beforeLastPart = Promise.resolve() as Promise<unknown>,
  } = {},
): Promise<string> {
  const socket = await open(url);
  const answered = new Promise<string>((resolve, reject) => {
    let received = "";
    const timer = setTimeout(() => {
      socket.destroy();
      if (orNothing) resolve("");
      else reject(new Error(`${url} gave no status line within ${timeoutMs} ms; got ${JSON.stringify(received)}`));
    }, timeoutMs);
    const settle = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received.split("\r\n")[0] ?? "");
    };
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (received.includes("\r\n")) settle();
    });
    socket.on("close", settle);
    socket.on("error", () => undefined);
  });
  for (const [index, part] of parts.entries()) {
    if (index > 0 && pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    if (index === parts.length - 1) await beforeLastPart;
    if (!socket.destroyed) socket.write(part);
  }
  return answered;
}

describe("every port of the local stack survives its clients", () => {
  beforeEach(() => {
    uncaught.length = 0;
  });

  it("a client that closes mid-body: every service still answers, nothing uncaught", async () => {
    await Promise.all(services.map((service) => abandonMidBody(service.url, "close")));

    expect(await answers()).toEqual(EXPECTED_ANSWERS);
    expect(uncaught).toEqual([]);
  });

  it("a connection reset (RST) mid-body: every service still answers, nothing uncaught", async () => {
    await Promise.all(services.map((service) => abandonMidBody(service.url, "reset")));

    expect(await answers()).toEqual(EXPECTED_ANSWERS);
    expect(uncaught).toEqual([]);
  });

  it("a 100 KB header: 431 Request Header Fields Too Large on every port, then every service still answers", async () => {
    const request = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${"a".repeat(100 * 1024)}\r\n\r\n`;

    const lines = await Promise.all(services.map((service) => statusLine(service.url, [request])));

    expect(lines).toEqual(services.map(() => "HTTP/1.1 431 Request Header Fields Too Large"));
    expect(await answers()).toEqual(EXPECTED_ANSWERS);
    expect(uncaught).toEqual([]);
  });

  it("a body sent slowly holds up no other call, and is answered once it is complete", async () => {
    // Prepare
    const body = JSON.stringify({ prompt: "a lighthouse, slowly", width: 320, height: 320 });
    const step = Math.ceil(body.length / SLOW_BODY_CHUNKS);
    const bodyParts = Array.from({ length: SLOW_BODY_CHUNKS }, (_, index) =>
      body.slice(index * step, (index + 1) * step),
    );
    const head = `POST /generate-image HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;

    let answersArrived = () => {};
    const answeredMeanwhile = new Promise<void>((resolve) => {
      answersArrived = resolve;
    });

    // Act: every slow body holds back its last part until the real calls, made meanwhile, are answered.
    const slow = Promise.all(
      services.map((service) =>
        statusLine(service.url, [head, ...bodyParts], {
          pauseMs: SLOW_BODY_PAUSE_MS,
          beforeLastPart: answeredMeanwhile,
        }),
      ),
    );
    const meanwhile = await answers();
    answersArrived();
    const slowLines = await slow;

    // Assess
    expect(meanwhile).toEqual(EXPECTED_ANSWERS);
    // Each service answers in its own way (the API accepts the job; the others refuse a request not theirs).
    expect(slowLines).toEqual(services.map(() => expect.stringMatching(/^HTTP\/1\.1 \d{3} /)));
    expect(slowLines[0]).toBe("HTTP/1.1 202 Accepted");
    expect(uncaught).toEqual([]);
  });

  it("requests no service can parse (a JSON-protocol call without X-Amz-Target, a path that is no URL): nothing uncaught", async () => {
    const unparseable = [
      "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 1\r\n\r\n{",
      "GET //%% HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ];

    await Promise.all(
      services.flatMap((service) =>
        unparseable.map((request) => statusLine(service.url, [request], { timeoutMs: 300, orNothing: true })),
      ),
    );

    expect(await answers()).toEqual(EXPECTED_ANSWERS);
    expect(uncaught).toEqual([]);
  });
});

describe("credentials a developer already has set", () => {
  const someoneElses = { accessKeyId: "test", secretAccessKey: "test" };

  it("every local endpoint answers an SDK client signing with other credentials (test/test)", async () => {
    const config = { region: LOCAL_REGION, credentials: someoneElses };
    const s3 = new S3Client({ ...config, endpoint: env.stack.s3Url, forcePathStyle: true });
    const sfn = new SFNClient({ ...config, endpoint: env.stack.stepFunctionsUrl });
    const sqs = new SQSClient({ ...config, endpoint: sqsEndpoint(env.stack) });
    const table = new DynamoDBClient({ ...config, endpoint: env.stack.dynamodbUrl });

    const answers = await Promise.all([
      s3.send(new ListObjectsV2Command({ Bucket: env.stack.bucket })),
      sfn.send(new ListExecutionsCommand({ stateMachineArn: env.stack.stateMachineArn })),
      sqs.send(new GetQueueUrlCommand({ QueueName: "couch-imagegen-jobs" })),
      table.send(new DescribeTableCommand({ TableName: env.stack.tableName })),
    ]);

    expect(answers.map((answer) => answer.$metadata.httpStatusCode)).toEqual([200, 200, 200, 200]);
  });

  it.each(AWS_CLIS.map((cli) => [cli.label, cli] as const))(
    "aws s3 ls with AWS_ACCESS_KEY_ID=test lists the bucket (%s)",
    async (_label, cli) => {
      if (!cli.path) {
        if (process.env.CI) throw new Error(cli.missing);
        return;
      }
      const key = `${env.stack.keyPrefix}/credentials-check.txt`;
      await env.s3.send(
        new PutObjectCommand({ Bucket: env.stack.bucket, Key: key, Body: "placed with the stack's keys" }),
      );

      const { stdout } = await execFileAsync(
        cli.path,
        ["--region", LOCAL_REGION, "--endpoint-url", env.stack.s3Url, "s3", "ls", `s3://${env.stack.bucket}/${key}`],
        { env: { ...toolEnvironment(), AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" }, timeout: 30_000 },
      );

      expect(stdout).toContain("credentials-check.txt");
    },
  );
});
