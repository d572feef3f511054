// Shared by the e2e files: start the local stack in this process on free ports, talk to it as a client would
// (HTTP, SDK clients, the AWS CLI), and wait for jobs with bounded polls that fail with what they last saw.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { GetObjectCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  DescribeExecutionCommand,
  type ExecutionListItem,
  ListExecutionsCommand,
  SFNClient,
} from "@aws-sdk/client-sfn";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { PNG } from "pngjs";
import type { JobStatus } from "../../functions/job-status/job-status";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../local/emulators";
import { FREE_PORTS, type LocalStack, type LocalStackOptions, startLocalStack } from "../../local/local-stack";

const execFileAsync = promisify(execFile);

/**
 * Debian's awscli 2.9 as the team uses it (it speaks SQS's query protocol; the SDK speaks JSON), else the first
 * `aws` on PATH (GitHub's runners ship AWS CLI v2 in /usr/local/bin); AWS_CLI_PATH overrides both.
 */
export const AWS_CLI =
  process.env.AWS_CLI_PATH ?? (existsSync("/usr/bin/aws") ? "/usr/bin/aws" : (pathOf("aws") ?? "/usr/bin/aws"));
const cliMissing = !existsSync(AWS_CLI);
/** Tests that need the AWS CLI skip without it on a laptop; in CI (`CI` set) they run and fail saying what to install. */
export const skipWithoutAwsCli = cliMissing && !process.env.CI;

/**
 * The legacy model that takes pixel sizes. Files that test the pipeline's mechanics rather than a model make it
 * their stack's default, so their jobs draw small (320x320) stand-in images; test/e2e/models.test.ts covers the
 * current default model and every other one.
 */
export const PIXEL_MODEL_ID = "amazon.nova-canvas-v1:0";

export const JOB_POLL_TIMEOUT_MS = 15_000;
const POLL_INTERVAL_MS = 25;
const TERMINAL_JOB_STATES = new Set(["SUCCEEDED", "FAILED", "REJECTED"]);

export interface E2eStack {
  stack: LocalStack;
  /** Every log line the stack wrote, for failure messages. */
  logs: string[];
  s3: S3Client;
  sfn: SFNClient;
  sqs: SQSClient;
  stop: () => Promise<void>;
}

/**
 * Starts the whole local stack in this process: every port free (0), a fresh data dir, retry intervals ×0.01, failure
 * notices gathered for 0.2 s rather than the local default of 10 s (a test waits for the notice of one job).
 * The handler modules load once per process with this stack's endpoints, so a test file starts exactly one.
 */
