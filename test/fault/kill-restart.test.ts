// The local stack killed (SIGKILL) in the middle of a burst of SQS and API jobs, then started again on the same data
// directory and ports, as `npm start` would be. What is guaranteed, and what this checks:
// - API path, here and on AWS: the 202 is sent only after StartExecution returned, and the local Step Functions
//   endpoint writes the execution to disk before it answers, so every accepted API job exists as an execution even
//   after a kill, and ends SUCCEEDED or FAILED after the restart (RUNNING ones start again from the beginning).
// - SQS path on AWS: a message stays in SQS until start-job's batch succeeded; killed mid-batch, Lambda's poller
//   sees it again after the visibility timeout, with the same message id, and start-job starts it or finds its
//   execution (the jobId is the message id). Nothing is lost, nothing runs twice.
// - SQS path locally: the SQS emulator keeps messages in memory, but the stack journals every message accepted for
//   the jobs queue (dataDir/sqs-journal.jsonl) and marks it done once consumed; on restart it hands what is left to
//   the start-job adapter with the original ids, as SQS would redeliver them. A last batch is sent just before the
//   kill so that some messages are still in the queue; the test checks the restart redelivers exactly the journal's
//   pending messages and that every job then ends SUCCEEDED exactly once, with one image, none stuck.
// - The waiting room: the generate queue is not journaled (a restarted execution sends a new message with a new
//   token). The kill comes while a job's image is in S3 and its execution is still running (best effort: the window
//   is short), and no job pays Bedrock twice: counted from the stand-in's log lines (one per image drawn, naming the
//   prompt's hash), a job whose image was in S3 (staged or promoted) when the stack died is not drawn again, and no
//   job is drawn twice after the restart. A job drawn before the kill and again after it is one whose answer died
//   with the process before the image was staged: that call is lost, as it is when a Lambda dies at that moment.
// Not shown: AWS's own recovery (Step Functions resumes an execution where it was, not from its first state).
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from "@aws-sdk/client-sfn";
import { GetQueueUrlCommand, SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../local/emulators";
import { SqsJournal } from "../../local/sqs-journal";
import { freePorts, pollUntil, toolEnvironment } from "../e2e/helpers";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PORT_FLAGS = [
  "--api-port",
  "--sfn-port",
  "--sqs-port",
  "--s3-port",
  "--dynamodb-port",
  "--sns-port",
  "--bedrock-port",
  "--console-port",
];
const SQS_JOBS = 20;
const API_JOBS = 10;
// Nova Canvas, named per request, takes pixel sizes: small stand-in images keep the burst about the pipeline.
const SMALL = { width: 320, height: 320, model: "amazon.nova-canvas-v1:0" };

interface Ports {
  api: number;
  sfn: number;
  sqs: number;
  s3: number;
}

let dataDir: string;
let ports: Ports;
let portArgs: string[];
let child: ChildProcess | undefined;

/** Everything each run of the stack printed (its log lines included), in order. */
const outputs: string[] = [];

/** `node --import tsx local/start.ts ...` until its banner says ready; returns the banner. */
async function startStack(fresh: boolean): Promise<string> {
  const args = [
    "--import",
    "tsx",
    join(REPO_ROOT, "local", "start.ts"),
    "--data-dir",
    dataDir,
    ...portArgs,
    // Jobs stay in GenerateImage long enough to be killed there; retries ×0.01 as in the other fault tests.
    "--bedrock-latency-ms",
    "1500",
    "--retry-time-scale",
    "0.01",
    // Not --quiet: the stand-in's log lines are how the test counts the images drawn per job.
    ...(fresh ? ["--fresh"] : []),
  ];
  const started = spawn(process.execPath, args, { cwd: REPO_ROOT, env: toolEnvironment(), stdio: "pipe" });
  child = started;
  const run = outputs.push("") - 1;
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    outputs[run] = output;
  };
  started.stdout?.on("data", collect);
  started.stderr?.on("data", collect);
  await pollUntil(
    "the local stack's ready banner",
    async () => ({ output, exited: started.exitCode }),
    (state) => state.output.includes("ready in") || state.exited !== null,
    30_000,
  );
  if (!output.includes("ready in")) throw new Error(`The local stack did not start:\n${output}`);
  return output;
}

async function kill(signal: NodeJS.Signals): Promise<void> {
  const running = child;
  child = undefined;
  if (!running || running.exitCode !== null) return;
  const exited = once(running, "exit");
  running.kill(signal);
  await exited;
}

