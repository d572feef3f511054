import { THROTTLE_DELAY_SECONDS } from "../functions/shared/waiting-room";
import { BEFORE_POWERTOOLS } from "./before-powertools";
import { type BundleResult, type BundlesResult, POWERTOOLS_ALONE_LABEL, POWERTOOLS_SCOPE } from "./bundles";
import type { BurstResult } from "./burst";
import type { CostLine, CostResult, ModelCost } from "./cost";
import type { DeployedFunction, DeployedShape } from "./deployed-shape";
import type { MachineInfo } from "./machine";
import type { OverheadResult } from "./overhead";
import { MODEL_PRICES, PRICE_SOURCE, PRICES } from "./prices";
import type { ModelResult } from "./retry-model";
import type { Spread } from "./stats";
import type { WaitingRoomResult, WaitingRoomSettings } from "./waiting-room-model";

/** Everything one `npm run bench` measured, as written to --json and rendered below. */
export interface BenchReport {
  date: string;
  smoke: boolean;
  machine: MachineInfo & { loadAtEnd: number };
  burst: BurstResult;
  /** The same burst with the quota shared: the stand-in also refuses `settings.throttleRate` of calls at random. */
  sharedQuota: BurstResult;
  model: {
    /** The waiting room at the burst's N, R and L (bench/waiting-room-model.ts); the first row is the design alone. */
    waitingRoom: WaitingRoomRow[];
    /** The design before issue 9 at the same N, R and L (bench/retry-model.ts): the state machine's retries. */
    before: { label: string; result: ModelResult }[];
    /** Issue 9's scale check, N=10,000, R=50/s, L=1 s, C=R×L: the waiting room, and the retry design beside it. */
    atScale: WaitingRoomRow & { before: ModelResult; elapsedMs: number };
  };
  overhead: OverheadResult;
  bundles: BundlesResult & { largestOrigins: Record<string, { origin: string; bytes: number }[]> };
  shape: DeployedShape;
  cost: CostResult;
}

export interface WaitingRoomRow {
  label: string;
  settings: WaitingRoomSettings;
  result: WaitingRoomResult;
}

export const TARGETS = {
  makespanRatio: 1.1,
  throttledShare: 0.05,
  transitionsPerJob: 9.1,
  shareOfBedrock: 0.01,
  sharedQuotaRatio: 1.25,
  modelRatio: 1.05,
  overheadP50Ms: 25,
  bundleBytes: 300 * 1024,
  initMs: 150,
} as const;

/** Issue 9's "now" column: what the retry design gave (docs/BENCHMARKS.md of 2026-12-02 and a re-run that day). */
export const BEFORE = {
  makespanRatio: "2.41–2.75",
  throttledShare: "57–76%",
  failures: "0",
  transitionsPerJob: "9.1",
  shareOfBedrock: "0.62–0.86%",
  sharedQuota: "–",
  model: "–",
} as const;

/** One row of issue 9's table: the figure before the waiting room, its target, and this run's. */
export interface IssueRow {
  figure: string;
  before: string;
  target: string;
  measured: string;
  met: boolean;
}

export interface TargetRow {
  figure: string;
  measured: string;
  target: string;
  met: boolean | undefined;
}

/** Issue 9's figures, each from one field of the report. */
export function issueRows(report: BenchReport): IssueRow[] {
  const { settings, burst } = report.burst;
  const shared = report.sharedQuota.burst;
  const throttled = throttledShare(burst);
  const failures = failureCounts(report.burst);
  const transitions = burst.metrics.transitions.mean;
  const share = report.cost.totals.standard.withRetries / report.cost.bedrockPer1000;
  const shareClean = report.cost.totals.standard.clean / report.cost.bedrockPer1000;
  const sharedFailed = shared.accepted - shared.metrics.succeeded;
  const scale = report.model.atScale;
  return [
    {
      figure: `Burst makespan / (N/R), N=${settings.jobs}, R=${settings.requestsPerSecond}/s, L=${settings.latencyMs / 1000} s, C=${settings.bedrockConcurrency}`,
      before: BEFORE.makespanRatio,
      target: `<= ${TARGETS.makespanRatio.toFixed(2)}`,
      measured: `${burst.ratio.toFixed(2)} (${seconds(burst.makespanMs)} / ${seconds(burst.idealMs)})`,
      met: burst.ratio <= TARGETS.makespanRatio,
    },
    {
      figure: "Bedrock calls throttled, share of all calls",
      before: BEFORE.throttledShare,
      target: `<= ${percent(TARGETS.throttledShare)}`,
      measured: `${percent(throttled)} (${burst.bedrock.throttled} of ${burst.bedrock.requests})`,
      met: throttled <= TARGETS.throttledShare,
    },
    {
      figure: "Failed / lost / duplicate jobs, images, Bedrock calls",
      before: BEFORE.failures,
      target: "0",
      measured:
        `failed ${failures.failed}, lost ${failures.lostJobs} jobs / ${failures.lostImages} images, ` +
        `duplicate ${burst.extraExecutions} / ${burst.imagesWithoutSuccess} / ${burst.extraModelImages}, DLQ ${burst.dlqDepth}`,
      met: failures.total === 0,
    },
    {
      figure: "Billed transitions per succeeded job, mean",
      before: BEFORE.transitionsPerJob,
      target: `<= ${TARGETS.transitionsPerJob}`,
      measured: `${transitions.toFixed(2)} (max ${burst.metrics.transitions.max})`,
      met: transitions <= TARGETS.transitionsPerJob,
    },
    {
      figure: "Beyond Bedrock, share of Bedrock's price (waiting room included)",
      before: BEFORE.shareOfBedrock,
      target: `<= ${percent(TARGETS.shareOfBedrock)}`,
      measured: `${percent(share)} burst, ${percent(shareClean)} clean`,
      met: share <= TARGETS.shareOfBedrock,
    },
    {
      figure: `Same burst, quota shared (${percent(report.sharedQuota.settings.throttleRate ?? 0)} of calls refused at random)`,
      before: BEFORE.sharedQuota,
      target: `<= ${TARGETS.sharedQuotaRatio.toFixed(2)}, 0 failed`,
      measured: `${shared.ratio.toFixed(2)} (${seconds(shared.makespanMs)} / ${seconds(shared.idealMs)}), ${sharedFailed} failed, ${percent(throttledShare(shared))} throttled`,
      met: shared.ratio <= TARGETS.sharedQuotaRatio && sharedFailed === 0,
    },
    {
      figure: `Model, N=${scale.settings.jobs.toLocaleString("en-US")}, R=${scale.settings.requestsPerSecond}/s, L=${scale.settings.latencySeconds} s, C=${scale.settings.slots} (seeded)`,
      before: BEFORE.model,
      target: `<= ${TARGETS.modelRatio.toFixed(2)}`,
      measured: `${scale.result.ratio.toFixed(2)} (${range(scale.result.ratioRange)}), ${percent(scale.result.throttledShare)} throttled, max ${scale.result.maxReceives} receives`,
      met: scale.result.ratio <= TARGETS.modelRatio,
    },
  ];
}

