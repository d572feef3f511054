// Runs couchgen as a child process, the way people and the container run it. Always asynchronous: the local stack
// the CLI talks to lives in the test's own process, and a synchronous child would block it.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildCli } from "../../cli/build";

export interface CouchgenRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const DOCKERFILE = fileURLToPath(new URL("../../cli/Dockerfile", import.meta.url));
export const DEV_LAUNCHER = fileURLToPath(new URL("../../bin/couchgen.mjs", import.meta.url));

/** Bundles the CLI exactly as `npm run build:cli` does (the image's build stage), into a temporary directory. */
export async function buildBundle(): Promise<string> {
  return buildCli(join(mkdtempSync(join(tmpdir(), "couchgen-bundle-")), "couchgen.mjs"));
}

/**
 * The image's ENTRYPOINT as written in cli/Dockerfile, with the bundle's path in the image replaced by `bundle`:
 * what `docker run IMAGE args...` executes.
 */
export function imageEntrypoint(bundle: string): string[] {
  const line = readFileSync(DOCKERFILE, "utf8")
    .split("\n")
    .find((text) => text.startsWith("ENTRYPOINT "));
  if (!line) throw new Error(`No ENTRYPOINT in ${DOCKERFILE}`);
  const entrypoint = JSON.parse(line.slice("ENTRYPOINT ".length)) as string[];
  return entrypoint.map((part) => (part === "node" ? process.execPath : part.replace("/app/couchgen.mjs", bundle)));
}

/**
 * A clean environment: no AWS profile, endpoint or credentials from this machine or from the local stack, which sets
 * AWS_* variables in this process for its handlers.
 */
export function isolatedEnv(extra: Record<string, string> = {}): Record<string, string> {
  const home = mkdtempSync(join(tmpdir(), "couchgen-home-"));
  return { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1", ...extra };
}

/** Runs `command args...` with a time bound; resolves whatever the exit code. */
export function run(
  command: string[],
  env: Record<string, string>,
  { timeoutMs = 20_000, cwd }: { timeoutMs?: number; cwd?: string } = {},
): Promise<CouchgenRun> {
  const [file, ...args] = command;
  if (!file) throw new Error("No command to run");
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`${args.join(" ")} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`),
      );
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
