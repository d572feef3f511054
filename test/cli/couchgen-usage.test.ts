// Verifies what couchgen says before it reaches any service: help, the default command, missing and invalid
// settings (naming both the variable and the flag), argument errors, and an unreachable endpoint, each with its
// documented exit code and without a stack trace. No local stack here: nothing listens on the ports used.
import { createServer } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../cli/exit-codes";
import { buildBundle, type CouchgenRun, DEV_LAUNCHER, isolatedEnv, run } from "./couchgen-process";

let bundle: string;
let closedPort: number;

beforeAll(async () => {
  bundle = await buildBundle();
  closedPort = await freePort();
});

/** A port nothing listens on: taken from the OS, then released. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function couchgen(args: string[], env: Record<string, string> = {}): Promise<CouchgenRun> {
  return run([process.execPath, bundle, ...args], isolatedEnv(env));
}

function expectNoStackTrace(result: CouchgenRun): void {
  expect(`${result.stdout}${result.stderr}`).not.toMatch(/\n\s+at /);
}

describe("help", () => {
  it("lists the commands, the settings with their variables and the exit codes", async () => {
    const result = await couchgen(["--help"]);

    expect(result.code).toBe(ExitCode.Ok);
    for (const text of [
      "enqueue",
      "generate",
      "status",
      "wait",
      "models",
      "SQS_QUEUE_URL",
      "COUCHGEN_API_URL",
      "BEDROCK_REGION",
      "Exit codes",
      "9 models --check",
    ]) {
      expect(result.stdout).toContain(text);
    }
  });

  it("prints the help on stderr and exits 2 when run with no arguments (docker run IMAGE)", async () => {
    const result = await couchgen([]);

    expect(result.code).toBe(ExitCode.Usage);
    expect(result.stderr).toContain("Usage: couchgen");
  });

  it("works from the repository's bin launcher (npx couchgen), which runs the TypeScript source", async () => {
    const result = await run([process.execPath, DEV_LAUNCHER, "wait", "--help"], isolatedEnv());

    expect(result.code).toBe(ExitCode.Ok);
    expect(result.stdout).toContain("Usage: couchgen wait [options] <jobId>");
  });
});

describe("missing and invalid settings", () => {
  it("names SQS_QUEUE_URL and --queue-url when enqueue has no queue", async () => {
    const result = await couchgen(["me on top of a pyramid"]);

    expect(result.code).toBe(ExitCode.Usage);
    expect(result.stderr).toBe(
      "couchgen: No queue URL: set SQS_QUEUE_URL or pass --queue-url (e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/couch-imagegen-jobs), or use --local for the local stack\n",
    );
  });

  it("names COUCHGEN_API_URL and --api-url for the API commands, in --json as a JSON error", async () => {
    const result = await couchgen(["status", "abc", "--json"]);

    expect(result.code).toBe(ExitCode.Usage);
    expect(result.stderr).toBe("");
    const { error } = JSON.parse(result.stdout) as { error: { message: string; exitCode: number } };
    expect(error.exitCode).toBe(ExitCode.Usage);
    expect(error.message).toContain("set COUCHGEN_API_URL or pass --api-url");
  });

  it("checks the API URL before enqueueing when enqueue --wait needs it", async () => {
    const result = await couchgen(["enqueue", "a kite", "--wait"], {
      SQS_QUEUE_URL: `http://127.0.0.1:${closedPort}/1/q`,
    });

    expect(result.code).toBe(ExitCode.Usage);
    expect(result.stderr).toContain("set COUCHGEN_API_URL or pass --api-url");
  });

  it("says where a malformed URL came from", async () => {
    const result = await couchgen(["status", "abc"], { COUCHGEN_API_URL: "execute-api/prod" });

    expect(result.code).toBe(ExitCode.Usage);
    expect(result.stderr).toContain(
      'The API URL "execute-api/prod" (from COUCHGEN_API_URL or --api-url) is not an http(s) URL',
    );
  });
});

describe("arguments", () => {
  it("rejects a malformed --size with the accepted form (exit 2)", async () => {
    const result = await couchgen(["generate", "a kite", "--size", "big", "--local"]);

    expect(result.code).toBe(ExitCode.Usage);
    expect(result.stderr).toContain("argument 'big' is invalid. expected WIDTHxHEIGHT in pixels, e.g. 1024x1024.");
    expectNoStackTrace(result);
  });

  it("rejects a malformed --aspect-ratio and an unknown --format, naming what is accepted (exit 2)", async () => {
    const ratio = await couchgen(["generate", "a kite", "--aspect-ratio", "16x9", "--local"]);
    const format = await couchgen(["enqueue", "a kite", "--format", "webp", "--local"]);

    expect(ratio.code).toBe(ExitCode.Usage);
    expect(ratio.stderr).toContain("argument '16x9' is invalid. expected WIDTH:HEIGHT, e.g. 16:9.");
    expect(format.code).toBe(ExitCode.Usage);
    expect(format.stderr).toContain("argument 'webp' is invalid. Allowed choices are png, jpeg.");
  });

  it("refuses --size with --aspect-ratio, which the pipeline would refuse too", async () => {
    const result = await couchgen(["generate", "a kite", "--size", "512x512", "--aspect-ratio", "1:1", "--local"]);

    expect(result.code).toBe(ExitCode.Usage);
    expect(result.stderr).toContain("option '--size <WxH>' cannot be used with option '--aspect-ratio <W:H>'");
  });

  it("asks to quote a prompt given as several words", async () => {
    const result = await couchgen(["--local", "me", "on", "top"]);

    expect(result.code).toBe(ExitCode.Usage);
    expect(result.stderr).toContain('Quote a prompt that has spaces: couchgen "me on top of a pyramid"');
  });
});

describe("unreachable services", () => {
  it("exits 8 naming the API address when nothing answers, and shows the stack only with --debug", async () => {
    const api = `http://127.0.0.1:${closedPort}`;

    const plain = await couchgen(["status", "abc"], { COUCHGEN_API_URL: api });
    const debug = await couchgen(["status", "abc", "--debug"], { COUCHGEN_API_URL: api });

    expect(plain.code).toBe(ExitCode.Unavailable);
    expect(plain.stderr).toContain(`Could not reach the API at ${api} (ECONNREFUSED)`);
    expectNoStackTrace(plain);
    expect(debug.code).toBe(ExitCode.Unavailable);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it("exits 8 when SQS cannot be reached, with the endpoint in the message", async () => {
    const result = await couchgen(["enqueue", "a kite"], {
      SQS_QUEUE_URL: `http://127.0.0.1:${closedPort}/123456789012/couch-imagegen-jobs`,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    });

    expect(result.code).toBe(ExitCode.Unavailable);
    expect(result.stderr).toContain(`Could not reach SQS at http://127.0.0.1:${closedPort} (ECONNREFUSED)`);
    expectNoStackTrace(result);
  });
});