/** The benchmark's own targets beside issue 9's: the local pipeline, the bundles. */
export function targetRows(report: BenchReport): TargetRow[] {
  const largest = Math.max(...report.bundles.bundles.map((bundle) => bundle.bytes));
  const slowest = Math.max(...report.bundles.bundles.map((bundle) => bundle.initMs));
  return [
    {
      figure: "Local overhead per job, p50 (sequential, API)",
      measured: ms(report.overhead.sequential.overheadMs.p50),
      target: `<= ${TARGETS.overheadP50Ms} ms`,
      met: report.overhead.sequential.overheadMs.p50 <= TARGETS.overheadP50Ms,
    },
    {
      figure: "Largest Lambda bundle",
      measured: kib(largest),
      target: `<= ${kib(TARGETS.bundleBytes)} each`,
      met: largest <= TARGETS.bundleBytes,
    },
    {
      figure: "Slowest cold module init (median of each)",
      measured: ms(slowest),
      target: `<= ${TARGETS.initMs} ms`,
      met: slowest <= TARGETS.initMs,
    },
  ];
}

function throttledShare(burst: BurstResult["burst"]): number {
  return burst.bedrock.requests === 0 ? 0 : burst.bedrock.throttled / burst.bedrock.requests;
}

function failureCounts(run: BurstResult): { failed: number; lostJobs: number; lostImages: number; total: number } {
  const { burst } = run;
  const failed = burst.accepted - burst.metrics.succeeded;
  const total =
    failed +
    burst.missing +
    burst.succeededWithoutImage +
    burst.extraExecutions +
    burst.imagesWithoutSuccess +
    burst.extraModelImages +
    burst.dlqDepth;
  return { failed, lostJobs: burst.missing, lostImages: burst.succeededWithoutImage, total };
}

/** The short table `npm run bench` prints. */
export function consoleTable(report: BenchReport): string {
  const issue = issueRows(report);
  const other = targetRows(report);
  const widths = [70, 12, 18, 60];
  const line = (cells: string[]) => cells.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join(" ");
  const { burst } = report.burst;
  return [
    `couch-imagegen benchmark${report.smoke ? " (SMOKE: tiny settings, figures not meaningful)" : ""}: ${report.date}`,
    `${report.machine.cpu} x${report.machine.cores}, ${report.machine.memoryGiB.toFixed(1)} GiB, Node ${report.machine.node}, load ${report.machine.loadAtStart.toFixed(2)} -> ${report.machine.loadAtEnd.toFixed(2)}`,
    "",
    `${line(["figure (issue 9: the waiting room)", "before", "target", "measured"])} met`,
    ...issue.map((row) => `${line([row.figure, row.before, row.target, row.measured])} ${row.met ? "yes" : "NO"}`),
    "",
    `${line(["figure", "", "target", "measured"])} met`,
    ...other.map(
      (row) =>
        `${line([row.figure, "", row.target, row.measured])} ${row.met === undefined ? "" : row.met ? "yes" : "NO"}`,
    ),
    "",
    `Burst latency p50 ${seconds(burst.metrics.latencyMs.p50)}, p95 ${seconds(burst.metrics.latencyMs.p95)}; ` +
      `Bedrock stand-in: ${burst.bedrock.requests} requests, ${burst.bedrock.throttled} throttled`,
    `Overhead: ${report.overhead.concurrent.jobsPerSecond.toFixed(1)} jobs/s (${report.overhead.settings.concurrentJobs} at once); ` +
      `per job p50 ${ms(report.overhead.sequential.overheadMs.p50)}, p95 ${ms(report.overhead.sequential.overheadMs.p95)}`,
    powertoolsLine(report.bundles),
    `Cost per 1,000 images beyond Bedrock ($${report.cost.bedrockPer1000.toFixed(2)}): Standard $${report.cost.totals.standard.clean.toFixed(3)} clean / $${report.cost.totals.standard.withRetries.toFixed(3)} burst; ` +
      `Express $${report.cost.totals.express.clean.toFixed(3)} / $${report.cost.totals.express.withRetries.toFixed(3)}`,
  ].join("\n");
}