/** Jobs whose image is in local S3 (staged or promoted), from s3rver's files: its metadata is written last. */
function jobsWithAnImage(): Set<string> {
  const jobs = new Set<string>();
  for (const folder of ["staging", "generated_images"]) {
    const directory = join(dataDir, "s3", "couch-imagegen-local", "local", folder);
    if (!existsSync(directory)) continue;
    for (const file of readdirSync(directory)) {
      const jobId = /^(.+)\.png\._S3rver_metadata\.json$/.exec(file)?.[1];
      if (jobId) jobs.add(jobId);
    }
  }
  return jobs;
}

/** Images the stand-in drew in one run, by the first 12 hex digits of the prompt's SHA-256 (its log names no job). */
function imagesDrawn(output: string): Map<string, number> {
  const drawn = new Map<string, number>();
  for (const [, hash] of output.matchAll(/200 InvokeModel .* images=1 prompt-sha256=([0-9a-f]{12})/g)) {
    drawn.set(hash!, (drawn.get(hash!) ?? 0) + 1);
  }
  return drawn;
}

function promptHash(prompt: string): string {
  return createHash("sha256").update(prompt).digest("hex").slice(0, 12);
}

/** Executions on disk: name → status, as the local Step Functions endpoint persisted them. */
function executionsOnDisk(): Map<string, string> {
  const directory = join(dataDir, "executions");
  const files = readdirSync(directory).filter((name) => name.endsWith(".json"));
  return new Map(
    files.map((file) => {
      const record = JSON.parse(readFileSync(join(directory, file), "utf8")) as { name: string; status: string };
      return [record.name, record.status];
    }),
  );
}

const clientConfig = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "couch-imagegen-kill-"));
  const [api, sfn, sqs, s3, ...rest] = await freePorts(PORT_FLAGS.length);
  ports = { api: api!, sfn: sfn!, sqs: sqs!, s3: s3! };
  portArgs = PORT_FLAGS.flatMap((flag, index) => [flag, String([api, sfn, sqs, s3, ...rest][index])]);
});

