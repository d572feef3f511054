// `npm start` itself, as a developer runs it: `node --import tsx local/start.ts` in a child process on ports picked
// free, three runs on one data dir. Run 1 (--fresh) prints the endpoints and example commands, the printed curl and
// aws commands work as printed with both AWS CLIs (one speaking SQS's JSON protocol, and Debian's 2.9, which speaks
// its query protocol), nothing listens beyond loopback, a second `--fresh` on its data dir is refused without
// deleting anything, and Ctrl-C (SIGINT) exits 0 and frees every port; run 2 (same data dir) still answers for run
// 1's job and still has its image; run 3 (--fresh) starts empty; a run whose code throws an uncaught exception
// stops, exits 1 and frees its ports and data dir. The steps run in file order, each using what the one before
// left. It cannot show AWS itself: the stack is the local one (emulators and the Bedrock stand-in), and `npm`
// itself is not in the loop (npm start runs this command).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from "@aws-sdk/client-sfn";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobStatus } from "../../functions/job-status/job-status";
import { DATA_DIR_LOCK } from "../../local/data-dir";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../local/emulators";
import { AWS_CLIS, assertPortFree, freePorts, onPath, pollUntil, toolEnvironment } from "./helpers";

const execFileAsync = promisify(execFile);
const REPO = fileURLToPath(new URL("../..", import.meta.url));
const START = fileURLToPath(new URL("../../local/start.ts", import.meta.url));
const PORT_FLAGS = ["api", "sfn", "sqs", "s3", "dynamodb", "sns", "bedrock", "console"] as const;
const READY_LINE = "Ctrl-C stops everything.";
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:ImagePipeline";
/** curl is in the printed commands; like the AWS CLI, it may be missing on a laptop but must be there in CI. */
const skipWithoutCurl = !onPath("curl") && !process.env.CI;

type Ports = Record<(typeof PORT_FLAGS)[number], number>;

/** Every run started, so afterAll can end any that a failed test left running. */
const started: StackProcess[] = [];

/** One `npm start` run: its output so far, and a bounded wait for a line or for its exit. */
class StackProcess {
  output = "";
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    private readonly child: ChildProcess,
    readonly ports: Ports,
  ) {
    child.stdout?.on("data", (chunk: Buffer) => {
      this.output += chunk.toString("utf8");
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      this.output += chunk.toString("utf8");
    });
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  /**
   * Starts `node --import tsx local/start.ts` on free ports and waits (bounded) for its banner. A port taken by
   * another process between picking and binding it makes the stack refuse to start: then it tries new ports, twice.
   */
  static async start(flags: string[], attempts = 3, nodeFlags: string[] = []): Promise<StackProcess> {
    const [api, sfn, sqs, s3, dynamodb, sns, bedrock, consolePort] = await freePorts(PORT_FLAGS.length);
    const ports = { api, sfn, sqs, s3, dynamodb, sns, bedrock, console: consolePort } as Ports;
    const portFlags = PORT_FLAGS.flatMap((name) => [`--${name}-port`, String(ports[name])]);
    const child = spawn(process.execPath, ["--import", "tsx", ...nodeFlags, START, ...flags, ...portFlags], {
      cwd: REPO,
      env: toolEnvironment(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const run = new StackProcess(child, ports);
    started.push(run);
    try {
      await run.waitForOutput(READY_LINE, START_TIMEOUT_MS);
    } catch (error) {
      if (attempts > 1 && /is in use on 127\.0\.0\.1/.test(run.output)) {
        return StackProcess.start(flags, attempts - 1, nodeFlags);
      }
      throw error;
    }
    return run;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.ports.api}`;
  }

  async waitForOutput(text: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => {
      exited = true;
    });
    while (!this.output.includes(text)) {
      if (exited || Date.now() > deadline) {
        throw new Error(
          `npm start ${exited ? "exited" : `did not print ${JSON.stringify(text)} within ${timeoutMs} ms`}; its output:\n${this.output}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Ctrl-C: SIGINT, then the exit (bounded; past the bound it is killed and the test fails). */
  async interrupt(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill("SIGINT");
    return this.exit();
  }

  /** Its exit (bounded; past the bound it is killed and the test fails). */
  async exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS).unref());
    const result = await Promise.race([this.exited, timeout]);
    if (result === "timeout") {
      this.child.kill("SIGKILL");
      throw new Error(`npm start did not exit within ${STOP_TIMEOUT_MS} ms; its output:\n${this.output}`);
    }
    return result;
  }

  /** For afterAll: whatever state the tests left it in, it does not outlive the file. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }

  /** The example commands under "Try it:", without their trailing (explanations). */
  printedCommands(): string[] {
    const tryIt = this.output.slice(this.output.indexOf("Try it:"), this.output.indexOf(READY_LINE));
    return tryIt
      .split("\n")
      .map((line) => line.trim().replace(/\s{3}\(.*\)$/, ""))
      .filter((line) => line.startsWith("curl ") || line.startsWith("aws "));
  }

  printedCommand(pattern: RegExp): string {
    const command = this.printedCommands().find((line) => pattern.test(line));
    if (!command) throw new Error(`npm start printed no command matching ${pattern}; it printed:\n${this.output}`);
    return command;
  }
}