function powertoolsLine(bundles: BundlesResult): string {
  const alone = bundles.powertoolsAlone;
  const inBundles = bundles.bundles.map((bundle) => bundle.powertoolsBytes);
  return (
    `${POWERTOOLS_ALONE_LABEL}: ${kib(alone.bytes)}, cold init ${ms(alone.initMs)} (median of ${alone.samples}); ` +
    `Powertools in each bundle: ${kib(Math.min(...inBundles))}–${kib(Math.max(...inBundles))}`
  );
}

/** docs/BENCHMARKS.md. */
export function markdown(report: BenchReport): string {
  const { burst: run, sharedQuota, overhead, bundles, cost, machine, shape } = report;
  const settings = run.settings;
  const burst = run.burst;
  const scale = settings.timeScale;
  const sharedRate = percent(sharedQuota.settings.throttleRate ?? 0);
  const sections: string[] = [];
  sections.push(`# Benchmarks

Written by \`npm run bench\` (bench/run.ts) on ${report.date}${report.smoke ? " in **smoke mode: tiny settings, the figures mean nothing**" : ""}.
Everything runs on the local stack (\`npm start\`'s emulators, the real ASL and handler modules, the Bedrock
stand-in); the cost section turns those measurements into AWS prices. Re-run it on a quiet machine: timings here
depend on it.

**Machine:** ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB.toFixed(1)} GiB, Node ${machine.node}, ${machine.os};
1-minute load average ${machine.loadAtStart.toFixed(2)} at the start, ${machine.loadAtEnd.toFixed(2)} at the end
(above ${machine.cores}, other work competed for the cores and the timings are pessimistic).

**Settings:** N=${settings.jobs} jobs, R=${settings.requestsPerSecond} requests/s, L=${settings.latencyMs / 1000} s, C=${settings.bedrockConcurrency} generators at once (bedrockConcurrency), time scale ${scale}${scale === 1 ? " (real time)" : ""},
${percent(settings.duplicateShare)} of SQS messages delivered twice and of API requests sent twice; overhead: ${overhead.settings.sequentialJobs} sequential API jobs,
${overhead.settings.sequentialSqsJobs} sequential SQS jobs, ${overhead.settings.concurrentJobs} concurrent; ${bundles.bundles[0]?.samples ?? 0} cold starts per bundle.
Command: \`npm run bench -- --jobs ${settings.jobs} --rate ${settings.requestsPerSecond} --latency ${settings.latencyMs / 1000} --concurrency ${settings.bedrockConcurrency} --time-scale ${scale}\`.

## Targets

Issue 9, the waiting room in front of Bedrock. "Before" is the issue's own column: the design in which the state
machine retried GenerateImage on ThrottlingException, as docs/BENCHMARKS.md and a re-run measured it on 2026-12-02.

| figure | before | target | measured | met |
|---|---|---|---|---|
${issueRows(report)
  .map((row) => `| ${row.figure} | ${row.before} | ${row.target} | ${row.measured} | ${row.met ? "yes" : "**no**"} |`)
  .join("\n")}

The benchmark's other targets:

| figure | measured | target | met |
|---|---|---|---|
${targetRows(report)
  .map((row) => `| ${row.figure} | ${row.measured} | ${row.target} | ${row.met ? "yes" : "**no**"} |`)
  .join("\n")}
`);

  sections.push(`## 1. Burst under quota

${settings.jobs} jobs sent at once: ${Math.floor(settings.jobs / 2)} \`POST /generate-image\` (each with an Idempotency-Key) and ${settings.jobs - Math.floor(settings.jobs / 2)} SQS
messages (SendMessageBatch of 10, alternately JSON and plain-text bodies). The Bedrock stand-in accepts R requests in
any rolling second and answers the others \`ThrottlingException\`, as Bedrock's quota does; each image takes L.
GenerateImage puts each job in the waiting room (the generate queue) and waits for its task token; the generator takes
at most C=${settings.bedrockConcurrency} messages at once and calls Bedrock once per message; a throttled message goes back on the queue
for ${THROTTLE_DELAY_SECONDS} s (functions/shared/waiting-room.ts) and its slot takes the next one.
The second run is the same burst with the quota shared: the stand-in also refuses ${sharedRate} of the calls within its
quota, at random (a refused call takes no place in the quota).

**Delivered twice.** Every ${Math.max(1, Math.round(1 / settings.duplicateShare))}th SQS message is handed to the start-job SQS adapter a second
time: the exported \`sqsHandler\` of functions/start-job/handler.ts (the module instance the stack's poller calls)
receives an SQS event with the same message id and body and a receive count of 2, which is exactly what Lambda
receives when SQS delivers a message again. Half of them at once (racing the poller's first delivery), half at a
random moment of the burst (the job running or done). Sending the same body twice would not test this: it makes two
messages with two ids, i.e. two jobs; and the emulator cannot be made to redeliver a message the poller holds
without its receipt handle. The same share of API requests is sent again with the same Idempotency-Key (a client
retry). ${burst.redeliveries.sent} redeliveries (${burst.redeliveries.handlerFailures} reported as failures), ${burst.apiRetries.sent} API retries (${burst.apiRetries.replayed} answered 202 Idempotent-Replayed).

**Time scale.** ${
    scale === 1
      ? "Real time: the quota window, L and the state machine's retry intervals are the deployed ones."
      : `Every duration is multiplied by ${scale}: the state machine's retry intervals, L, and the quota window (R becomes ${settings.requestsPerSecond / scale}/s). The waiting room's visibility delays are whole seconds of SQS and are not scaled, so a throttled job waits relatively longer than in real time; compare ratios only between real-time runs.`
  }

| figure | burst | quota shared (${sharedRate} refused at random) |
|---|---|---|
${burstRows(run, sharedQuota)}

Time per state (entered to exited, succeeded executions of the burst), ms; GenerateImage is the wait for a slot plus
the generator's call:

${stateTable(burst.metrics.stateMs)}

**The waiting room in a model.** bench/waiting-room-model.ts runs the same burst with no local stack: N messages on
the generate queue at t=0, C slots, the stand-in's sliding one-second window of R accepted calls, L per accepted call,
the generator's delays and receive budget; seeded, 21 runs per row. The first row is the design alone.

| waiting room (model) | makespan / (N/R): median (p10–p90) | Bedrock calls throttled | calls per job | max receives | failed jobs | p95 latency |
|---|---|---|---|---|---|---|
${report.model.waitingRoom.map(waitingRoomRow).join("\n")}

${measuredAgainstModel(report)} ${sharedQuotaNote(report)}

At the issue's scale (N=${report.model.atScale.settings.jobs.toLocaleString("en-US")}, R=${report.model.atScale.settings.requestsPerSecond}/s, L=${report.model.atScale.settings.latencySeconds} s, C=${report.model.atScale.settings.slots}) the model gives
${report.model.atScale.result.ratio.toFixed(2)} (${range(report.model.atScale.result.ratioRange)}), ${percent(report.model.atScale.result.throttledShare)} of calls throttled and at most ${report.model.atScale.result.maxReceives} receives of a message, in
${report.model.atScale.elapsedMs.toFixed(0)} ms for 21 runs; the retry design gives ${report.model.atScale.before.ratio.toFixed(2)} there, with ${report.model.atScale.before.failedJobs.toLocaleString("en-US")} of the ${report.model.atScale.settings.jobs.toLocaleString("en-US")} jobs out
of retries (the ratio counts the survivors only).

**Before: the state machine's retries** (bench/retry-model.ts, GenerateImage's retriers as the ASL had them up to
commit 1ee35aa: 3 s ×2, capped at 60 s, 8 retries, full jitter). A throttled job waited a uniformly drawn time while
the quota idled, so the last unlucky job, not the quota, set the makespan:

| retry design (model) | makespan / (N/R): median (p10–p90) | failed jobs | transitions per job | p95 latency |
|---|---|---|---|---|
${report.model.before.map((row) => `| ${row.label} | ${row.result.ratio.toFixed(2)} (${range(row.result.ratioRange)}) | ${row.result.failedJobs} | ${row.result.transitionsPerJob.toFixed(1)} | ${row.result.p95LatencySeconds.toFixed(0)} s |`).join("\n")}
`);

  sections.push(`## 2. Orchestration overhead

The stand-in answers at once (L=0, no quota) and draws ${overhead.settings.width}x${overhead.settings.height} images (the smallest Nova Canvas size), so a
job's time is the local pipeline's own: local API and start-job, the Step Functions endpoint and runner, the handlers,
s3rver and dynalite. Per-job figures come from ${overhead.settings.sequentialJobs} jobs run one after another through the API (after
${overhead.settings.warmupJobs} unmeasured warm-up jobs); "overhead" is submit-to-end minus the stand-in's own time for the image.

| figure | value |
|---|---|
| throughput, ${overhead.settings.concurrentJobs} jobs sent at once (half API, half SQS) | **${overhead.concurrent.jobsPerSecond.toFixed(1)} jobs/s** (${seconds(overhead.concurrent.makespanMs)}, ${overhead.concurrent.metrics.succeeded} succeeded) |
| per job, API, submit to end: p50 / p95 | ${ms(overhead.sequential.metrics.latencyMs.p50)} / ${ms(overhead.sequential.metrics.latencyMs.p95)} |
| of which the stand-in drawing the image: p50 | ${ms(overhead.sequential.standInMs.p50)} |
| **overhead per job: p50 / p95** | **${ms(overhead.sequential.overheadMs.p50)} / ${ms(overhead.sequential.overheadMs.p95)}** |
| POST /generate-image answered (202): p50 / p95 | ${ms(overhead.sequential.apiAnswerMs.p50)} / ${ms(overhead.sequential.apiAnswerMs.p95)} |
| per job, SQS (poller pickup included), submit to end: p50 / p95 | ${ms(overhead.sequentialSqs.metrics.latencyMs.p50)} / ${ms(overhead.sequentialSqs.metrics.latencyMs.p95)} |

Time per state from the event histories (sequential API jobs), ms:

${stateTable(overhead.sequential.metrics.stateMs)}
${overheadNote(report)}`);

  sections.push(`## 3. Lambda bundles

Built by \`npm run build\` (infra/bundle.ts, the esbuild options infra/lambda-build.ts shares with the CDK construct:
ESM, minified, node${"24"} target, AWS SDK bundled). Cold module init: a fresh \`node\` process with the function's deployed
environment (NODE_OPTIONS=--enable-source-maps as deployed; deploy-time references stubbed, fake credentials) times
\`await import(bundle)\`; median of ${bundles.bundles[0]?.samples ?? 0}, bundles interleaved. "Process ready" adds Node's own start
(a process importing nothing: ${ms(bundles.nodeBaselineMs)}). Measured with Node ${machine.node} on this machine's full core: Lambda runs
Node 24 with a CPU share proportional to memory (256 MB is a fraction of a vCPU), so Lambda's Init Duration will be longer.

${bundleTable(bundles, shape.functions)}

${powertoolsNote(bundles)}

Where the bytes come from (source-map attribution, largest contributors):

${Object.entries(bundles.largestOrigins)
  .map(
    ([source, origins]) =>
      `- ${source}: ${origins.map((origin) => `${origin.origin} ${kib(origin.bytes)}`).join(", ")}`,
  )
  .join("\n")}
${bundleNote(report)}`);

  sections.push(`## 4. Cost per 1,000 images

Per 1,000 images delivered through the API (the caller polls status), beyond the Bedrock price of
$${cost.bedrockPer1000.toFixed(2)} (${cost.defaultModelId}, the default model; other models below). "Clean" is the burst run's baseline phase (${settings.cleanJobs} jobs, no quota,
L=${settings.latencyMs / 1000} s); "burst" is the burst itself (${burst.metrics.transitions.mean.toFixed(2)} transitions per image instead of ${run.clean.metrics.transitions.mean.toFixed(2)}, and
${(burst.bedrock.requests / Math.max(1, burst.metrics.succeeded)).toFixed(2)} Bedrock calls, each a delivery of the generate message). Transitions are counted from the real event
histories, task attempts and their durations too; S3, DynamoDB and Step Functions requests were counted by a proxy in
front of the emulators; the waiting room's traffic comes from the Bedrock stand-in's counters; memory comes from the
synthesized CDK stack (infra/), not from a copy.

| item | basis | clean | burst |
|---|---|---|---|
${[...cost.shared, ...cost.waitingRoom, cost.standard].map(costRow).join("\n")}
| **Total with Standard** | | **$${cost.totals.standard.clean.toFixed(4)}** (${percent(cost.totals.standard.clean / cost.bedrockPer1000)}) | **$${cost.totals.standard.withRetries.toFixed(4)}** (${percent(cost.totals.standard.withRetries / cost.bedrockPer1000)}) |
${costRow(cost.express)}
| **Total with Express instead** | | **$${cost.totals.express.clean.toFixed(4)}** (${percent(cost.totals.express.clean / cost.bedrockPer1000)}) | **$${cost.totals.express.withRetries.toFixed(4)}** (${percent(cost.totals.express.withRetries / cost.bedrockPer1000)}) |

Per model: the Bedrock price of 1,000 images and what everything beyond Bedrock (the same for every model) adds to
it. Prices marked "unconfirmed" were not found on an AWS page (docs/MODELS.md, Prices).

| model | lifecycle | Bedrock / 1,000 | Standard clean | Standard burst | Express clean | Express burst |
|---|---|---|---|---|---|---|
${cost.perModel.map(modelRow).join("\n")}

**Standard or Express.** ${expressNote(report)}

Assumptions and limits:

${cost.assumptions.map((assumption) => `- ${assumption.charAt(0).toUpperCase()}${assumption.slice(1)}.`).join("\n")}

Prices (us-east-1, on demand, no free tiers), as ${PRICE_SOURCE} lists them with the copy read and its date
(bench/prices.ts repeats them for the computation; the architecture document's cost model, with its assumptions A1–A10,
is the estimate these measurements check):

| price | unit | source |
|---|---|---|
${Object.values(PRICES)
  .map((price) => `| $${formatPrice(price.usd)} | ${price.unit} | ${price.source} |`)
  .join("\n")}

Bedrock, per model (bench/prices.ts MODEL_PRICES; docs/MODELS.md has the sources and what is not confirmed):

| model | price | unit | region | source |
|---|---|---|---|---|
${MODEL_PRICES.map(
  (price) =>
    `| ${price.modelId}${price.variant ? ` (${price.variant})` : ""} | $${formatPrice(price.usd)}${price.confirmed ? "" : " (unconfirmed)"} | ${price.unit} | ${price.region} | ${price.source} |`,
).join("\n")}
`);

  sections.push(`## Reading these figures

- The stand-in is not Bedrock: its quota is a sliding one-second window, its latency fixed; Bedrock's real quota for
  each image model and its latency (several seconds per image) differ per model, account and region.
- The local stack runs everything on one machine: ${settings.jobs} executions starting at once compete for ${machine.cores} cores, which inflates
  the first seconds of the burst (see POST answer times: p50 ${ms(burst.apiAnswerMs.p50)} in the burst, ${ms(run.clean.apiAnswerMs.p50)} in the clean phase).
- s3rver (the local S3) answers concurrent DeleteObject calls with 500 InternalError now and then (a race in its
  file store removing empty directories); StoreImage's S3 retrier absorbs them, and they show above as S3TransientError
  attempts. Real S3 does return 500/503 occasionally, so the retry is right, but these are local artifacts.
- Reproduce: \`npm run bench\` (defaults), \`npm run bench -- --help\` for the flags, \`--smoke\` for a seconds-long check.
`);
  return `${sections.join("\n")}`;
}

