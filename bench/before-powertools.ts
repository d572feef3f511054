/**
 * Section 3 of docs/BENCHMARKS.md as the last run before Powertools measured it: the file at commit 143d6da
 * (`git show 143d6da:docs/BENCHMARKS.md`), the newest version older than ff20528, the commit that added
 * @aws-lambda-powertools/logger and /metrics to package.json (`git log -S"@aws-lambda-powertools" -- package.json`).
 * Copied from that table, so sizes are whole KiB as it printed them. Another run on another day: compare the sizes,
 * not the timings (the report says so beside them).
 */
export interface BeforePowertoolsBundle {
  kib: number;
  /** Median cold module init, ms. */
  initMs: number;
  /** Median process ready, ms. */
  processReadyMs: number;
}

export const BEFORE_POWERTOOLS = {
  commit: "143d6dac26965ace6cd600134ce61c943c5b8e14",
  /** The commit that added Powertools (Logger and Metrics in every handler). */
  powertoolsCommit: "ff205281f4935b4e476a172cd04e0f91a7ee5322",
  commitDate: "2026-11-23",
  /** The run's own time, from the file's first line. */
  measuredAt: "2026-11-23T16:23:04Z",
  machine:
    "AMD EPYC, 2 cores, 23.5 GiB, Node v20.20.2, Linux 6.18.44-fc-v595; 1-minute load average 2.05 at the start, 2.18 at the end",
  /** A process importing nothing, in that run: Node's own start, the gauge of how loaded the machine was. */
  nodeBaselineMs: 20.3,
  samples: 10,
  /** By the function names bench/deployed-shape.ts gives; failure-notifier did not exist yet. */
  bundles: {
    "start-job (API)": { kib: 315, initMs: 52.6, processReadyMs: 71.0 },
    "start-job (SQS)": { kib: 315, initMs: 52.0, processReadyMs: 70.3 },
    "job-status": { kib: 501, initMs: 76.2, processReadyMs: 94.6 },
    "validate-prompt": { kib: 5, initMs: 10.5, processReadyMs: 31.1 },
    "generate-image": { kib: 472, initMs: 72.4, processReadyMs: 90.1 },
    "store-image": { kib: 409, initMs: 64.3, processReadyMs: 82.1 },
  } as Readonly<Record<string, BeforePowertoolsBundle>>,
} as const;
