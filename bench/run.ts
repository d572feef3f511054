// `npm run bench [-- flags]`: burst under quota (alone and shared), orchestration overhead, Lambda bundles and cost
// per 1,000 images, on the local stack, beside the waiting-room model, and the local console's first page over
// 10,000 executions. Prints a table and writes docs/BENCHMARKS.md; --help lists the flags.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CONFIG_DEFAULTS, EVENT_SOURCE_CONCURRENCY } from "../infra/config";
import { repoRoot } from "../infra/lambda-build";
import { CommandLine } from "../local/command-line";
import { bundlePath, bytesByPackage, measureBundles } from "./bundles";
import type { BurstResult, BurstSettings } from "./burst";
import { runBenchChild } from "./child-run";
import { consoleRenderInChild, consoleRenderLines, consoleRenderMarkdown } from "./console-render";
import { costPer1000Images } from "./cost";
import { readDeployedShape } from "./deployed-shape";
import { loadNow, machineInfo } from "./machine";
import type { OverheadResult, OverheadSettings } from "./overhead";
import { type BenchReport, consoleTable, markdown, type WaitingRoomRow } from "./report";
import { BEFORE_GENERATE_CONCURRENCY, BEFORE_RETRIERS, type ModelSettings, modelBurst } from "./retry-model";
import { modelWaitingRoom, type WaitingRoomSettings } from "./waiting-room-model";