function burstRows(run: BurstResult, sharedQuota: BurstResult): string {
  const rows: [string, (result: BurstResult["burst"]) => string][] = [
    ["makespan (first submit to last execution end)", (r) => seconds(r.makespanMs)],
    ["N/R", (r) => seconds(r.idealMs)],
    ["ratio", (r) => `**${r.ratio.toFixed(2)}**`],
    [
      "job latency (submit to execution end) p50 / p95 / max",
      (r) =>
        `${seconds(r.metrics.latencyMs.p50)} / ${seconds(r.metrics.latencyMs.p95)} / ${seconds(r.metrics.latencyMs.max)}`,
    ],
    [
      "sent / accepted / succeeded / failed",
      (r) =>
        `${r.metrics.jobs + r.notAccepted} / ${r.accepted} / ${r.metrics.succeeded} / ${r.accepted - r.metrics.succeeded} ${failureList(r.metrics.failures)}${r.timedOut ? " (**timed out waiting for the rest**)" : ""}`,
    ],
    ["lost (accepted, no execution)", (r) => String(r.missing)],
    ["executions beyond one per job", (r) => String(r.extraExecutions)],
    [
      "images: stored / succeeded jobs without one / images of jobs that did not succeed",
      (r) => `${r.images} / ${r.succeededWithoutImage} / ${r.imagesWithoutSuccess}`,
    ],
    ["Bedrock images beyond one per succeeded job (paid twice)", (r) => String(r.extraModelImages)],
    ["staging objects left", (r) => String(r.stagedLeft)],
    ["DLQ depth / queue depth at the end", (r) => `${r.dlqDepth} / ${r.queueDepth}`],
    [
      "Bedrock stand-in: requests / throttled (share) / images / peak concurrency",
      (r) =>
        `${r.bedrock.requests} / ${r.bedrock.throttled} (${percent(throttledShare(r))}) / ${r.bedrock.images} / ${r.bedrock.peakConcurrency}`,
    ],
    ["failed task attempts (retried or caught)", (r) => entries(r.metrics.failedAttempts)],
    [
      "transitions per succeeded execution: mean / p95 / max",
      (r) => `${r.metrics.transitions.mean.toFixed(2)} / ${r.metrics.transitions.p95} / ${r.metrics.transitions.max}`,
    ],
  ];
  return rows.map(([figure, value]) => `| ${figure} | ${value(run.burst)} | ${value(sharedQuota.burst)} |`).join("\n");
}

