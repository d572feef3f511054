// Verifies the console's execution index (local/console/execution-index.ts) against an in-memory ListExecutions /
// DescribeExecution source: newest first; a page's inputs read before it is answered and the rest in the background;
// search by jobId or prompt, the status filter and pages; later syncs read only the newest page and the running
// executions, pick up ended and redriven ones, and describe what the console changed; facts kept in a file so a
// restart reads no input again (a line cut short is skipped). It cannot verify the real endpoint's paging or timing:
// test/e2e/console.test.ts drives the index through the local stack, and `npm run bench` times 10,000 executions.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { factsOf } from "../../local/console/execution-facts";
import { ExecutionIndex, type ExecutionIndexSource, type ListedExecution } from "../../local/console/execution-index";

const DEFAULT_MODEL = "stability.stable-image-core-v1:1";
const MACHINE = "arn:aws:states:us-east-1:123456789012:execution:ImagePipeline";

interface FakeExecution extends ListedExecution {
  input: string;
}

/** ListExecutions (newest first, pages by offset, statusFilter) and DescribeExecution over `executions`, counted. */
class FakeSource implements ExecutionIndexSource {
  readonly executions: FakeExecution[] = [];
  listCalls: { statusFilter?: string; maxResults: number }[] = [];
  described: string[] = [];
  failDescribe = new Set<string>();
  /** How long every ListExecutions call but the first takes, as over the network. */
  laterListMs = 0;

  add(name: string, fields: Record<string, unknown>, status = "SUCCEEDED"): FakeExecution {
    const execution: FakeExecution = {
      executionArn: `${MACHINE}:${name}`,
      name,
      status,
      startDate: 1_000 + this.executions.length,
      ...(status === "RUNNING" ? {} : { stopDate: 2_000 + this.executions.length }),
      input: JSON.stringify({ jobId: name, source: "api", requestedAt: "2025-01-01T00:00:00Z", ...fields }),
    };
    this.executions.push(execution);
    return execution;
  }

  async list(request: { statusFilter?: string; nextToken?: string; maxResults: number }) {
    this.listCalls.push({ statusFilter: request.statusFilter, maxResults: request.maxResults });
    if (this.listCalls.length > 1 && this.laterListMs > 0)
      await new Promise((done) => setTimeout(done, this.laterListMs));
    const matching = [...this.executions]
      .filter((execution) => !request.statusFilter || execution.status === request.statusFilter)
      .sort((a, b) => b.startDate - a.startDate);
    const start = Number(request.nextToken ?? 0);
    const end = start + request.maxResults;
    return {
      executions: matching.slice(start, end).map(({ input: _input, ...summary }) => summary),
      ...(end < matching.length ? { nextToken: String(end) } : {}),
    };
  }

  async describe(executionArn: string) {
    this.described.push(executionArn);
    if (this.failDescribe.has(executionArn)) throw new Error("ThrottlingException");
    const execution = this.executions.find((candidate) => candidate.executionArn === executionArn);
    if (!execution) throw new Error("ExecutionDoesNotExist");
    return { ...execution };
  }
}

let source: FakeSource;
let directory: string;
let clock: number;

beforeEach(() => {
  source = new FakeSource();
  directory = mkdtempSync(join(tmpdir(), "console-index-"));
  clock = 0;
});

afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

function newIndex(options: { file?: string; syncIntervalMs?: number } = {}): ExecutionIndex {
  return new ExecutionIndex({ source, defaultModelId: DEFAULT_MODEL, now: () => clock, syncIntervalMs: 0, ...options });
}

function fill(count: number): void {
  for (let i = 0; i < count; i += 1) {
    source.add(
      `job-${i}`,
      { prompt: i % 10 === 0 ? `A Lighthouse number ${i}` : `a meadow ${i}` },
      i % 7 === 0 ? "FAILED" : "SUCCEEDED",
    );
  }
}

