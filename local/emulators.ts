import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import dynalite from "dynalite";
import { buildApp } from "fauxqs";
import S3rver from "s3rver";
import { trackAndListen } from "./http-server";
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
  sns: Emulator;
}

export interface EmulatorPorts {
  sqs: number;
  s3: number;
  dynamodb: number;
  sns: number;
}

/** s3rver checks the access key; the local stack's clients all use this pair, which the other emulators accept. */
export const LOCAL_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;
export const LOCAL_REGION = "us-east-1";
export const LOCAL_ACCOUNT = "123456789012";

/**
 * The npm emulators, each speaking the real AWS protocol, all on 127.0.0.1:
 * SQS `local-aws-sqs` (JSON and query protocols, so the SDK and Debian's AWS CLI 2.9 both work; in memory, with the
 * jobs queue's messages journaled under dataDir so none is lost when the stack stops),
 * S3 `s3rver` (files under dataDir/s3), DynamoDB `dynalite` (LevelDB under dataDir/dynamodb),
 * SNS `fauxqs` (its app built here and bound to loopback; its own CLI binds 0.0.0.0).
 */
export async function startEmulators(
  dataDir: string,
  ports: EmulatorPorts,
  journaledQueue: string,
): Promise<Emulators> {
  const started: Emulator[] = [];
  try {
    const sqs = await startSqs(dataDir, ports.sqs, journaledQueue);
    started.push(sqs);
    const s3 = await startS3(join(dataDir, "s3"), ports.s3);
    started.push(s3);
    const dynamodb = await startDynamoDb(join(dataDir, "dynamodb"), ports.dynamodb);
    started.push(dynamodb);
    const sns = await startSns(ports.sns);
    started.push(sns);
    return { sqs, s3, dynamodb, sns };
  } catch (error) {
    await Promise.allSettled(started.map((emulator) => emulator.close()));
    throw error;
  }
}

async function startSqs(dataDir: string, port: number, journaledQueue: string): Promise<JournaledSqs> {
  mkdirSync(dataDir, { recursive: true });
  return startJournaledSqs({
    port,
    journalFile: join(dataDir, "sqs-journal.jsonl"),
    queueName: journaledQueue,
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT,
  });
}

async function startS3(directory: string, port: number): Promise<Emulator> {
  mkdirSync(directory, { recursive: true });
  const server = new S3rver({ port, address: "127.0.0.1", silent: true, directory });
  const address = (await server.run()) as AddressInfo;
  return { url: `http://127.0.0.1:${address.port}`, port: address.port, close: () => server.close() };
}

async function startDynamoDb(directory: string, port: number): Promise<Emulator> {
  mkdirSync(directory, { recursive: true });
  const server = dynalite({ path: directory, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const loopback = await trackAndListen(server, port);
  return { url: loopback.url, port: loopback.port, close: loopback.close };
}

async function startSns(port: number): Promise<Emulator> {
  const app = buildApp({ logger: false });
  await app.listen({ port, host: "127.0.0.1" });
  const { port: actual } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${actual}`, port: actual, close: () => app.close() };
}