export async function startE2eStack(
  options: Omit<LocalStackOptions, "ports" | "dataDir" | "fresh" | "log"> = {},
): Promise<E2eStack> {
  const dataDir = mkdtempSync(join(tmpdir(), "couch-imagegen-e2e-"));
  const logs: string[] = [];
  const stack = await startLocalStack({
    retryTimeScale: 0.01,
    noticeWindowMs: 200,
    ...options,
    ports: FREE_PORTS,
    dataDir,
    log: (line) => logs.push(line),
  });
  const clientConfig = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const s3 = new S3Client({
    ...clientConfig,
    endpoint: stack.s3Url,
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const sfn = new SFNClient({ ...clientConfig, endpoint: stack.stepFunctionsUrl });
  const sqs = new SQSClient({ ...clientConfig, endpoint: sqsEndpoint(stack) });
  return {
    stack,
    logs,
    s3,
    sfn,
    sqs,
    stop: async () => {
      for (const client of [s3, sfn, sqs]) client.destroy();
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The SQS endpoint URL (the queue URL without its path), as `--endpoint-url` takes it. */
export function sqsEndpoint(stack: LocalStack): string {
  return new URL(stack.queueUrl).origin;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** The parsed JSON body (every answer of this API is JSON). */
  body: Record<string, unknown>;
}

/** POST /generate-image. An object body is sent as JSON; a string body is sent as it is. */
export async function postGenerateImage(
  env: E2eStack,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const response = await fetch(`${env.stack.apiUrl}/generate-image`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

/** POSTs a job that must be accepted, and returns its jobId. */
export async function submitJob(env: E2eStack, body: unknown, headers: Record<string, string> = {}): Promise<string> {
  const response = await postGenerateImage(env, body, headers);
  if (response.status !== 202) {
    throw new Error(`POST /generate-image answered ${response.status}, not 202: ${JSON.stringify(response.body)}`);
  }
  return String(response.body.jobId);
}

export async function getJob(env: E2eStack, jobId: string): Promise<{ status: number; job: JobStatus }> {
  const response = await fetch(`${env.stack.apiUrl}/jobs/${encodeURIComponent(jobId)}`);
  return { status: response.status, job: (await response.json()) as JobStatus };
}

/**
 * Polls GET /jobs/{jobId} until the job is SUCCEEDED, FAILED or REJECTED, at most `timeoutMs`. On timeout it
 * fails with the last answer, the execution as Step Functions describes it and the stack's last log lines.
 */
export async function waitForJob(env: E2eStack, jobId: string, timeoutMs = JOB_POLL_TIMEOUT_MS): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: { status: number; job: JobStatus } | undefined;
  while (Date.now() < deadline) {
    last = await getJob(env, jobId);
    if (last.status === 200 && TERMINAL_JOB_STATES.has(last.job.status)) return last.job;
    await sleep(POLL_INTERVAL_MS);
  }
  const execution = await env.sfn
    .send(new DescribeExecutionCommand({ executionArn: executionArnOf(env, jobId) }))
    .then((described) => `${described.status} ${described.error ?? ""} ${described.cause ?? ""}`)
    .catch((error: unknown) => String(error));
  throw new Error(
    `Job ${jobId} did not finish within ${timeoutMs} ms. Last GET /jobs answer: ${JSON.stringify(last)}. ` +
      `Execution: ${execution}. Last stack log lines:\n${env.logs.slice(-15).join("\n")}`,
  );
}

/** Polls DescribeExecution until the execution is no longer RUNNING, at most `timeoutMs`. */
export async function waitForExecution(env: E2eStack, executionArn: string, timeoutMs = JOB_POLL_TIMEOUT_MS) {
  return pollUntil(
    `execution ${executionArn} to finish`,
    () => env.sfn.send(new DescribeExecutionCommand({ executionArn })),
    (execution) => execution.status !== "RUNNING",
    timeoutMs,
  );
}

/** Calls `read` until `done` accepts its result, at most `timeoutMs`; the failure names what it waited for. */
export async function pollUntil<T>(
  waitingFor: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = JOB_POLL_TIMEOUT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (done(last)) return last;
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${waitingFor}; last seen: ${describeValue(last)}`);
}

function describeValue(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, field) => (typeof field === "bigint" ? String(field) : field))?.slice(0, 2000);
  } catch {
    return String(value);
  }
}

export function executionArnOf(env: E2eStack, jobId: string): string {
  return `${env.stack.stateMachineArn.replace(":stateMachine:", ":execution:")}:${jobId}`;
}

/** Every execution of the state machine (all pages of ListExecutions), newest first. */
export async function listExecutions(
  env: E2eStack,
  statusFilter?: "FAILED" | "SUCCEEDED",
): Promise<ExecutionListItem[]> {
  const executions: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  do {
    const page = await env.sfn.send(
      new ListExecutionsCommand({ stateMachineArn: env.stack.stateMachineArn, statusFilter, nextToken }),
    );
    executions.push(...(page.executions ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return executions;
}

export function imageKeyOf(env: E2eStack, jobId: string): string {
  return `${env.stack.keyPrefix}/generated_images/${jobId}.png`;
}

export function stagingKeyOf(env: E2eStack, jobId: string): string {
  return `${env.stack.keyPrefix}/staging/${jobId}.png`;
}

export interface StoredImage {
  bytes: Buffer;
  contentType: string | undefined;
  metadata: Record<string, string>;
  width: number;
  height: number;
  /** The PNG's tEXt chunks by keyword. */
  text: Record<string, string>;
}

/** Reads `{keyPrefix}/generated_images/{jobId}.png` from local S3 and decodes it (pngjs checks every chunk's CRC). */
export async function readImage(env: E2eStack, jobId: string): Promise<StoredImage> {
  const object = await env.s3.send(new GetObjectCommand({ Bucket: env.stack.bucket, Key: imageKeyOf(env, jobId) }));
  const bytes = Buffer.from(await object.Body!.transformToByteArray());
  const { width, height } = PNG.sync.read(bytes);
  return {
    bytes,
    contentType: object.ContentType,
    metadata: object.Metadata ?? {},
    width,
    height,
    text: pngText(bytes),
  };
}

/** Whether the object exists in the stack's bucket. */
export async function objectExists(env: E2eStack, key: string): Promise<boolean> {
  try {
    await env.s3.send(new HeadObjectCommand({ Bucket: env.stack.bucket, Key: key }));
    return true;
  } catch (error) {
    if (error instanceof Error && (error.name === "NotFound" || error.name === "NoSuchKey")) return false;
    throw error;
  }
}

/** tEXt chunks by keyword (pngjs decodes pixels but does not expose text chunks). */
export function pngText(png: Buffer): Record<string, string> {
  const text: Record<string, string> = {};
  let offset = 8;
  while (offset + 8 <= png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("latin1", offset + 4, offset + 8);
    if (type === "tEXt") {
      const data = png.subarray(offset + 8, offset + 8 + length);
      const separator = data.indexOf(0);
      text[data.toString("latin1", 0, separator)] = data.toString("latin1", separator + 1);
    }
    if (type === "IEND") break;
    offset += 12 + length;
  }
  return text;
}

/**
 * The alerts inbox: a queue on the SNS emulator (fauxqs), where the alerts topic delivers the failure notices. Each
 * notice is read once, then deleted, and kept here for the questions that follow.
 */
export class AlertsInbox {
  /** Every notice read so far. */
  readonly notices: string[] = [];
  private readonly sqs: SQSClient;

  constructor(private readonly env: E2eStack) {
    this.sqs = new SQSClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint: env.stack.snsUrl });
  }

  /** The notices that name this job, waiting (bounded) for the first to arrive. */
  async noticesNaming(jobId: string): Promise<string[]> {
    const inboxUrl = this.env.stack.alertsInboxUrl;
    return pollUntil(
      `a failure notice naming job ${jobId} in ${inboxUrl}`,
      async () => {
        const { Messages = [] } = await this.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: inboxUrl, MaxNumberOfMessages: 10 }),
        );
        this.notices.push(...Messages.map((message) => message.Body ?? ""));
        if (Messages.length > 0) {
          await this.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: inboxUrl,
              Entries: Messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle })),
            }),
          );
        }
        return this.notices.filter((body) => body.includes(jobId));
      },
      (mine) => mine.length > 0,
    );
  }

  destroy(): void {
    this.sqs.destroy();
  }
}

/** SendMessage with the SDK (JSON protocol); the jobId is the message id it returns. */
export async function sendMessage(env: E2eStack, body: string): Promise<string> {
  const sent = await env.sqs.send(new SendMessageCommand({ QueueUrl: env.stack.queueUrl, MessageBody: body }));
  return sent.MessageId ?? "";
}

/** An environment for child tools without this process's AWS settings (the stack sets endpoints and keys in it). */
export function toolEnvironment(): NodeJS.ProcessEnv {
  const environment = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("AWS_") && !name.startsWith("COUCHGEN_LOCAL_")),
  );
  return {
    ...environment,
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_PAGER: "",
    AWS_EC2_METADATA_DISABLED: "true",
  };
}

/**
 * Runs `aws --no-sign-request --region us-east-1 --output json <args>` (asynchronously: the stack it talks
 * to runs in this process) and returns its parsed JSON output.
 */
export async function awsCli(args: string[]): Promise<Record<string, unknown>> {
  assertAwsCli();
  try {
    const { stdout } = await execFileAsync(
      AWS_CLI,
      ["--no-sign-request", "--region", LOCAL_REGION, "--output", "json", ...args],
      { env: toolEnvironment(), timeout: 30_000 },
    );
    return stdout.trim() === "" ? {} : (JSON.parse(stdout) as Record<string, unknown>);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`aws ${args.join(" ")} failed: ${String(error)}\n${stderr}`);
  }
}

/** What a CLI printed and how it exited. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `<cli> --no-sign-request --region us-east-1 --output json stepfunctions <args> --endpoint-url <endpoint>`, to its
 * exit, failures included (for the tests that check a CLI's error answer): `cli` is either AWS CLI. `environment`
 * adds variables to the CLI's clean environment (the `sync-` host prefix recipes set some).
 */
export async function stepFunctionsCli(
  cli: string,
  endpoint: string,
  args: string[],
  environment: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  const argv = ["--no-sign-request", "--region", LOCAL_REGION, "--output", "json", "stepfunctions", ...args];
  try {
    const { stdout, stderr } = await execFileAsync(cli, [...argv, "--endpoint-url", endpoint], {
      env: { ...toolEnvironment(), ...environment },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === "number" ? failed.code : -1,
      stdout: failed.stdout ?? "",
      stderr: failed.stderr ?? "",
    };
  }
}

export function assertAwsCli(): void {
  if (cliMissing) {
    throw new Error(
      `${AWS_CLI} is missing: these tests drive the local stack with Debian's AWS CLI 2.9, as the team does. ` +
        "Install it with `apt-get install -y awscli` (.ci/run does this in CI).",
    );
  }
}

/** Whether an executable of this name is on PATH. */
export function onPath(name: string): boolean {
  return pathOf(name) !== undefined;
}

function pathOf(name: string): string | undefined {
  return (process.env.PATH ?? "")
    .split(delimiter)
    .filter((directory) => directory !== "")
    .map((directory) => join(directory, name))
    .find((candidate) => existsSync(candidate));
}

/** Ports free on 127.0.0.1 right now (each bound to port 0, read, released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      listen(0).then((server) => ({ server, port: (server.address() as { port: number }).port })),
    ),
  );
  await Promise.all(servers.map(({ server }) => new Promise((resolve) => server.close(resolve))));
  return servers.map(({ port }) => port);
}

/** Binds the port on 127.0.0.1 and releases it; rejects (EADDRINUSE) if something still holds it. */
export async function assertPortFree(port: number): Promise<void> {
  const server = await listen(port);
  await new Promise((resolve) => server.close(resolve));
}

function listen(port: number): Promise<ReturnType<typeof createServer>> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

/** One AWS CLI the printed commands are tried with: where it is, or why it is missing. */
export interface AwsCliUnderTest {
  label: string;
  path: string | undefined;
  /** What to install when `path` is undefined. */
  missing: string;
}

/**
 * The two AWS CLIs that reach the local endpoints differently: Debian's awscli 2.9 at /usr/bin/aws speaks SQS's
 * query protocol; the other `aws` on PATH (AWS CLI v1 from pip, or a current v2 such as GitHub's runners ship)
 * speaks SQS's JSON protocol. Every command `npm start` prints must work with both.
 */
export const AWS_CLIS: AwsCliUnderTest[] = [
  {
    label: "the aws on PATH (SQS JSON protocol)",
    path: pathOfOther("aws", "/usr/bin/aws"),
    missing: "No `aws` other than /usr/bin/aws is on PATH: install AWS CLI v1 (`pip install awscli`) or a current v2",
  },
  {
    label: "/usr/bin/aws, Debian's AWS CLI 2.9 (SQS query protocol)",
    path: existsSync("/usr/bin/aws") ? "/usr/bin/aws" : undefined,
    missing: "/usr/bin/aws is missing: install Debian's AWS CLI 2.9 with `apt-get install -y awscli`",
  },
];

/** The first executable `name` on PATH that is not `other` (nor a link to it). */
function pathOfOther(name: string, other: string): string | undefined {
  const resolvedOther = existsSync(other) ? realpathSync(other) : other;
  return (process.env.PATH ?? "")
    .split(delimiter)
    .filter((directory) => directory !== "")
    .map((directory) => join(directory, name))
    .find((candidate) => existsSync(candidate) && realpathSync(candidate) !== resolvedOther);
}
