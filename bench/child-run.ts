import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { repoRoot } from "../infra/lambda-build";

/**
 * Runs a bench module in a process of its own (a local stack loads its handlers once per process):
 * `node --import tsx <script> <args…> <result file>`, and answers the JSON it wrote to the result file. A failed run
 * throws with everything the child printed.
 */
export async function runBenchChild<T>(what: string, script: string, args: readonly string[]): Promise<T> {
  const directory = mkdtempSync(path.join(tmpdir(), "couch-imagegen-bench-result-"));
  const resultFile = path.join(directory, "result.json");
  try {
    const child = spawn(process.execPath, ["--import", "tsx", script, ...args, resultFile], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const [code] = (await once(child, "close")) as [number | null];
    if (code !== 0) throw new Error(`${what} failed (exit ${code}):\n${output}`);
    return JSON.parse(readFileSync(resultFile, "utf8")) as T;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
