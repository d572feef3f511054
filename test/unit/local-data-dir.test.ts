// Verifies the guard on the local stack's data directory: `--fresh` empties only a directory a stack wrote (marked,
// or holding nothing but a stack's entries) and refuses any other, deleting nothing; a directory is locked with the
// pid of the stack using it, so a second stack (another process or this one) is refused, while the lock of a process
// that is gone is taken over. It cannot verify two processes racing for a stale lock in the same millisecond, nor the
// messages as `npm start` prints them (test/e2e/npm-start.test.ts runs one refused --fresh).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { claimDataDir, DATA_DIR_LOCK, DATA_DIR_MARKER, type DataDirClaim } from "../../local/data-dir";
import { DataDirInUseError, NotADataDirError } from "../../local/start-refusals";

const claims: DataDirClaim[] = [];

afterEach(() => {
  for (const claim of claims.splice(0)) claim.release();
});

function claim(dataDir: string, fresh = false): DataDirClaim {
  const taken = claimDataDir(dataDir, { fresh });
  claims.push(taken);
  return taken;
}

function newDirectory(): string {
  return mkdtempSync(join(tmpdir(), "couch-imagegen-data-dir-"));
}

/** A data directory as a stack leaves it: marked, with emulator files. */
function stackDataDir(): string {
  const dataDir = newDirectory();
  mkdirSync(join(dataDir, "s3", "couch-imagegen-local"), { recursive: true });
  writeFileSync(join(dataDir, "sqs-journal.jsonl"), "");
  writeFileSync(join(dataDir, DATA_DIR_MARKER), "");
  return dataDir;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const { pid } = spawnSync(process.execPath, ["-e", ""]);
  if (pid === undefined) throw new Error("could not start a process to get a dead pid");
  return pid;
}

describe("claimDataDir with fresh", () => {
  it("refuses a directory holding a file no stack wrote, and leaves it exactly as it was", () => {
    // Prepare
    const dataDir = newDirectory();
    writeFileSync(join(dataDir, "thesis.tex"), "years of work");

    // Act
    const act = () => claim(dataDir, true);

    // Assess
    expect(act).toThrow(NotADataDirError);
    expect(act).toThrow(`--fresh deletes only a local stack's data directory, and ${dataDir} holds files no stack`);
    expect(readdirSync(dataDir)).toEqual(["thesis.tex"]);
  });

  it("empties a stack's data directory, keeps it marked and holds its lock until released", () => {
    // Prepare
    const dataDir = stackDataDir();

    // Act
    const taken = claim(dataDir, true);
    const whileHeld = readdirSync(dataDir).sort();
    const lockPid = readFileSync(join(dataDir, DATA_DIR_LOCK), "utf8").trim();
    taken.release();

    // Assess
    expect(whileHeld).toEqual([DATA_DIR_MARKER, DATA_DIR_LOCK].sort());
    expect(lockPid).toBe(String(process.pid));
    expect(readdirSync(dataDir)).toEqual([DATA_DIR_MARKER]);
  });

  it("empties a directory from before the marker that holds only a stack's entries, and one that does not exist", () => {
    const legacy = newDirectory();
    mkdirSync(join(legacy, "dynamodb"));
    mkdirSync(join(legacy, "executions"));
    const missing = join(newDirectory(), "not-yet");

    claim(legacy, true);
    claim(missing, true);

    expect(readdirSync(legacy).sort()).toEqual([DATA_DIR_MARKER, DATA_DIR_LOCK].sort());
    expect(readdirSync(missing).sort()).toEqual([DATA_DIR_MARKER, DATA_DIR_LOCK].sort());
  });

  it("does not mark a directory of other files used without fresh, so a later fresh is still refused", () => {
    const dataDir = newDirectory();
    writeFileSync(join(dataDir, "notes.txt"), "mine");

    claim(dataDir).release();

    expect(existsSync(join(dataDir, DATA_DIR_MARKER))).toBe(false);
    expect(() => claim(dataDir, true)).toThrow(NotADataDirError);
    expect(readFileSync(join(dataDir, "notes.txt"), "utf8")).toBe("mine");
  });
});

describe("claimDataDir: the lock", () => {
  it("refuses a directory a running process holds, naming its pid, and deletes nothing even with fresh", () => {
    // Prepare: this test's parent process is alive and is not this one.
    const dataDir = stackDataDir();
    writeFileSync(join(dataDir, DATA_DIR_LOCK), `${process.ppid}\n`);

    // Act
    const act = () => claim(dataDir, true);

    // Assess
    expect(act).toThrow(DataDirInUseError);
    expect(act).toThrow(`The data directory ${dataDir} is in use by another local stack (pid ${process.ppid})`);
    expect(existsSync(join(dataDir, "s3", "couch-imagegen-local"))).toBe(true);
    expect(readFileSync(join(dataDir, DATA_DIR_LOCK), "utf8").trim()).toBe(String(process.ppid));
  });

  it("refuses a second stack in this process until the first releases the directory", () => {
    const dataDir = stackDataDir();
    const first = claim(dataDir);

    expect(() => claim(dataDir)).toThrow(`(pid ${process.pid})`);
    first.release();
    expect(() => claim(dataDir)).not.toThrow();
  });

  it("takes over the lock of a process that is gone", () => {
    const dataDir = stackDataDir();
    writeFileSync(join(dataDir, DATA_DIR_LOCK), `${deadPid()}\n`);

    claim(dataDir, true);

    expect(readFileSync(join(dataDir, DATA_DIR_LOCK), "utf8").trim()).toBe(String(process.pid));
    expect(existsSync(join(dataDir, "s3"))).toBe(false);
  });
});