function waitingRoomRow(row: WaitingRoomRow): string {
  const { result } = row;
  return `| ${row.label} | ${result.ratio.toFixed(2)} (${range(result.ratioRange)}) | ${percent(result.throttledShare)} | ${result.callsPerJob.toFixed(2)} | ${result.maxReceives} | ${result.failedJobs} | ${result.p95LatencySeconds.toFixed(0)} s |`;
}

/** The measured burst against the model's rows for the same N, R, L and C: the design alone, and with overhead. */
function measuredAgainstModel(report: BenchReport): string {
  const measured = report.burst.burst.ratio;
  const { host } = report.burst.burst;
  const [alone, withOverhead] = report.model.waitingRoom;
  if (!alone) return "";
  const nearest =
    withOverhead && Math.abs(withOverhead.result.ratio - measured) < Math.abs(alone.result.ratio - measured);
  const row = nearest && withOverhead ? withOverhead : alone;
  const [low, high] = row.result.ratioRange;
  const within = measured >= low * 0.95 && measured <= high * 1.05;
  return within
    ? `The measured ${measured.toFixed(2)} lies within (or near) the model's "${row.label}" (${range(row.result.ratioRange)}): the waiting room, not the local stack, sets the makespan.`
    : `The measured ${measured.toFixed(2)} lies outside the model's "${row.label}" (${range(row.result.ratioRange)}). ` +
        `The local stack runs in one Node process, emulators included: during the burst it used ${host.cpuMsPerJob.toFixed(0)} ms of CPU ` +
        `per job, ${(host.cpuShare * 100).toFixed(0)}% of a core over the whole makespan, and its event loop ran timers ` +
        `${host.eventLoopDelayMs.p50.toFixed(0)} ms late at the median and ${host.eventLoopDelayMs.p99.toFixed(0)} ms at p99. ` +
        "Every emulator call of every job waits its turn on that one thread, so the generator's own time per image is much " +
        "longer in the burst than in the sequential runs of §2 (compare RecordRunning's single UpdateItem above with §2's), " +
        "and at L = 1 s that time weighs heavily against the image's. `npm run bench -- --rate 2 --latency 5` keeps N/R " +
        "and C and asks a fifth of the calls per second: it shows the design where the local stack's time weighs less.";
}