const FLAGS = {
  jobs: { type: "string", description: "N: jobs in the burst, half API, half SQS (default 300)" },
  rate: { type: "string", description: "R: the Bedrock stand-in's quota, requests/s (default 10)" },
  latency: { type: "string", description: "L: the stand-in's seconds per image (default 1)" },
  concurrency: {
    type: "string",
    description: "C: generators at once, the waiting room's bedrockConcurrency (default ceil(R×L), as it is sized)",
  },
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
  const requestsPerSecond = number("rate", 10, 0.1, 10_000);
  const latencySeconds = number("latency", 1, 0, 600);
  const { min, max } = EVENT_SOURCE_CONCURRENCY;
  const burst: BurstSettings = {
    jobs: number("jobs", smoke ? 20 : 300, 2, 100_000, true),
    requestsPerSecond,
    latencyMs: latencySeconds * 1000,
    timeScale: number("time-scale", smoke ? 0.05 : 1, 0.001, 100),
    duplicateShare: number("duplicates", smoke ? 0.2 : 0.1, 0, 1),
    cleanJobs: number("clean-jobs", smoke ? 5 : 20, 1, 10_000, true),
    bedrockConcurrency: number(
      "concurrency",
      Math.min(max, Math.max(min, Math.ceil(requestsPerSecond * latencySeconds))),
      min,
      max,
      true,
    ),
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
function runScenario<T>(scenario: "burst" | "shared-quota" | "overhead", settings: object): Promise<T> {
  return runBenchChild<T>(`The ${scenario} scenario`, path.join(repoRoot, "bench", "scenario.ts"), [
    scenario,
    JSON.stringify(settings),
  ]);
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
  `burst: N=${burstSettings.jobs}, R=${burstSettings.requestsPerSecond}/s, L=${burstSettings.latencyMs / 1000} s, C=${burstSettings.bedrockConcurrency}, time scale ${burstSettings.timeScale} (at least ${(((burstSettings.jobs / burstSettings.requestsPerSecond) * burstSettings.timeScale) | 0) + 1} s)`,
);
// Measured runs go one at a time, alone on the machine; a smoke run overlaps them to finish in seconds.
const together = options.smoke;
const burstRun = runScenario<BurstResult>("burst", burstSettings);
if (!together) await burstRun;
step("burst again, the quota shared: the stand-in also refuses a share of calls at random");
const sharedQuotaRun = runScenario<BurstResult>("shared-quota", burstSettings);
if (!together) await sharedQuotaRun;
step(`overhead: ${options.overhead.sequentialJobs} sequential jobs, ${options.overhead.concurrentJobs} concurrent`);
const overheadRun = runScenario<OverheadResult>("overhead", options.overhead);
if (!together) await overheadRun;
// The local console's first page over many executions (a smoke run: a hundred, and the server alone).
const consoleExecutions = options.smoke ? 100 : 10_000;
step(`console: time to first page with ${consoleExecutions.toLocaleString("en")} executions`);
const consoleRun = consoleRenderInChild({ executions: consoleExecutions, browser: !options.smoke });
if (!together) await consoleRun;
step("deployed shape: synthesizing the CDK stack (bundling skipped)");
const shape = readDeployedShape();
step(`bundles: npm run build, then ${options.coldStarts} cold start(s) per function`);
const bundles = measureBundles(shape.functions, options.coldStarts);
const [burst, sharedQuota, overhead, consoleRender] = await Promise.all([
  burstRun,
  sharedQuotaRun,
  overheadRun,
  consoleRun,
]);
const largestOrigins = Object.fromEntries(
  [...new Map(shape.functions.map((fn) => [fn.source, fn])).values()].map((fn) => [
    fn.source,
    bytesByPackage(bundlePath(fn), 4),
  ]),
);

step("models: the waiting room and the retry design before it, seeded");
const model = runModels(
  burstSettings,
  sharedQuota.settings.throttleRate ?? 0,
  Number.isFinite(overhead.sequential.overheadMs.p50) ? overhead.sequential.overheadMs.p50 / 1000 : 0,
);

const report: BenchReport = {
  date,
  smoke: options.smoke,
  machine: { ...machine, loadAtEnd: loadNow() },
  burst,
  sharedQuota,
  model,
  overhead,
  bundles: { ...bundles, largestOrigins },
  shape,
  cost: costPer1000Images(burst.clean, burst.burst, shape),
};
process.stdout.write(`${consoleTable(report)}\n${consoleRenderLines(consoleRender)}\n`);
if (options.out) {
  mkdirSync(path.dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${markdown(report)}${consoleRenderMarkdown(consoleRender)}`);
  step(`wrote ${path.relative(process.cwd(), options.out)}`);
}
if (options.json) {
  writeFileSync(options.json, JSON.stringify({ ...report, consoleRender }, null, 2));
  step(`wrote ${path.relative(process.cwd(), options.json)}`);
}

/**
 * The models beside the measured bursts: the waiting room at the burst's N, R, L and C (the design alone first, then
 * what moves it: the generator's own time, a shared quota, latency that varies, C sized wrong), the same burst in the
 * retry design it replaced, and issue 9's scale check.
 */
function runModels(settings: BurstSettings, sharedShare: number, overheadSeconds: number): BenchReport["model"] {
  const runs = 21;
  const latencySeconds = settings.latencyMs / 1000;
  const slots = settings.bedrockConcurrency;
  const room: WaitingRoomSettings = {
    jobs: settings.jobs,
    requestsPerSecond: settings.requestsPerSecond,
    latencySeconds,
    slots,
    runs,
  };
  const sizedOnMean = Math.ceil(settings.requestsPerSecond * latencySeconds * 1.25);
  const shared = `${Math.round(sharedShare * 100)}%`;
  const rows: [string, WaitingRoomSettings][] = [
    [`C=${slots}, the design alone`, room],
    [
      `C=${slots}, the generator holds its slot ${(overheadSeconds * 1000).toFixed(0)} ms more per image (the local per-job overhead, §2)`,
      { ...room, overheadSeconds },
    ],
    ...(sharedShare > 0
      ? ([
          [
            `C=${slots}, quota shared: ${shared} of the calls within the quota refused at random`,
            { ...room, randomThrottleShare: sharedShare },
          ],
          [
            `C=${slots}, quota shared, with a backoff growing per receive, 1 to min(20, 2^(n-1)) s (tried, not kept)`,
            {
              ...room,
              randomThrottleShare: sharedShare,
              delaySeconds: (receives: number, random: () => number) =>
                1 + Math.floor(random() * Math.min(20, 2 ** Math.max(0, receives - 1))),
            },
          ],
        ] as [string, WaitingRoomSettings][])
      : []),
    [
      `C=${sizedOnMean}, L varies from L to 1.5 L, C sized on the mean`,
      { ...room, latencyJitterSeconds: latencySeconds / 2, slots: sizedOnMean },
    ],
    [
      `C=${CONFIG_DEFAULTS.bedrockConcurrency}, the deploy default bedrockConcurrency`,
      { ...room, slots: CONFIG_DEFAULTS.bedrockConcurrency },
    ],
    [`C=${2 * slots}, twice the quota's`, { ...room, slots: 2 * slots }],
  ];
  const waitingRoom: WaitingRoomRow[] = rows.map(([label, row]) => ({
    label,
    settings: row,
    result: modelWaitingRoom(row),
  }));

  const retry: ModelSettings = {
    jobs: settings.jobs,
    requestsPerSecond: settings.requestsPerSecond,
    latencySeconds,
    throttleRetrier: BEFORE_RETRIERS.throttle,
    runs,
  };
  const before = [
    {
      label: "GenerateImage retried by the state machine, no concurrency limit (what the local stack ran)",
      settings: retry,
    },
    {
      label: `+ GenerateImage reserved concurrency ${BEFORE_GENERATE_CONCURRENCY} (the deploy default then)`,
      settings: { ...retry, concurrency: { limit: BEFORE_GENERATE_CONCURRENCY, retrier: BEFORE_RETRIERS.lambda } },
    },
    {
      label: `+ reserved concurrency ${Math.ceil(settings.requestsPerSecond * latencySeconds)} (= R×L)`,
      settings: {
        ...retry,
        concurrency: { limit: Math.ceil(settings.requestsPerSecond * latencySeconds), retrier: BEFORE_RETRIERS.lambda },
      },
    },
  ].map(({ label, settings: row }) => ({ label, result: modelBurst(row) }));

  const scale: WaitingRoomSettings = { jobs: 10_000, requestsPerSecond: 50, latencySeconds: 1, slots: 50, runs };
  const started = performance.now();
  const result = modelWaitingRoom(scale);
  const elapsedMs = performance.now() - started;
  const atScale = {
    label: "the waiting room at issue 9's scale",
    settings: scale,
    result,
    elapsedMs,
    before: modelBurst({
      ...retry,
      jobs: scale.jobs,
      requestsPerSecond: scale.requestsPerSecond,
      latencySeconds: 1,
      runs: 1,
    }),
  };
  return { waitingRoom, before, atScale };
}
