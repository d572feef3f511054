// `npm run bench -- --smoke`: the benchmark end to end with tiny settings (20 jobs, time ×0.05, one cold start per
// bundle), run as the team runs it, in a process of its own. Checks that every part produced sane output: all jobs
// of both bursts (the quota alone, and shared) accounted for and none duplicated, the bundles (and Powertools alone)
// built and loaded, the cost and model figures finite, the console's first page timed (server only), the report's
// five sections written. It does not check timings: the smoke figures mean nothing, and this machine is shared.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsoleRenderResult } from "../bench/console-render";
import type { BenchReport } from "../bench/report";

const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));

let directory: string;
let report: BenchReport;
let markdown: string;
let printed: string;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), "couch-imagegen-bench-smoke-"));
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      join(REPO_ROOT, "bench", "run.ts"),
      "--smoke",
      "--out",
      join(directory, "BENCHMARKS.md"),
      "--json",
      join(directory, "bench.json"),
    ],
    { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = (await once(child, "close")) as [number | null];
  if (code !== 0) throw new Error(`npm run bench -- --smoke exited ${code}:\n${output}`);
  printed = output;
  report = JSON.parse(readFileSync(join(directory, "bench.json"), "utf8")) as BenchReport;
  markdown = readFileSync(join(directory, "BENCHMARKS.md"), "utf8");
}, 240_000);

afterAll(() => {
  if (directory) rmSync(directory, { recursive: true, force: true });
});