/**
 * What the quota-shared figure measures. A call the stand-in refuses at random takes no place in its rate window
 * (RequestRateWindow.release, as Bedrock does not count a throttled call), so the refusals cost each refused message
 * a second out of the queue, not the quota a call: the burst is longer only by its tail.
 */
function sharedQuotaNote(report: BenchReport): string {
  const p = report.sharedQuota.settings.throttleRate ?? 0;
  if (p <= 0) return "";
  const rows = report.model.waitingRoom.filter((row) => (row.settings.randomThrottleShare ?? 0) === p);
  const design = rows[0];
  const modelled = design
    ? ` The seeded model gives ${design.result.ratio.toFixed(2)} × N/R for it, with ${percent(design.result.throttledShare)} of calls throttled.`
    : "";
  return (
    `With the quota shared, the stand-in refuses ${percent(p)} of the calls within the quota at random; a refused ` +
    `call takes no place in the quota (Bedrock does not count a throttled call), so the refused message is simply ` +
    `tried again a second later by whichever slot is free.${modelled}`
  );
}

function overheadNote(report: BenchReport): string {
  const { sequential, emulatorMs } = report.overhead;
  const p50 = sequential.overheadMs.p50;
  if (p50 <= TARGETS.overheadP50Ms) return "";
  return `
**Target missed (p50 ${ms(p50)} > ${TARGETS.overheadP50Ms} ms).** Called directly, the emulators take what a job asks of them in
${ms(emulatorMs.perJob)} (medians: s3rver PUT ${ms(emulatorMs.put)}, COPY ${ms(emulatorMs.copy)}, DELETE ${ms(emulatorMs.delete)}; dynalite UpdateItem ${ms(emulatorMs.update)}, twice),
so the pipeline's own share (local API, start-job, the Step Functions endpoint and runner, the handlers, the SDK
calls) is about ${ms(p50 - emulatorMs.perJob)}. s3rver writes every object as three files (data, MD5, metadata) and removes them one by
one; dynalite is LevelDB in JavaScript. None of that exists on AWS, where these steps are service calls with
latencies of their own. ${
    p50 - emulatorMs.perJob <= TARGETS.overheadP50Ms
      ? "Without the emulators' time the pipeline is within the target: faster emulators (an in-memory S3 store for benchmark runs) would meet it, and nothing in the handlers or the state machine would change."
      : "Even without the emulators' time the pipeline is over the target: the runner and the local endpoints (JSON round trips, the execution file written per start and per end) are the next place to look."
  }
`;
}