/** Runs a printed command line as a shell runs it, with no AWS settings from this process. */
async function runPrinted(command: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync("sh", ["-c", command], { env: toolEnvironment(), timeout: 30_000 });
    return stdout;
  } catch (error) {
    throw new Error(
      `The printed command failed: ${command}\n${String(error)}\n${(error as { stderr?: string }).stderr}`,
    );
  }
}

/** Runs `npm start` with `args` to its exit (bounded: one that keeps running is killed and counts as code -1). */
async function runToExit(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, ["--import", "tsx", START, ...args], {
      cwd: REPO,
      env: toolEnvironment(),
      timeout: 20_000,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === "number" ? failed.code : -1,
      output: `${failed.stdout ?? ""}${failed.stderr ?? ""}`,
    };
  }
}

async function getJob(run: StackProcess, jobId: string): Promise<{ status: number; job: JobStatus }> {
  const response = await fetch(`${run.apiUrl}/jobs/${jobId}`);
  return { status: response.status, job: (await response.json()) as JobStatus };
}

async function waitForSucceeded(run: StackProcess, jobId: string): Promise<JobStatus> {
  const { job } = await pollUntil(
    `job ${jobId} to be SUCCEEDED`,
    () => getJob(run, jobId),
    ({ job }) => ["SUCCEEDED", "FAILED", "REJECTED"].includes(job.status),
  );
  expect(job.status).toBe("SUCCEEDED");
  return job;
}

/** POSTs a job (not through the printed commands, which need curl) and waits for it to succeed. */
async function submitAndWait(run: StackProcess): Promise<string> {
  const response = await fetch(`${run.apiUrl}/generate-image`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt: "a lighthouse that must survive" }),
  });
  const { jobId } = (await response.json()) as { jobId: string };
  await waitForSucceeded(run, jobId);
  return jobId;
}

function clients(run: StackProcess) {
  const config = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  return {
    sfn: new SFNClient({ ...config, endpoint: `http://127.0.0.1:${run.ports.sfn}` }),
    s3: new S3Client({
      ...config,
      endpoint: `http://127.0.0.1:${run.ports.s3}`,
      forcePathStyle: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
    }),
  };
}

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((address) => address && address.family === "IPv4" && !address.internal)?.address;
}

function unreachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(2000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(true));
  });
}

const dataDir = mkdtempSync(join(tmpdir(), "couch-imagegen-npm-start-"));
/** Run 1's job and image bytes, which run 2 must still have and run 3 must not. */
let firstJob: { jobId: string; image: Buffer } | undefined;