describe("npm run bench -- --smoke", () => {
  it("accounts for every burst job: all succeeded, none lost, none duplicated, nothing dead-lettered", () => {
    const { settings, burst } = report.burst;
    expect(burst.accepted).toBe(settings.jobs);
    expect(burst.metrics.succeeded).toBe(settings.jobs);
    expect(burst).toMatchObject({
      missing: 0,
      timedOut: false,
      extraExecutions: 0,
      images: settings.jobs,
      succeededWithoutImage: 0,
      imagesWithoutSuccess: 0,
      extraModelImages: 0,
      stagedLeft: 0,
      dlqDepth: 0,
      queueDepth: 0,
    });
    expect(burst.redeliveries.sent).toBeGreaterThan(0);
    expect(burst.redeliveries.handlerFailures).toBe(0);
    expect(burst.apiRetries.replayed).toBe(burst.apiRetries.sent);
    expect(burst.ratio).toBeGreaterThan(0);
    expect(burst.metrics.transitions.mean).toBeGreaterThanOrEqual(6);
  });

  it("measured a clean baseline with the pipeline's requests counted", () => {
    const { clean } = report.burst;
    expect(clean.metrics.succeeded).toBe(report.burst.settings.cleanJobs);
    expect(clean.requestsPerJob["stepFunctions:StartExecution"]).toBe(1);
    // RecordRunning (WAITING), the generator (RUNNING) and RecordSucceeded.
    expect(clean.requestsPerJob["dynamodb:UpdateItem"]).toBe(3);
    expect(clean.requestsPerJob["s3:PutObject"]).toBeGreaterThanOrEqual(1);
  });

  it("measured the orchestration overhead from sequential and concurrent jobs", () => {
    const { settings, sequential, concurrent } = report.overhead;
    expect(sequential.metrics.succeeded).toBe(settings.sequentialJobs);
    expect(sequential.overheadMs.count).toBe(settings.sequentialJobs);
    expect(sequential.overheadMs.p50).toBeGreaterThan(0);
    expect(Object.keys(sequential.metrics.stateMs)).toEqual(
      expect.arrayContaining(["ValidatePrompt", "RecordRunning", "GenerateImage", "StoreImage", "RecordSucceeded"]),
    );
    expect(concurrent.metrics.succeeded).toBe(settings.concurrentJobs);
    expect(concurrent.jobsPerSecond).toBeGreaterThan(0);
  });

  it("built and cold-started every function's bundle, with memory from the CDK stack", () => {
    expect(report.bundles.bundles.map((bundle) => bundle.function).sort()).toEqual(
      report.shape.functions.map((fn) => fn.name).sort(),
    );
    for (const bundle of report.bundles.bundles) {
      expect(bundle.bytes).toBeGreaterThan(1000);
      expect(Number.isFinite(bundle.initMs) && bundle.initMs > 0).toBe(true);
    }
    expect(report.shape.functions.every((fn) => fn.memoryMb >= 128)).toBe(true);
    // Every handler creates a Powertools Logger; the bytes attributed to it are in every bundle.
    for (const bundle of report.bundles.bundles) expect(bundle.powertoolsBytes, bundle.function).toBeGreaterThan(1000);
    // GenerateImage is an SQS callback task now (the waiting room), not a Lambda task.
    expect(Object.keys(report.shape.taskFunctions).sort()).toEqual(["StoreImage", "ValidatePrompt"]);
  });

  it("built and cold-started the Powertools-alone bundle in the same rounds, and reports it beside the figures before", () => {
    const alone = report.bundles.powertoolsAlone;
    expect(alone.samples).toBe(report.bundles.bundles[0]?.samples);
    expect(alone.powertoolsBytes / alone.bytes).toBeGreaterThan(0.8);
    expect(Number.isFinite(alone.initMs) && alone.initMs > 0).toBe(true);
    expect(markdown).toContain("| Powertools alone (Logger + Metrics, as the handlers create them) |");
    expect(markdown).toContain("before Powertools (commit 143d6da)");
    expect(markdown).toContain("It was measured on another run, not this one");
  });

  it("priced 1,000 images beyond Bedrock with finite, positive figures below the Bedrock price", () => {
    const { totals, bedrockPer1000, standard, express } = report.cost;
    for (const line of [totals.standard, totals.express, standard, express, ...report.cost.shared]) {
      expect(Number.isFinite(line.clean) && line.clean > 0, line.item).toBe(true);
      expect(Number.isFinite(line.withRetries) && line.withRetries > 0, line.item).toBe(true);
    }
    // The waiting room's lines: finite and never negative (Step Functions' callbacks cost nothing).
    for (const line of report.cost.waitingRoom) {
      expect(Number.isFinite(line.clean) && line.clean >= 0, line.item).toBe(true);
      expect(Number.isFinite(line.withRetries) && line.withRetries >= 0, line.item).toBe(true);
    }
    expect(totals.standard.clean).toBeLessThan(bedrockPer1000);
  });

  it("priced the Bedrock side per model, the default (Stable Image Core) first, with the same beyond-Bedrock total", () => {
    const { perModel, defaultModelId, bedrockPer1000, totals } = report.cost;
    expect(defaultModelId).toBe("stability.stable-image-core-v1:1");
    expect(perModel[0]?.modelId).toBe(defaultModelId);
    expect(perModel[0]?.bedrockPer1000).toBe(bedrockPer1000);
    expect(perModel.map((model) => `${model.modelId}${model.variant ? ` ${model.variant}` : ""}`).sort()).toEqual(
      [
        "amazon.nova-canvas-v1:0 premium",
        "amazon.nova-canvas-v1:0 standard",
        "amazon.titan-image-generator-v1",
        "amazon.titan-image-generator-v2:0",
        "stability.sd3-5-large-v1:0",
        "stability.stable-image-core-v1:1",
        "stability.stable-image-ultra-v1:1",
      ].sort(),
    );
    for (const model of perModel) {
      expect(Number.isFinite(model.bedrockPer1000) && model.bedrockPer1000 > 0, model.modelId).toBe(true);
      expect(model.source.length, model.modelId).toBeGreaterThan(0);
      expect(model.share.standard.clean * model.bedrockPer1000).toBeCloseTo(totals.standard.clean, 9);
      expect(model.share.express.withRetries * model.bedrockPer1000).toBeCloseTo(totals.express.withRetries, 9);
    }
    expect(markdown).toContain("| model | lifecycle | Bedrock / 1,000 |");
  });

  it("ran the same burst with the quota shared, the stand-in refusing a share of calls at random", () => {
    const { settings, burst } = report.sharedQuota;
    expect(settings.throttleRate).toBe(0.2);
    expect(burst.accepted).toBe(settings.jobs);
    expect(burst.metrics.succeeded).toBe(settings.jobs);
    expect(burst).toMatchObject({ missing: 0, timedOut: false, extraModelImages: 0, dlqDepth: 0 });
    expect(burst.bedrock.images).toBe(settings.jobs);
  });

  it("ran the waiting-room model, the retry design before it, and the issue's scale check", () => {
    expect(report.model.waitingRoom.length).toBeGreaterThanOrEqual(5);
    for (const row of [...report.model.waitingRoom, ...report.model.before, report.model.atScale])
      expect(Number.isFinite(row.result.ratio) && row.result.ratio > 0, row.label).toBe(true);
    expect(report.model.atScale.settings).toMatchObject({ jobs: 10_000, requestsPerSecond: 50, slots: 50 });
    expect(report.model.atScale.result.ratio).toBeLessThanOrEqual(1.05);
  });

  it("timed the local console's first page over 100 executions, the server alone, and read every input", () => {
    const { consoleRender } = report as BenchReport & { consoleRender: ConsoleRenderResult };
    expect(consoleRender).toMatchObject({ executions: 100, browser: { missing: expect.any(String) } });
    for (const figure of [consoleRender.serverFirstPageMs, consoleRender.laterPageMs, consoleRender.indexAllMs])
      expect(Number.isFinite(figure) && figure > 0, String(figure)).toBe(true);
    expect(consoleRender.laterPage).toBe(2);
  });

  it("printed the table and wrote the report's five parts", () => {
    expect(printed).toContain("Burst makespan / (N/R)");
    for (const heading of [
      "## Targets",
      "## 1. Burst under quota",
      "## 2. Orchestration overhead",
      "## 3. Lambda bundles",
      "## 4. Cost per 1,000 images",
      "## 5. The local console with 100 executions",
    ]) {
      expect(markdown).toContain(heading);
    }
    expect(markdown).toContain("smoke mode");
    expect(markdown).not.toMatch(/NaN|undefined/);
  });
});