/**
 * Section 3's table: each bundle with its Powertools bytes, the Powertools-alone bundle timed in the same rounds, and
 * beside them the last figures measured before Powertools (bench/before-powertools.ts).
 */
export function bundleTable(bundles: BundlesResult, functions: readonly DeployedFunction[]): string {
  const before = BEFORE_POWERTOOLS;
  const header = `| function | memory | bundle | of which Powertools | source map | cold init (median) | process ready (median) | before Powertools (commit ${before.commit.slice(0, 7)}): bundle / cold init |`;
  const row = (bundle: BundleResult, memory: string, then: string) =>
    `| ${bundle.function} | ${memory} | ${kib(bundle.bytes)}${bundle.bytes > TARGETS.bundleBytes ? " (over)" : ""} | ${kib(bundle.powertoolsBytes)} (${percent(bundle.powertoolsBytes / bundle.bytes)}) | ${kib(bundle.mapBytes)} | ${ms(bundle.initMs)} | ${ms(bundle.processReadyMs)} | ${then} |`;
  return [
    header,
    "|---|---|---|---|---|---|---|---|",
    ...bundles.bundles.map((bundle) => {
      const deployed = functions.find((fn) => fn.name === bundle.function);
      const then = before.bundles[bundle.function];
      return row(
        bundle,
        `${deployed?.memoryMb ?? "?"} MB`,
        then ? `${then.kib} KiB / ${ms(then.initMs)}` : "– (no such function then)",
      );
    }),
    row(bundles.powertoolsAlone, "–", "–"),
  ].join("\n");
}

/** What the Powertools columns and row mean, and why the "before" figures are not this run's. */
export function powertoolsNote(bundles: BundlesResult): string {
  const before = BEFORE_POWERTOOLS;
  const alone = bundles.powertoolsAlone;
  const inBundles = bundles.bundles.map((bundle) => bundle.powertoolsBytes);
  const others = alone.origins.filter(
    (origin) => !origin.origin.startsWith(POWERTOOLS_SCOPE) && origin.origin !== "this repository",
  );
  return `**Before and after Powertools.** "Of which Powertools" is what the source map attributes to \`${POWERTOOLS_SCOPE}*\`
(${kib(Math.min(...inBundles))}–${kib(Math.max(...inBundles))} per bundle). The like-for-like figure is the last row: a bundle built with the same esbuild options
whose entry only calls functions/shared/logger.ts's and metrics.ts's create functions, as the handlers do at module
start (a Logger and the Metrics), timed in this run by the same harness, ${alone.samples} times, interleaved with the functions
(environment: the variables every function shares). It takes ${kib(alone.bytes)} (${alone.origins.map((origin) => `${origin.origin} ${kib(origin.bytes)}`).join(", ")})
and ${ms(alone.initMs)} of cold init${others.length ? `; the column counts only \`${POWERTOOLS_SCOPE}*\`, not what Powertools brings along (${others.map((origin) => `${origin.origin} ${kib(origin.bytes)}`).join(", ")})` : ""}.