afterAll(() => {
  for (const run of started) run.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

function requireFirstJob(): { jobId: string; image: Buffer } {
  if (!firstJob) throw new Error("Run 1 left no job behind (its curl step failed): see that test's failure");
  return firstJob;
}

describe("run 1: npm start -- --fresh", () => {
  let run: StackProcess;

  beforeAll(async () => {
    run = await StackProcess.start(["--fresh", "--data-dir", dataDir, "--bedrock-concurrency", "2"]);
  });

  it("prints where everything is, with example commands, ready in under 5 s", () => {
    const { api, sfn, sqs, s3 } = run.ports;
    const readyMs = Number(/ready in (\d+) ms/.exec(run.output)?.[1]);

    expect(readyMs).toBeLessThan(5000);
    expect(run.output).toMatch(
      new RegExp(`API\\s+http://127\\.0\\.0\\.1:${api}\\s+POST /generate-image, GET /jobs/\\{jobId\\}`),
    );
    expect(run.output).toMatch(
      new RegExp(`SQS queue\\s+http://127\\.0\\.0\\.1:${sqs}/123456789012/couch-imagegen-jobs\\n`),
    );
    expect(run.output).toMatch(new RegExp(`Step Functions\\s+http://127\\.0\\.0\\.1:${sfn}\\s`));
    expect(run.output).toMatch(
      new RegExp(
        `Waiting room\\s+http://127\\.0\\.0\\.1:${sqs}/123456789012/couch-imagegen-generate\\s+2 generators call Bedrock at once \\(--bedrock-concurrency\\)\\n`,
      ),
    );
    expect(run.output).toMatch(
      new RegExp(`Waiting room DLQ\\s+http://127\\.0\\.0\\.1:${sqs}/123456789012/couch-imagegen-generate-dlq\\n`),
    );
    expect(run.output).toMatch(
      new RegExp(
        `S3\\s+http://127\\.0\\.0\\.1:${s3}\\s+bucket couch-imagegen-local, images under local/generated_images/`,
      ),
    );
    expect(run.output).toMatch(/Bedrock STAND-IN\s+http:\/\/127\.0\.0\.1:\d+\s+NOT a model/);
    expect(run.output).toContain(dataDir);
    expect(run.printedCommands()).toEqual([
      `curl -s -X POST http://127.0.0.1:${api}/generate-image -H 'Content-Type: application/json' -d '{"prompt":"a lighthouse at dawn"}'`,
      `curl -s http://127.0.0.1:${api}/jobs/<jobId>`,
      `aws --no-sign-request --region us-east-1 sqs send-message --endpoint-url http://127.0.0.1:${sqs} --queue-url http://127.0.0.1:${sqs}/123456789012/couch-imagegen-jobs --message-body 'me on top of a pyramid'`,
      expect.stringMatching(/^aws .* stepfunctions list-executions --endpoint-url http:\/\/127\.0\.0\.1:\d+ /),
      expect.stringMatching(/^aws .* s3 ls --endpoint-url http:\/\/127\.0\.0\.1:\d+ s3:\/\/couch-imagegen-local\//),
      expect.stringMatching(
        /^aws .* sqs receive-message --endpoint-url http:\/\/127\.0\.0\.1:\d+ --queue-url \S+alerts-inbox$/,
      ),
    ]);
  });

  it.skipIf(!externalAddress())(
    "listens on 127.0.0.1 only: every port refuses connections on the machine's own address",
    async () => {
      const address = externalAddress()!;

      const unreachableOnIt = await Promise.all(Object.values(run.ports).map((port) => unreachable(address, port)));

      expect(unreachableOnIt).toEqual(Object.values(run.ports).map(() => true));
    },
  );

  it.skipIf(skipWithoutCurl)(
    "the printed curl commands work as printed: 202, then SUCCEEDED with an image",
    async () => {
      if (!onPath("curl")) throw new Error("curl is missing: the commands npm start prints use it; install curl");
      const accepted = JSON.parse(await runPrinted(run.printedCommand(/^curl -s -X POST /))) as { jobId: string };
      const job = await waitForSucceeded(run, accepted.jobId);
      const printedGet = run.printedCommand(/^curl -s http\S+\/jobs\/<jobId>$/).replace("<jobId>", accepted.jobId);
      const answered = JSON.parse(await runPrinted(printedGet)) as JobStatus;

      expect(answered).toMatchObject({ jobId: accepted.jobId, status: "SUCCEEDED", prompt: "a lighthouse at dawn" });
      const image = Buffer.from(await (await fetch(String(job.imageUrl))).arrayBuffer());
      const png = PNG.sync.read(image);
      expect([png.width, png.height]).toEqual([1024, 1024]);
      firstJob = { jobId: accepted.jobId, image };
    },
  );

  // The two CLIs run side by side: each sends its own message and reads the same endpoints.
  for (const cli of AWS_CLIS) {
    const cliTest = cli.path || process.env.CI ? it.concurrent : it.skip;
    cliTest(`the printed aws commands work as printed with ${cli.label}`, async ({ expect }) => {
      if (!cli.path) throw new Error(cli.missing);
      const withCli = (pattern: RegExp) => run.printedCommand(pattern).replace(/^aws /, `${cli.path} `);
      const sent = JSON.parse(await runPrinted(withCli(/ sqs send-message /))) as { MessageId: string };
      await waitForSucceeded(run, sent.MessageId);

      const [executions, listing, inbox] = await Promise.all([
        runPrinted(withCli(/ stepfunctions list-executions /)),
        runPrinted(withCli(/ s3 ls /)),
        runPrinted(withCli(/ sqs receive-message /)),
      ]);

      expect(JSON.parse(executions).executions).toContainEqual(
        expect.objectContaining({ name: sent.MessageId, status: "SUCCEEDED" }),
      );
      expect(listing).toContain(`${sent.MessageId}.png`);
      expect(inbox.trim()).toBe(""); // nothing failed, so no failure notification
    });
  }

  it("a second npm start -- --fresh on its data dir is refused, exit 1, and deletes nothing", async () => {
    // Prepare: a job whose record and image must survive; one start on run 1's ports, one on free ports.
    const jobId = await submitAndWait(run);
    const flagsFor = (ports: readonly number[]) =>
      PORT_FLAGS.flatMap((name, index) => [`--${name}-port`, String(ports[index])]);
    const otherPortNumbers = await freePorts(PORT_FLAGS.length);

    // Act
    const [samePorts, otherPorts] = await Promise.all([
      runToExit(["--fresh", "--data-dir", dataDir, ...flagsFor(PORT_FLAGS.map((name) => run.ports[name]))]),
      runToExit(["--fresh", "--data-dir", dataDir, ...flagsFor(otherPortNumbers)]),
    ]);
    const { status, job } = await getJob(run, jobId);

    // Assess
    expect(samePorts.code).toBe(1);
    expect(samePorts.output).toMatch(/^Port \d+ \(api\) is in use on 127\.0\.0\.1: stop what holds it/m);
    expect(otherPorts.code).toBe(1);
    expect(otherPorts.output).toContain(`The data directory ${dataDir} is in use by another local stack (pid `);
    expect(otherPorts.output).not.toContain("ready in");
    expect([status, job.status]).toEqual([200, "SUCCEEDED"]);
    expect((await fetch(String(job.imageUrl))).status).toBe(200);
    expect(["s3", "dynamodb", "executions"].filter((entry) => !existsSync(join(dataDir, entry)))).toEqual([]);
  });

  it("Ctrl-C: exits 0 within 10 s, says so, and every port it used can be bound again", async () => {
    const exit = await run.interrupt();

    expect(exit).toEqual({ code: 0, signal: null });
    expect(run.output).toContain("Stopped; ports are free.");
    for (const port of Object.values(run.ports)) await assertPortFree(port);
  });
});

describe("run 2: npm start on the same data dir", () => {
  it("still answers for run 1's job, and its image is still in S3", async () => {
    const { jobId, image } = requireFirstJob();
    const run = await StackProcess.start(["--data-dir", dataDir]);
    const { sfn } = clients(run);

    const { status, job } = await getJob(run, jobId);
    const stored = Buffer.from(await (await fetch(String(job.imageUrl))).arrayBuffer());
    const execution = await sfn.send(
      new DescribeExecutionCommand({
        executionArn: `${STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")}:${jobId}`,
      }),
    );
    const exit = await run.interrupt();

    expect(status).toBe(200);
    expect(job).toMatchObject({ jobId, status: "SUCCEEDED" });
    expect(stored.equals(image)).toBe(true);
    expect(execution.status).toBe("SUCCEEDED");
    expect(exit.code).toBe(0);
  });
});

describe("run 3: npm start -- --fresh on the same data dir", () => {
  it("starts empty: no job, no execution, no image", async () => {
    const { jobId } = requireFirstJob();
    const run = await StackProcess.start(["--fresh", "--data-dir", dataDir]);
    const { sfn, s3 } = clients(run);

    const { status } = await getJob(run, jobId);
    const executions = await sfn.send(new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE_ARN }));
    const objects = await s3.send(new ListObjectsV2Command({ Bucket: "couch-imagegen-local" }));
    const exit = await run.interrupt();

    expect(status).toBe(404);
    expect(executions.executions).toEqual([]);
    expect(objects.KeyCount).toBe(0);
    expect(exit.code).toBe(0);
  });
});

describe("npm start refuses what it cannot do, saying what to change", () => {
  it("an unknown flag, a renamed one or a bad value: exit 2 with the problem and the list of flags", async () => {
    const [unknown, renamed, badPort] = await Promise.all([
      runToExit(["--bogus"]),
      runToExit(["--generate-concurrency", "3"]),
      runToExit(["--api-port", "http"]),
    ]);

    expect(unknown.code).toBe(2);
    expect(unknown.output).toContain("Unknown option '--bogus'");
    expect(unknown.output).toContain("Usage: npm start -- [flags]");
    expect(renamed.code).toBe(2);
    expect(renamed.output).toContain("--generate-concurrency was replaced by --bedrock-concurrency: ");
    expect(renamed.output).toContain("Usage: npm start -- [flags]");
    expect(badPort.code).toBe(2);
    expect(badPort.output).toContain('--api-port must be a number from 0 to 65535, got "http"');
  });

  it("a port another process holds: exit 1 naming the port and the flags, before anything starts", async () => {
    const [taken] = await freePorts(1);
    const holder = createServer().listen(taken, "127.0.0.1");
    await once(holder, "listening");
    try {
      const result = await runToExit(["--data-dir", join(dataDir, "port-taken"), "--api-port", String(taken)]);

      expect(result.code).toBe(1);
      expect(result.output).toContain(
        `Port ${taken} (api) is in use on 127.0.0.1: stop what holds it, or choose another port (npm start -- --help lists the port flags)`,
      );
      expect(result.output).not.toContain("ready in");
    } finally {
      holder.close();
    }
  });
});

describe("npm start when a bug throws", () => {
  // Preloaded into the stack's process: an uncaught exception once the banner is out.
  const THROW_WHEN_READY = `data:text/javascript,${encodeURIComponent(
    `const write = process.stdout.write.bind(process.stdout);
     process.stdout.write = (chunk, ...rest) => {
       if (String(chunk).includes(${JSON.stringify(READY_LINE)})) setImmediate(() => { throw new Error("injected failure"); });
       return write(chunk, ...rest);
     };`,
  )}`;

  it("an uncaught exception: says what failed, stops, exits 1, and frees every port and the data dir", async () => {
    const crashDataDir = join(dataDir, "crash");
    const run = await StackProcess.start(["--data-dir", crashDataDir, "--quiet"], 3, ["--import", THROW_WHEN_READY]);

    const exit = await run.exit();

    expect(exit).toEqual({ code: 1, signal: null });
    expect(run.output).toContain("The local stack failed: Error: injected failure");
    expect(run.output).toContain("Stopped; ports are free.");
    for (const port of Object.values(run.ports)) await assertPortFree(port);
    expect(existsSync(join(crashDataDir, DATA_DIR_LOCK))).toBe(false);
  });
});
