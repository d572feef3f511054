import { mkdirSync } from "node:fs";
import type { RequestListener, Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { SQSClient } from "@aws-sdk/client-sqs";
import dynalite from "dynalite";
import S3rver from "s3rver";
import S3rverAccount from "s3rver/lib/models/account.js";
import { trackAndListen } from "./http-server";
import { type SnsEndpoint, startSnsEndpoint } from "./sns-endpoint";
import { type JournaledSqs, startJournaledSqs } from "./sqs-journal";

export interface Emulator {
  url: string;
  port: number;
  close: () => Promise<void>;
}

export interface Emulators {
  sqs: JournaledSqs;
  s3: Emulator;
  dynamodb: Emulator;
  sns: SnsEndpoint;
}

export interface EmulatorPorts {
  sqs: number;
  s3: number;
  dynamodb: number;
  sns: number;
}

/** The local stack's own clients use this pair; every local endpoint also accepts any other (see acceptAnyS3AccessKey). */
export const LOCAL_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;
export const LOCAL_REGION = "us-east-1";
export const LOCAL_ACCOUNT = "123456789012";

/**
 * The npm emulators, each speaking the real AWS protocol, all on 127.0.0.1:
 * SQS `local-aws-sqs` (JSON and query protocols, so the SDK and every AWS CLI work; in memory, with the messages of
 * `journaledQueues` journaled under dataDir so none is lost when the stack stops),
 * S3 `s3rver` (files under dataDir/s3), DynamoDB `dynalite` (LevelDB under dataDir/dynamodb),
 * SNS `fauxqs` (in-process behind a loopback front that hands SQS requests to the SQS emulator).
 */
export async function startEmulators(
  dataDir: string,
  ports: EmulatorPorts,
  journaledQueues: readonly string[],
  log?: (entry: Record<string, unknown>) => void,
): Promise<Emulators> {
  const started: Emulator[] = [];
  try {
    const sqs = await startSqs(dataDir, ports.sqs, journaledQueues);
    started.push(sqs);
    const s3 = await startS3(join(dataDir, "s3"), ports.s3);
    started.push(s3);
    const dynamodb = await startDynamoDb(join(dataDir, "dynamodb"), ports.dynamodb);
    started.push(dynamodb);
    const sns = await startSns(ports.sns, sqs.url, log);
    started.push(sns);
    return { sqs, s3, dynamodb, sns };
  } catch (error) {
    await Promise.allSettled(started.map((emulator) => emulator.close()));
    throw error;
  }
}

async function startSqs(dataDir: string, port: number, journaledQueues: readonly string[]): Promise<JournaledSqs> {
  mkdirSync(dataDir, { recursive: true });
  return startJournaledSqs({
    port,
    journalFile: join(dataDir, "sqs-journal.jsonl"),
    queueNames: journaledQueues,
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT,
  });
}

async function startS3(directory: string, port: number): Promise<Emulator> {
  mkdirSync(directory, { recursive: true });
  acceptAnyS3AccessKey();
  const server = new S3rver({ port, address: "127.0.0.1", silent: true, directory, allowMismatchedSignatures: true });
  const address = (await server.run()) as AddressInfo;
  return { url: `http://127.0.0.1:${address.port}`, port: address.port, close: () => server.close() };
}

/**
 * s3rver knows one access key (S3RVER) and answers InvalidAccessKeyId to any other, while every other local endpoint
 * takes whatever credentials a shell has set (`test`, a real profile). Any key id now maps to its one account; it
 * verifies no SigV4 signature anyway, and allowMismatchedSignatures covers SigV2.
 */
function acceptAnyS3AccessKey(): void {
  const { registry, DUMMY_ACCOUNT } = S3rverAccount;
  if (registry instanceof AnyKeyRegistry) return;
  S3rverAccount.registry = new AnyKeyRegistry(registry, DUMMY_ACCOUNT);
}

class AnyKeyRegistry<Account> extends Map<string, Account> {
  constructor(
    known: Map<string, Account>,
    private readonly fallback: Account,
  ) {
    super(known);
  }

  override get(accessKeyId: string): Account | undefined {
    return super.get(accessKeyId) ?? this.fallback;
  }
}

async function startDynamoDb(directory: string, port: number): Promise<Emulator> {
  mkdirSync(directory, { recursive: true });
  const server = dynalite({ path: directory, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  survivingAbortedRequests(server);
  const loopback = await trackAndListen(server, port);
  return { url: loopback.url, port: loopback.port, close: loopback.close };
}

/**
 * dynalite rethrows a request's stream error from its 'error' listener, so a client that closes or resets mid-body
 * ("aborted") raised an uncaught exception that stopped the whole stack; this swaps that listener for one that only
 * drops the exchange.
 */
function survivingAbortedRequests(server: Server): void {
  const handlers = server.listeners("request") as RequestListener[];
  server.removeAllListeners("request");
  server.on("request", (request, response) => {
    for (const handler of handlers) handler(request, response);
    request.removeAllListeners("error");
    request.on("error", () => response.destroy());
  });
}

async function startSns(
  port: number,
  sqsUrl: string,
  log: ((entry: Record<string, unknown>) => void) | undefined,
): Promise<SnsEndpoint> {
  const sqsClient = new SQSClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint: sqsUrl });
  const sns = await startSnsEndpoint({ port, sqsUrl, sqsClient, log }).catch((error: unknown) => {
    sqsClient.destroy();
    throw error;
  });
  return {
    ...sns,
    close: async () => {
      await sns.close();
      sqsClient.destroy();
    },
  };
}