afterAll(async () => {
  await kill("SIGTERM");
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the local stack killed mid-burst and started again", () => {
  it("ends every accepted job SUCCEEDED exactly once, none lost, none stuck", { timeout: 90_000 }, async () => {
    await startStack(true);
    const sqs = new SQSClient({ ...clientConfig, endpoint: `http://127.0.0.1:${ports.sqs}` });
    const { QueueUrl: queueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: "couch-imagegen-jobs" }));

    // The burst: 20 messages in batches of 10 and 10 POSTs, at once.
    const [sent, posted] = await Promise.all([
      Promise.all([0, 10].map((start) => sendBatch(sqs, queueUrl ?? "", start, 10))).then((batches) => batches.flat()),
      Promise.all(
        Array.from({ length: API_JOBS }, async (_, index) => {
          const jobId = `kill-api-${index}`;
          const response = await fetch(`http://127.0.0.1:${ports.api}/generate-image`, {
            method: "POST",
            headers: { "content-type": "application/json", "idempotency-key": jobId },
            body: JSON.stringify({ prompt: apiPrompt(index), ...SMALL }),
          });
          return { jobId, status: response.status };
        }),
      ),
    ]);
    const acceptedApi = posted.filter((post) => post.status === 202).map((post) => post.jobId);
    expect(sent).toHaveLength(SQS_JOBS);
    expect(acceptedApi).toHaveLength(API_JOBS);

    // Kill while executions are in flight, one of them with its image in S3 (it is past the generator).
    await pollUntil(
      "ten executions on disk, some still running, one of them with its image in S3",
      async () => ({ executions: executionsOnDisk(), images: jobsWithAnImage() }),
      ({ executions, images }) =>
        executions.size >= 10 && [...executions].some(([jobId, status]) => status === "RUNNING" && images.has(jobId)),
      20_000,
    );
    // A last batch, then the kill at once: these are in the queue (or just received) when the process dies.
    const lastBatch = await sendBatch(sqs, queueUrl ?? "", 20, 10);
    sqs.destroy();
    await kill("SIGKILL");
    const pendingAtKill = journalPending();
    const atKill = executionsOnDisk();
    const imagesAtKill = jobsWithAnImage();
    expect([...atKill.values()]).toContain("RUNNING");
    // Whatever had not started when the process died is still in the journal: nothing the queue accepted is lost.
    expect(lastBatch.filter((message) => !atKill.has(message.id) && !pendingAtKill.includes(message.id))).toEqual([]);
    // The API guarantee: every 202 is an execution on disk.
    expect(acceptedApi.filter((jobId) => !atKill.has(jobId))).toEqual([]);

    const banner = await startStack(false);
    const resumed = Number(/Resumed (\d+) execution/.exec(banner)?.[1] ?? 0);
    expect(resumed).toBe([...atKill.values()].filter((status) => status === "RUNNING").length);

    // No help from the test: the journal's pending messages went to start-job again, with their ids.
    const redelivered = Number(/Redelivered (\d+) queued message/.exec(banner)?.[1] ?? 0);
    expect(redelivered).toBe(pendingAtKill.length);
    const stateMachineArn = /state machine (arn:\S+)/.exec(banner)?.[1] ?? "";

    const sfn = new SFNClient({ ...clientConfig, endpoint: `http://127.0.0.1:${ports.sfn}` });
    const jobIds = [...sent.map((message) => message.id), ...lastBatch.map((message) => message.id), ...acceptedApi];
    const executionArn = (jobId: string) => `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${jobId}`;
    const describeAll = () =>
      Promise.all(jobIds.map((jobId) => sfn.send(new DescribeExecutionCommand({ executionArn: executionArn(jobId) }))));
    const executions = await pollUntil(
      "every job to end",
      describeAll,
      (all) => all.every((execution) => execution.status !== "RUNNING"),
      45_000,
    ).catch(async (error: Error) => {
      // Say which jobs did not end well, and what the restarted stack logged of them, so a failure can be read.
      const unfinished = (await describeAll()).filter((execution) => execution.status !== "SUCCEEDED");
      const lines = (outputs.at(-1) ?? "").split("\n");
      const report = unfinished.map(({ name, status, error: failure, cause }) => ({
        name,
        status,
        failure,
        cause,
        logged: lines.filter((line) => name && line.includes(name)).slice(-8),
      }));
      throw new Error(`${error.message}\nNot SUCCEEDED after the restart: ${JSON.stringify(report, null, 1)}`);
    });
    const statuses = executions.map((execution) => execution.status);
    const listed = await sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: 1000 }));
    sfn.destroy();

    expect(statuses).toEqual(jobIds.map(() => "SUCCEEDED"));
    expect((listed.executions ?? []).map((execution) => execution.name).sort()).toEqual([...jobIds].sort());
    const s3 = new S3Client({ ...clientConfig, endpoint: `http://127.0.0.1:${ports.s3}`, forcePathStyle: true });
    const keys = async (prefix: string) =>
      (
        (await s3.send(new ListObjectsV2Command({ Bucket: "couch-imagegen-local", Prefix: prefix }))).Contents ?? []
      ).map((object) => object.Key);
    expect((await keys("local/generated_images/")).sort()).toEqual(
      jobIds.map((jobId) => `local/generated_images/${jobId}.png`).sort(),
    );
    expect(await keys("local/staging/")).toEqual([]);
    s3.destroy();

    // No job paid Bedrock twice.
    const prompts = new Map([
      ...[...sent, ...lastBatch].map((message) => [message.id, JSON.parse(message.body).prompt as string] as const),
      ...acceptedApi.map((jobId) => [jobId, apiPrompt(Number(jobId.split("-").at(-1)))] as const),
    ]);
    const [before, after] = outputs.map(imagesDrawn) as [Map<string, number>, Map<string, number>];
    const draws = jobIds.map((jobId) => {
      const hash = promptHash(prompts.get(jobId) ?? "");
      return {
        jobId,
        before: before.get(hash) ?? 0,
        after: after.get(hash) ?? 0,
        imageAtKill: imagesAtKill.has(jobId),
      };
    });
    expect(draws.filter((draw) => draw.before + draw.after === 0)).toEqual([]);
    expect(draws.filter((draw) => draw.after > 1 || (draw.imageAtKill && draw.after > 0))).toEqual([]);
    expect(draws.filter((draw) => draw.before > 1)).toEqual([]);
  });
});

function apiPrompt(index: number): string {
  return `kill test request ${index}: a lighthouse`;
}

/** Sends `count` job messages numbered from `start` in one batch; returns their ids and bodies. */
async function sendBatch(sqs: SQSClient, queueUrl: string, start: number, count: number) {
  const bodies = Array.from({ length: count }, (_, index) =>
    JSON.stringify({ prompt: `kill test message ${start + index}: a lighthouse`, ...SMALL }),
  );
  const result = await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: bodies.map((body, index) => ({ Id: String(index), MessageBody: body })),
    }),
  );
  return (result.Successful ?? []).map((entry) => ({
    id: entry.MessageId ?? "",
    body: bodies[Number(entry.Id)] ?? "",
  }));
}

/** The messages the journal on disk holds as not yet consumed. */
function journalPending(): string[] {
  return new SqsJournal(join(dataDir, "sqs-journal.jsonl")).pending().map((message) => message.messageId);
}