"Before Powertools" is copied from docs/BENCHMARKS.md at commit ${before.commit.slice(0, 7)} (${before.commitDate}, bench/before-powertools.ts),
the last run before Powertools came in (commit ${before.powertoolsCommit.slice(0, 7)}). **It was measured on another run, not this one:** ${before.machine};
Node's own start took ${ms(before.nodeBaselineMs)} then and ${ms(bundles.nodeBaselineMs)} in this run, so machine load differs and its cold-init
times cannot be set against this run's. The code measured then differs from today's in more than Powertools (model
families, hardening and the waiting room came since), so neither can the sizes be subtracted: a bundle's Powertools
share is the "of which Powertools" column, and Powertools' cost at start is the Powertools-alone row.`;
}

/** What the size costs at start, as this run measured it. */
function initSentence(report: BenchReport): string {
  const { bundles, nodeBaselineMs } = report.bundles;
  const slowest = Math.max(...bundles.map((bundle) => bundle.initMs));
  if (slowest <= TARGETS.initMs) return "Cold init stays inside its target, so the size costs little at start.";
  return (
    `Cold init is over its target in this run (slowest ${ms(slowest)}, with Node's own start at ` +
    `${ms(nodeBaselineMs)}): module loading grows with the bundle, so the size does cost time at start.`
  );
}

function bundleNote(report: BenchReport): string {
  const over = report.bundles.bundles.filter((bundle) => bundle.bytes > TARGETS.bundleBytes);
  if (over.length === 0) return "";
  return `
**Target missed for ${over.map((bundle) => bundle.function).join(", ")}.** Almost all of each bundle is the AWS SDK v3, bundled on
purpose (infra/lambda-build.ts: Lambda runs the SDK versions the tests ran): @smithy/core alone carries every
protocol's serializer, the S3 client adds its XML, checksum and signing layers, and @aws-sdk/nested-clients is the
SSO/STS part of the default credential chain, never used on Lambda (credentials come from the environment). ${initSentence(report)} What would meet 300 KB: mark \`@aws-sdk/*\`
external and use the SDK in the Node.js 24 runtime (bundles of a few KB; the runtime's SDK version then differs from
the tested one), or keep bundling and exclude the credential-provider chain (saves ~56 KiB; enough for start-job
only). Both are infra/lambda-build.ts decisions; neither is made here.
`;
}

function expressNote(report: BenchReport): string {
  const { cost } = report;
  const { atScale } = report.model;
  const expressLimitSeconds = 300;
  return `Express would cost $${cost.express.clean.toFixed(4)} instead of $${cost.standard.clean.toFixed(4)} per
1,000 images for the orchestration (clean run), but both totals stay within the 1% budget, so cost does not decide.
What does: Express runs at most 5 minutes, while a job now waits in the waiting room as long as the backlog ahead of it
lasts: the last of a burst waits about N/R (${((atScale.result.ratio * atScale.settings.jobs) / atScale.settings.requestsPerSecond).toFixed(0)} s for ${atScale.settings.jobs.toLocaleString("en-US")} jobs at ${atScale.settings.requestsPerSecond}/s in the model), so any
burst above ${(expressLimitSeconds * atScale.settings.requestsPerSecond).toLocaleString("en-US")} jobs at that quota would outlast an Express execution; asynchronous Express executions are at-least-once
and not idempotent by name, so a redelivered SQS message or a retried API call could start a second execution and
pay Bedrock twice, where Standard's \`ExecutionAlreadyExists\` makes them harmless (the duplicate figures above);
and Express keeps no execution history in the console, only CloudWatch Logs, where the team could no longer open an
execution's graph and failed step. Standard stays.`;
}

function stateTable(states: Record<string, Spread>): string {
  return `| state | p50 | p95 | max |\n|---|---|---|---|\n${Object.entries(states)
    .map(([state, values]) => `| ${state} | ${values.p50} | ${values.p95} | ${values.max} |`)
    .join("\n")}`;
}

function modelRow(model: ModelCost): string {
  const label = `${model.name} \`${model.modelId}\`${model.variant ? ` ${model.variant}` : ""}`;
  const price = `$${model.bedrockPer1000.toFixed(2)}${model.confirmed ? "" : " (unconfirmed)"}`;
  const { standard, express } = model.share;
  return `| ${label} | ${model.lifecycle} | ${price} | ${percent(standard.clean)} | ${percent(standard.withRetries)} | ${percent(express.clean)} | ${percent(express.withRetries)} |`;
}

function costRow(line: CostLine): string {
  return `| ${line.item} | ${line.basis} | $${line.clean.toFixed(4)} | $${line.withRetries.toFixed(4)} |`;
}

function entries(counts: Record<string, number>): string {
  const list = Object.entries(counts).map(([key, count]) => `${key} ${count}`);
  return list.length ? list.join(", ") : "none";
}

function failureList(failures: Record<string, number>): string {
  const list = entries(failures);
  return list === "none" ? "" : `(${list})`;
}

export function seconds(value: number): string {
  return `${(value / 1000).toFixed(1)} s`;
}

export function ms(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(1)} ms` : "n/a";
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

function range([low, high]: [number, number]): string {
  return `${low.toFixed(2)}–${high.toFixed(2)}`;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(share < 0.1 ? 2 : 1)}%`;
}

function formatPrice(usd: number): string {
  return usd >= 0.01 ? usd.toFixed(3) : usd.toPrecision(3);
}
