import { setTimeout as sleep } from "node:timers/promises";
import type { ExecutionFacts, ExecutionPage, ExecutionRow } from "./api-types";
import { FactsFile, factsOf } from "./execution-facts";

/** An execution as ListExecutions (or DescribeExecution) tells of it, dates in epoch milliseconds. */
export interface ListedExecution {
  executionArn: string;
  name: string;
  status: string;
  startDate: number;
  stopDate?: number;
}

/** The Step Functions calls the index is fed by; the server backs them with @aws-sdk/client-sfn. */
export interface ExecutionIndexSource {
  /** One page of ListExecutions, newest first. */
  list(request: {
    statusFilter?: string;
    nextToken?: string;
    maxResults: number;
  }): Promise<{ executions: ListedExecution[]; nextToken?: string }>;
  /** DescribeExecution: the status now, and the input. */
  describe(executionArn: string): Promise<ListedExecution & { input: string }>;
}

export interface ExecutionIndexOptions {
  source: ExecutionIndexSource;
  /** The model a request that names none runs on. */
  defaultModelId: string;
  /** Where the facts read from inputs are kept between runs (JSON lines); none keeps them in memory only. */
  file?: string;
  /** DescribeExecution calls in flight at once for a page's rows; the background reads half as many. @default 16 */
  describeConcurrency?: number;
  /** A sync younger than this answers a page without another. @default 500 */
  syncIntervalMs?: number;
  /** @default Date.now */
  now?: () => number;
}

export interface ExecutionQuery {
  /** An execution status (RUNNING, SUCCEEDED, FAILED, ABORTED, TIMED_OUT); none lists all. */
  status?: string;
  /** Matches the jobId or the prompt, ignoring case. */
  search?: string;
  /** 1-based. @default 1 */
  page?: number;
  /** @default DEFAULT_PAGE_SIZE, at most MAX_PAGE_SIZE */
  pageSize?: number;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;
// ListExecutions' largest page: a first sync of 10,000 executions is 11 calls (a small first one, for the first page).
const LIST_PAGE_SIZE = 1000;
const FIRST_LIST_PAGE_SIZE = 100;
// The background reads inputs in batches, and waits while a page is being answered.
const BACKFILL_BATCH = 16;
const BACKFILL_YIELD_MS = 20;
// An incremental sync reads the newest executions until it meets one it knows.
const NEWEST_PAGE_SIZE = 100;

interface Row {
  summary: ListedExecution;
  facts?: ExecutionFacts;
  /** The jobId and prompt, lower case, once the facts are known; the name alone before. */
  searchText: string;
}

/**
 * The executions list behind the console: status and dates come from ListExecutions at every sync (cheap: the running
 * ones, then the newest page until a known execution), the jobId, prompt, model and source from each execution's
 * input, read once with DescribeExecution (an input never changes, not even on redrive) and kept in `file`, so a
 * restart does not read 10,000 inputs again. A page's own rows are read first; the rest are read in the background,
 * and a search covers what is read so far (ExecutionPage.indexed says how much).
 */
export class ExecutionIndex {
  private readonly rows = new Map<string, Row>();
  /** Execution ARNs, newest first, as ListExecutions orders them. */
  private order: string[] = [];
  private readonly stored: Map<string, ExecutionFacts>;
  private readonly factsFile: FactsFile | undefined;
  private readonly toDescribe = new Set<string>();
  private fullySynced = false;
  /** The first listing, while it runs: pages wait on it only for the rows they show. */
  private listing: Promise<void> | undefined;
  private readonly listed: { rows: number; resolve: () => void }[] = [];
  private syncing: Promise<void> | undefined;
  /** Pages being answered: the background reading waits for them. */
  private answering = 0;
  /** Pages reading their rows' inputs: the first listing waits for them (they share one process with it). */
  private readingForPages = 0;
  private lastSyncAt = Number.NEGATIVE_INFINITY;
  private backfill: Promise<void> | undefined;
  private closed = false;
  /** Rows whose input has been read. */
  private indexed = 0;

  constructor(private readonly options: ExecutionIndexOptions) {
    this.factsFile = options.file ? new FactsFile(options.file) : undefined;
    this.stored = this.factsFile?.load() ?? new Map();
  }

  /** One page of the list, filtered and searched, after a sync no older than `syncIntervalMs`. */
  async page(query: ExecutionQuery = {}): Promise<ExecutionPage> {
    this.answering += 1;
    try {
      return await this.answer(query);
    } finally {
      this.answering -= 1;
    }
  }

