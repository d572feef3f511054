import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DataDirInUseError, NotADataDirError } from "./start-refusals";

/** Written by every stack into its data directory: what `--fresh` may empty. */
export const DATA_DIR_MARKER = ".couch-imagegen-data";
/** Holds the pid of the stack using the directory; removed when it stops. */
export const DATA_DIR_LOCK = ".couch-imagegen.lock";
/** Everything a stack writes in its data directory (a directory from before the marker holds only these). */
const STACK_ENTRIES = new Set([
  "s3",
  "dynamodb",
  "executions",
  "console",
  "sqs-journal.jsonl",
  "sqs-journal.jsonl.tmp",
  DATA_DIR_MARKER,
  DATA_DIR_LOCK,
]);

export interface DataDirClaim {
  /** Gives the directory up (also done, synchronously, if the process exits without stopping the stack). */
  release: () => void;
}

/**
 * Takes `dataDir` for one stack: creates it if need be and locks it with this process's pid, so a second stack
 * (another process, or this one) cannot use or empty it meanwhile; a lock whose process is gone is taken over.
 * With `fresh` it then deletes what a stack wrote there, and refuses if the directory holds other files and is not
 * marked as a stack's. A directory that is new, empty or a stack's gets the marker.
 */
export function claimDataDir(dataDir: string, options: { fresh?: boolean } = {}): DataDirClaim {
  mkdirSync(dataDir, { recursive: true });
  const lockFile = join(dataDir, DATA_DIR_LOCK);
  takeLock(lockFile, dataDir);
  const release = () => {
    process.off("exit", release);
    if (lockHolder(lockFile) === process.pid) rmSync(lockFile, { force: true });
  };
  process.once("exit", release);
  try {
    const foreign = foreignEntries(dataDir);
    if (options.fresh) {
      if (foreign.length > 0) {
        throw new NotADataDirError(
          `--fresh deletes only a local stack's data directory, and ${dataDir} holds files no stack wrote ` +
            `(${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? ", ..." : ""}): choose another --data-dir, or empty it yourself`,
        );
      }
      for (const entry of readdirSync(dataDir)) {
        if (entry !== DATA_DIR_LOCK) rmSync(join(dataDir, entry), { recursive: true, force: true });
      }
    }
    if (foreign.length === 0) writeFileSync(join(dataDir, DATA_DIR_MARKER), "couch-imagegen local stack data\n");
  } catch (error) {
    release();
    throw error;
  }
  return { release };
}

/** Entries no stack writes, in a directory without the marker (in a marked one, none count: it is a stack's). */
function foreignEntries(dataDir: string): string[] {
  if (existsSync(join(dataDir, DATA_DIR_MARKER))) return [];
  return readdirSync(dataDir).filter((entry) => !STACK_ENTRIES.has(entry));
}

function takeLock(lockFile: string, dataDir: string): void {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(lockFile, `${process.pid}\n`, { flag: "wx" });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = lockHolder(lockFile);
    if (holder !== undefined && isRunning(holder)) {
      throw new DataDirInUseError(
        `The data directory ${dataDir} is in use by another local stack (pid ${holder}): stop that stack, or choose another directory with --data-dir`,
      );
    }
    // Its stack is gone (killed, or the machine restarted): take the lock over, unless another stack just did.
    if (lockHolder(lockFile) === holder) rmSync(lockFile, { force: true });
  }
  throw new DataDirInUseError(
    `The data directory ${dataDir} is being taken by another local stack starting now: choose another directory with --data-dir`,
  );
}

function lockHolder(lockFile: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(lockFile, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
