// `npm run bench [-- flags]`: burst under quota, orchestration overhead, Lambda bundles and cost per 1,000 images,
// on the local stack. Prints a table and writes docs/BENCHMARKS.md; --help lists the flags.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CONFIG_DEFAULTS } from "../infra/config";
import { repoRoot } from "../infra/lambda-build";
import { CommandLine } from "../local/command-line";
import { bundlePath, bytesByPackage, measureBundles } from "./bundles";
import type { BurstResult, BurstSettings } from "./burst";
import { costPer1000Images } from "./cost";
import { readDeployedShape } from "./deployed-shape";
import { loadNow, machineInfo } from "./machine";
import type { OverheadResult, OverheadSettings } from "./overhead";
import { type BenchReport, consoleTable, markdown } from "./report";
import { generateImageRetriers, modelBurst } from "./retry-model";

const FLAGS = {
  jobs: { type: "string", description: "N: jobs in the burst, half API, half SQS (default 300)" },
  rate: { type: "string", description: "R: the Bedrock stand-in's quota, requests/s (default 10)" },
  latency: { type: "string", description: "L: the stand-in's seconds per image (default 1)" },
  "time-scale": {
    type: "string",
    description: "multiply retry intervals, L and the quota window alike (default 1: real time)",
  },
  duplicates: { type: "string", description: "share of SQS messages (and API requests) delivered twice (default 0.1)" },
  "clean-jobs": { type: "string", description: "jobs in the no-quota baseline phase (default 20)" },
  "overhead-jobs": { type: "string", description: "sequential jobs for the per-job overhead (default 100)" },
  "cold-starts": { type: "string", description: "fresh processes per bundle for the init median (default 10)" },
  smoke: { type: "boolean", description: "tiny settings, seconds long; writes no report unless --out is given" },
  out: { type: "string", description: "where to write the report (default docs/BENCHMARKS.md)" },
  json: { type: "string", description: "also write every figure as JSON here" },
  help: { type: "boolean", description: "show this help" },
} as const;

const commandLine = new CommandLine("npm run bench", FLAGS);
const fail = (message: string): never => commandLine.fail(message);

function parseFlags() {
  const values = commandLine.parse();
  const smoke = values.smoke === true;
  const number = (flag: keyof typeof FLAGS, fallback: number, min: number, max: number, integer = false) => {
    const raw = values[flag];
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      fail(
        `--${flag} must be ${integer ? "a whole number" : "a number"} from ${min} to ${max}, got ${JSON.stringify(raw)}`,
      );
    }
    return value;
  };
  const burst: BurstSettings = {
    jobs: number("jobs", smoke ? 20 : 300, 2, 100_000, true),
    requestsPerSecond: number("rate", 10, 0.1, 10_000),
    latencyMs: number("latency", 1, 0, 600) * 1000,
    timeScale: number("time-scale", smoke ? 0.05 : 1, 0.001, 100),
    duplicateShare: number("duplicates", smoke ? 0.2 : 0.1, 0, 1),
    cleanJobs: number("clean-jobs", smoke ? 5 : 20, 1, 10_000, true),
  };
  const overhead: OverheadSettings = {
    sequentialJobs: number("overhead-jobs", smoke ? 10 : 100, 1, 100_000, true),
    sequentialSqsJobs: smoke ? 3 : 20,
    concurrentJobs: smoke ? 20 : 200,
    warmupJobs: smoke ? 2 : 10,
  };
  return {
    help: values.help === true,
    smoke,
    burst,
    overhead,
    coldStarts: number("cold-starts", smoke ? 1 : 10, 1, 1000, true),
    out:
      typeof values.out === "string"
        ? path.resolve(values.out)
        : smoke
          ? undefined
          : path.join(repoRoot, "docs", "BENCHMARKS.md"),
    json: typeof values.json === "string" ? path.resolve(values.json) : undefined,
  };
}