describe("ExecutionIndex.page", () => {
  it("answers the first page newest first from the first listed rows, their inputs read first, the rest later", async () => {
    fill(120);
    source.laterListMs = 50;
    const index = newIndex();

    const page = await index.page({ pageSize: 20 });

    expect(page.items.map((row) => row.name)).toEqual(Array.from({ length: 20 }, (_, i) => `job-${119 - i}`));
    // Answered from ListExecutions' first (small) page: the count is "so far" until the listing ends.
    expect(page).toMatchObject({ page: 1, pageSize: 20, total: 100, executions: 100, complete: false });
    expect(page.items.every((row) => row.facts !== undefined)).toBe(true);
    // The page's own inputs first; the background reads the rest after them.
    expect(source.described.slice(0, 20)).toEqual(page.items.map((row) => row.executionArn));
    expect(page.items[0]?.facts).toEqual({
      jobId: "job-119",
      prompt: "a meadow 119",
      model: DEFAULT_MODEL,
      modelIsDefault: true,
      source: "api",
    });
    await index.whenIndexed();
    expect(await index.page()).toMatchObject({ total: 120, executions: 120, indexed: 120, complete: true });
    expect(new Set(source.described).size).toBe(120);
  });

  it("searches jobIds and prompts ignoring case, filters by status, and pages the matches", async () => {
    fill(120);
    const index = newIndex();
    // A search waits for the whole listing (not for the inputs: it covers those read so far).
    const whileListing = await index.page({ status: "FAILED", pageSize: 200 });
    await index.whenIndexed();

    const byPrompt = await index.page({ search: "lighthouse", pageSize: 5 });
    const secondPage = await index.page({ search: "LIGHTHOUSE", pageSize: 5, page: 2 });
    const pastTheEnd = await index.page({ search: "lighthouse", pageSize: 5, page: 99 });
    const byJobId = await index.page({ search: "job-42" });
    const failed = await index.page({ status: "FAILED", pageSize: 200 });

    expect(byPrompt.total).toBe(12);
    expect(byPrompt.items.map((row) => row.name)).toEqual(["job-110", "job-100", "job-90", "job-80", "job-70"]);
    expect(secondPage.items.map((row) => row.name)).toEqual(["job-60", "job-50", "job-40", "job-30", "job-20"]);
    expect(pastTheEnd.page).toBe(3);
    expect(pastTheEnd.items.map((row) => row.name)).toEqual(["job-10", "job-0"]);
    expect(byJobId.items.map((row) => row.name)).toEqual(["job-42"]);
    expect(failed.total).toBe(18);
    expect(whileListing).toMatchObject({ total: 18, complete: true });
    expect(failed.items.every((row) => row.status === "FAILED")).toBe(true);
  });
});