  private async answer(query: ExecutionQuery): Promise<ExecutionPage> {
    const pageSize = Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(query.pageSize ?? DEFAULT_PAGE_SIZE)));
    const search = query.search?.trim().toLowerCase() ?? "";
    if (this.fullySynced) await this.sync();
    else if (query.status || search !== "") await this.firstListing();
    // Newest first: a page of the whole list needs only the listing up to it.
    else await this.firstListing(Math.max(1, Math.floor(query.page ?? 1)) * pageSize);
    const matching: Row[] = [];
    for (const arn of this.order) {
      const row = this.rows.get(arn);
      if (!row) continue;
      if (query.status && row.summary.status !== query.status) continue;
      if (search !== "" && !row.searchText.includes(search)) continue;
      matching.push(row);
    }
    const pageCount = Math.max(1, Math.ceil(matching.length / pageSize));
    const page = Math.min(pageCount, Math.max(1, Math.floor(query.page ?? 1)));
    const rows = matching.slice((page - 1) * pageSize, page * pageSize);
    // The counts as of the rows chosen: the listing may go on while their inputs are read.
    const counts = { total: matching.length, executions: this.order.length, complete: this.fullySynced };
    this.readingForPages += 1;
    try {
      await this.describeAll(rows.filter((row) => !row.facts).map((row) => row.summary.executionArn));
    } finally {
      this.readingForPages -= 1;
    }
    this.startBackfill();
    return { items: rows.map(toExecutionRow), page, pageSize, ...counts, indexed: this.indexed };
  }

  /** The first listing, started once; resolves when it has listed `rows` executions (all, without `rows`). */
  private firstListing(rows = Number.POSITIVE_INFINITY): Promise<void> {
    this.listing ??= this.syncAll()
      .then(() => {
        this.lastSyncAt = this.options.now?.() ?? Date.now();
        this.startBackfill();
      })
      .catch((error: unknown) => {
        this.listing = undefined;
        throw error;
      });
    if (rows === Number.POSITIVE_INFINITY || this.fullySynced) return this.listing;
    if (this.order.length >= rows) return Promise.resolve();
    // Whichever comes first: enough rows, or the end of the listing (or its failure).
    return Promise.race([new Promise<void>((resolve) => this.listed.push({ rows, resolve })), this.listing]);
  }

  /** Brings statuses up to date; concurrent callers share one sync. */
  sync(): Promise<void> {
    if (!this.fullySynced) return this.firstListing();
    const now = this.options.now?.() ?? Date.now();
    if (this.syncing) return this.syncing;
    if (now - this.lastSyncAt < (this.options.syncIntervalMs ?? 500) && this.toDescribe.size === 0) {
      return Promise.resolve();
    }
    this.syncing = this.syncNewest()
      .then(() => {
        this.lastSyncAt = this.options.now?.() ?? Date.now();
      })
      .finally(() => {
        this.syncing = undefined;
      });
    return this.syncing;
  }

  /** The console stopped or redrove this execution: the next sync reads its status again. */
  changed(executionArn: string): void {
    this.toDescribe.add(executionArn);
  }

  /** Resolves once every known execution's input has been read (the benchmark and tests wait on it). */
  async whenIndexed(): Promise<void> {
    await this.sync();
    this.startBackfill();
    while (this.backfill) await this.backfill;
  }

  /** Stops reading inputs in the background. */
  close(): void {
    this.closed = true;
  }

  /**
   * The first sync: every execution, a small page first (the first page of the list can be answered from it), then
   * pages of 1,000. `order` grows as they come; pages waiting for rows are let go as soon as it holds theirs.
   */
  private async syncAll(): Promise<void> {
    this.order = [];
    const seen = new Set<string>();
    let nextToken: string | undefined;
    try {
      do {
        while (this.readingForPages > 0) await sleep(BACKFILL_YIELD_MS);
        const maxResults = nextToken === undefined ? FIRST_LIST_PAGE_SIZE : LIST_PAGE_SIZE;
        const page = await this.options.source.list({ maxResults, nextToken });
        for (const execution of page.executions) {
          // A new execution between two pages shifts the rest by one: it is seen twice, and kept once.
          if (seen.has(execution.executionArn)) continue;
          seen.add(execution.executionArn);
          this.order.push(execution.executionArn);
          this.upsert(execution);
        }
        nextToken = page.nextToken;
        if (this.release((waiting) => waiting.rows <= this.order.length)) {
          // The pages let go start reading their inputs before the next list call, which then waits for them.
          await new Promise((resolve) => setImmediate(resolve));
        }
      } while (nextToken);
      this.fullySynced = true;
    } finally {
      this.release(() => true);
    }
  }

  /** Lets go the pages waiting for rows that are now listed; says whether there were any. */
  private release(ready: (waiting: { rows: number }) => boolean): boolean {
    const released = this.listed.filter(ready);
    for (const waiting of released) {
      this.listed.splice(this.listed.indexOf(waiting), 1);
      waiting.resolve();
    }
    return released.length > 0;
  }

  /**
   * Later syncs: the newest executions until one already known (those before it are new), every RUNNING one (a
   * redriven execution is RUNNING again), and DescribeExecution for those that were running and are no longer listed
   * as such (they ended), and for those the console changed.
   */
  private async syncNewest(): Promise<void> {
    const fresh = new Set<string>();
    let nextToken: string | undefined;
    let metKnown = false;
    do {
      // The first page is small (the usual case: a few new executions); a larger gap is read in large pages.
      const maxResults = nextToken === undefined ? NEWEST_PAGE_SIZE : LIST_PAGE_SIZE;
      const page = await this.options.source.list({ maxResults, nextToken });
      for (const execution of page.executions) {
        if (!fresh.has(execution.executionArn) && this.rows.has(execution.executionArn)) metKnown = true;
        else fresh.add(execution.executionArn);
        this.upsert(execution);
      }
      nextToken = page.nextToken;
    } while (!metKnown && nextToken);
    if (fresh.size > 0) this.order = [...fresh, ...this.order.filter((arn) => !fresh.has(arn))];

    const running = new Set<string>();
    nextToken = undefined;
    do {
      const page = await this.options.source.list({ statusFilter: "RUNNING", maxResults: LIST_PAGE_SIZE, nextToken });
      for (const execution of page.executions) {
        running.add(execution.executionArn);
        this.upsert(execution);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    for (const [arn, row] of this.rows) {
      if (row.summary.status === "RUNNING" && !running.has(arn)) this.toDescribe.add(arn);
    }
    const ended = [...this.toDescribe];
    this.toDescribe.clear();
    await this.describeAll(ended, true);
  }

  private upsert(execution: ListedExecution): Row {
    const existing = this.rows.get(execution.executionArn);
    if (existing) {
      existing.summary = { ...execution };
      return existing;
    }
    const row: Row = { summary: { ...execution }, searchText: execution.name.toLowerCase() };
    const facts = this.stored.get(execution.executionArn);
    if (facts) this.setFacts(row, facts);
    this.rows.set(execution.executionArn, row);
    return row;
  }

  private setFacts(row: Row, facts: ExecutionFacts): void {
    if (!row.facts) this.indexed += 1;
    row.facts = facts;
    row.searchText = `${row.summary.name}\n${facts.jobId}\n${facts.prompt}`.toLowerCase();
  }

  /**
   * DescribeExecution for each ARN, a few at once: the status it reports, and the facts of an input not read yet
   * (`refresh`: read the status even when the facts are known). An execution that cannot be described keeps its row.
   */
  private async describeAll(arns: readonly string[], refresh = false, background = false): Promise<void> {
    const pending = [...arns];
    const learned: [string, ExecutionFacts][] = [];
    const worker = async () => {
      for (let arn = pending.shift(); arn !== undefined; arn = pending.shift()) {
        const row = this.rows.get(arn);
        if (!row || (row.facts && !refresh)) continue;
        try {
          const described = await this.options.source.describe(arn);
          const { input: _input, ...summary } = described;
          row.summary = summary;
          if (!row.facts) {
            this.setFacts(row, factsOf(described.name, described.input, this.options.defaultModelId));
            learned.push([arn, row.facts!]);
          }
        } catch {
          // Described again at the next page or sync that needs it.
        }
      }
    };
    const concurrency = this.options.describeConcurrency ?? 16;
    const workers = Math.min(pending.length, background ? Math.max(1, Math.floor(concurrency / 2)) : concurrency);
    await Promise.all(Array.from({ length: workers }, worker));
    this.factsFile?.append(learned);
  }

  /**
   * Reads the inputs not read yet, newest first, in batches, one backfill at a time, once the first listing is done.
   * It shares the process with the pages it serves (and, in the local stack, with the endpoint it calls): it waits
   * while a page is being answered.
   */
  private startBackfill(): void {
    if (this.backfill || this.closed || !this.fullySynced) return;
    const missing = this.order.filter((arn) => !this.rows.get(arn)?.facts);
    if (missing.length === 0) return;
    this.backfill = (async () => {
      for (let start = 0; start < missing.length && !this.closed; start += BACKFILL_BATCH) {
        while (this.answering > 0 && !this.closed) await sleep(BACKFILL_YIELD_MS);
        await this.describeAll(missing.slice(start, start + BACKFILL_BATCH), false, true);
      }
    })().finally(() => {
      this.backfill = undefined;
    });
  }
}

function toExecutionRow(row: Row): ExecutionRow {
  return { ...row.summary, ...(row.facts ? { facts: row.facts } : {}) };
}