/** Runs a scenario in a child process: each needs a local stack of its own, and a stack needs a process. */
async function runScenario<T>(scenario: "burst" | "overhead", settings: object): Promise<T> {
  const directory = mkdtempSync(path.join(tmpdir(), "couch-imagegen-bench-result-"));
  const resultFile = path.join(directory, "result.json");
  try {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(repoRoot, "bench", "scenario.ts"), scenario, JSON.stringify(settings), resultFile],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const [code] = (await once(child, "close")) as [number | null];
    if (code !== 0) throw new Error(`The ${scenario} scenario failed (exit ${code}):\n${output}`);
    return JSON.parse(readFileSync(resultFile, "utf8")) as T;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

const benchStarted = performance.now();

function step(message: string): void {
  process.stderr.write(`[bench ${((performance.now() - benchStarted) / 1000).toFixed(1)} s] ${message}\n`);
}

const options = parseFlags();
if (options.help) {
  process.stdout.write(commandLine.usage());
  process.exit(0);
}
const machine = machineInfo();
const date = new Date().toISOString();
const { burst: burstSettings } = options;
step(
  `burst: N=${burstSettings.jobs}, R=${burstSettings.requestsPerSecond}/s, L=${burstSettings.latencyMs / 1000} s, time scale ${burstSettings.timeScale} (at least ${(((burstSettings.jobs / burstSettings.requestsPerSecond) * burstSettings.timeScale) | 0) + 1} s)`,
);
// Measured runs go one at a time, alone on the machine; a smoke run overlaps them to finish in seconds.
const together = options.smoke;
const burstRun = runScenario<BurstResult>("burst", burstSettings);
if (!together) await burstRun;
step(`overhead: ${options.overhead.sequentialJobs} sequential jobs, ${options.overhead.concurrentJobs} concurrent`);
const overheadRun = runScenario<OverheadResult>("overhead", options.overhead);
if (!together) await overheadRun;
step("deployed shape: synthesizing the CDK stack (bundling skipped)");
const shape = readDeployedShape();
step(`bundles: npm run build, then ${options.coldStarts} cold start(s) per function`);
const bundles = measureBundles(shape.functions, options.coldStarts);
const [burst, overhead] = await Promise.all([burstRun, overheadRun]);
const largestOrigins = Object.fromEntries(
  [...new Map(shape.functions.map((fn) => [fn.source, fn])).values()].map((fn) => [
    fn.source,
    bytesByPackage(bundlePath(fn), 4),
  ]),
);

const { throttle, lambda } = generateImageRetriers();
const rl = Math.ceil(burstSettings.requestsPerSecond * (burstSettings.latencyMs / 1000));
const base = {
  jobs: burstSettings.jobs,
  requestsPerSecond: burstSettings.requestsPerSecond,
  latencySeconds: burstSettings.latencyMs / 1000,
  throttleRetrier: throttle,
  runs: 21,
};
const model = [
  { label: "ASL schedule, no concurrency limit (what the local stack runs)", settings: base },
  {
    label: `ASL schedule + GenerateImage reserved concurrency ${CONFIG_DEFAULTS.generateConcurrency} (deploy default)`,
    settings: { ...base, concurrency: { limit: CONFIG_DEFAULTS.generateConcurrency, retrier: lambda } },
  },
  {
    label: `ASL schedule + reserved concurrency ${rl} (= R×L)`,
    settings: { ...base, concurrency: { limit: rl, retrier: lambda } },
  },
  {
    label: "throttle retrier capped at 5 s, 20 retries",
    settings: { ...base, throttleRetrier: { ...throttle, MaxDelaySeconds: 5, MaxAttempts: 20 } },
  },
  { label: `admission control: ${rl} slots (= R×L), no throttling`, settings: { ...base, admissionSlots: rl } },
  {
    label: "retries x0.1 but the quota window unscaled (why --time-scale scales both)",
    settings: {
      ...base,
      throttleRetrier: {
        ...throttle,
        IntervalSeconds: (throttle.IntervalSeconds ?? 1) * 0.1,
        MaxDelaySeconds: (throttle.MaxDelaySeconds ?? 60) * 0.1,
      },
    },
  },
].map(({ label, settings }) => ({ label, result: modelBurst(settings) }));

const report: BenchReport = {
  date,
  smoke: options.smoke,
  machine: { ...machine, loadAtEnd: loadNow() },
  burst,
  model,
  retriers: { throttle, lambda },
  overhead,
  bundles: { ...bundles, largestOrigins },
  shape,
  cost: costPer1000Images(burst.clean, burst.burst, shape),
};
process.stdout.write(`${consoleTable(report)}\n`);
if (options.out) {
  mkdirSync(path.dirname(options.out), { recursive: true });
  writeFileSync(options.out, markdown(report));
  step(`wrote ${path.relative(process.cwd(), options.out)}`);
}
if (options.json) {
  writeFileSync(options.json, JSON.stringify(report, null, 2));
  step(`wrote ${path.relative(process.cwd(), options.json)}`);
}