describe("ExecutionIndex.sync", () => {
  it("after the first sync reads only the newest page and the running executions: new, ended and redriven ones", async () => {
    const oldRunning = source.add("old-running", { prompt: "started long ago" }, "RUNNING");
    fill(2500);
    const running = source.add("running-1", { prompt: "still going" }, "RUNNING");
    const index = newIndex();
    await index.sync();
    const firstSyncLists = source.listCalls;
    source.listCalls = [];
    source.described = [];

    running.status = "SUCCEEDED";
    running.stopDate = 9_000;
    oldRunning.status = "TIMED_OUT";
    oldRunning.stopDate = 8_000;
    const failed = source.executions.find((execution) => execution.name === "job-7")!;
    failed.status = "RUNNING";
    delete failed.stopDate;
    source.add("new-1", { prompt: "a new one", model: "amazon.nova-canvas-v1:0" });
    source.add("new-2", { prompt: "another" }, "RUNNING");
    const page = await index.page({ pageSize: 5 });

    expect(firstSyncLists.map((call) => call.maxResults)).toEqual([100, 1000, 1000, 1000]);
    expect(source.listCalls).toEqual([
      { statusFilter: undefined, maxResults: 100 },
      { statusFilter: "RUNNING", maxResults: 1000 },
    ]);
    expect(page.items.map((row) => [row.name, row.status])).toEqual([
      ["new-2", "RUNNING"],
      ["new-1", "SUCCEEDED"],
      ["running-1", "SUCCEEDED"],
      ["job-2499", "FAILED"],
      ["job-2498", "SUCCEEDED"],
    ]);
    expect(page.items[1]?.facts).toMatchObject({ model: "amazon.nova-canvas-v1:0", modelIsDefault: false });
    expect(page.items[2]?.stopDate).toBe(9_000);
    // Ended beyond the newest page: DescribeExecution tells it.
    expect(source.described).toContain(oldRunning.executionArn);
    expect((await index.page({ search: "old-running" })).items[0]).toMatchObject({
      status: "TIMED_OUT",
      stopDate: 8_000,
    });
    expect(
      (await index.page({ search: "job-7", pageSize: 200 })).items.find((row) => row.name === "job-7")?.status,
    ).toBe("RUNNING");
    expect(page.executions).toBe(2504);
  });

  it("shares one sync between concurrent pages, and reuses a recent one unless the console changed an execution", async () => {
    fill(10);
    const index = newIndex({ syncIntervalMs: 1000 });
    await Promise.all([index.page(), index.page(), index.page()]);
    const afterFirst = source.listCalls.length;
    clock = 500;
    await index.page();
    const reused = source.listCalls.length;
    index.changed(`${MACHINE}:job-3`);
    source.described = [];
    await index.page();

    expect(afterFirst).toBe(1);
    expect(reused).toBe(afterFirst);
    expect(source.listCalls.length).toBeGreaterThan(reused);
    expect(source.described).toContain(`${MACHINE}:job-3`);
  });

  it("keeps a row whose input could not be read, and reads it at the next page that shows it", async () => {
    fill(3);
    source.failDescribe.add(`${MACHINE}:job-1`);
    const index = newIndex();

    const first = await index.page();
    source.failDescribe.clear();
    const second = await index.page();

    expect(first.items.map((row) => [row.name, row.facts?.prompt])).toEqual([
      ["job-2", "a meadow 2"],
      ["job-1", undefined],
      ["job-0", "A Lighthouse number 0"],
    ]);
    expect(second.items[1]?.facts?.prompt).toBe("a meadow 1");
  });
});

describe("the facts file", () => {
  it("lets a restarted console answer without reading any input again; a line cut short is skipped", async () => {
    fill(30);
    const file = join(directory, "console", "execution-facts.jsonl");
    const first = newIndex({ file });
    await first.whenIndexed();
    writeFileSync(file, `${readFileSync(file, "utf8")}{"executionArn":"${MACHINE}:job-`);
    source.described = [];

    const restarted = newIndex({ file });
    await restarted.whenIndexed();
    const page = await restarted.page({ search: "lighthouse" });

    expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(31);
    expect(source.described).toEqual([]);
    expect(page.items.map((row) => row.name)).toEqual(["job-20", "job-10", "job-0"]);
  });
});

describe("factsOf", () => {
  it("reads the jobId, prompt, model and source of start-job's input", () => {
    const input = JSON.stringify({
      jobId: "j1",
      prompt: "x".repeat(5000),
      model: "amazon.nova-canvas-v1:0",
      source: "sqs",
    });

    const facts = factsOf("j1", input, DEFAULT_MODEL);

    expect(facts).toMatchObject({
      jobId: "j1",
      model: "amazon.nova-canvas-v1:0",
      modelIsDefault: false,
      source: "sqs",
    });
    expect(facts.prompt).toHaveLength(2000);
  });

  it("still gives a row for an input that is not start-job's: not JSON, or a prompt that is not text", () => {
    expect(factsOf("by-hand", "not json", DEFAULT_MODEL)).toEqual({
      jobId: "by-hand",
      prompt: "",
      model: DEFAULT_MODEL,
      modelIsDefault: true,
      source: "",
    });
    expect(factsOf("odd", JSON.stringify({ prompt: { text: "hi" } }), DEFAULT_MODEL).prompt).toBe('{"text":"hi"}');
  });
});
