import { spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { buildSync } from "esbuild";
import { esbuildOptions, lambdaBundling, repoRoot } from "../infra/lambda-build";
import type { DeployedFunction } from "./deployed-shape";
import { median } from "./stats";

export interface BundleResult {
  function: string;
  source: string;
  /** index.mjs as deployed (minified). */
  bytes: number;
  /** The source map shipped beside it (NODE_OPTIONS=--enable-source-maps reads it). */
  mapBytes: number;
  /** Bytes the source map attributes to `@aws-lambda-powertools/*`. */
  powertoolsBytes: number;
  /** Median of `samples` fresh processes: `await import(bundle)` until it resolves, ms. */
  initMs: number;
  /** Median of the same processes: from the process's start until the module was ready, ms. */
  processReadyMs: number;
  samples: number;
}

export interface BundlesResult {
  bundles: BundleResult[];
  /**
   * A bundle that only creates what every handler creates at module start from Powertools (a Logger, the Metrics),
   * built with the same options and timed in the same rounds as the functions: Powertools' own cost, like for like.
   */
  powertoolsAlone: BundleResult & {
    /** Its bytes by package (source-map attribution), largest first. */
    origins: { origin: string; bytes: number }[];
  };
  /** A fresh process that imports nothing, from its start to the same point: Node's own start-up here, ms. */
  nodeBaselineMs: number;
  buildMs: number;
}

/** The package scope the "of which Powertools" figures count. */
export const POWERTOOLS_SCOPE = "@aws-lambda-powertools/";

export const POWERTOOLS_ALONE_LABEL = "Powertools alone (Logger + Metrics, as the handlers create them)";

// The Powertools-alone entry: the shared modules' create functions, called at module start as the handlers call them;
// the handler keeps both alive so neither is tree-shaken and the harness finds its export.
const POWERTOOLS_ALONE_ENTRY = `
import { createFunctionLogger } from "./functions/shared/logger";
import { createPipelineMetrics } from "./functions/shared/metrics";

const logger = createFunctionLogger("validate-prompt");
const metrics = createPipelineMetrics();

export async function handler() {
  return { logger, metrics };
}
`;

/**
 * Builds every function with `npm run build` (infra/bundle.ts: the esbuild options the CDK construct uses) and the
 * Powertools-alone bundle with the same options, then imports each bundle in fresh Node processes with the
 * function's deployed environment (references stubbed; Powertools alone gets the environment every function shares),
 * rounds interleaved so machine noise spreads over all bundles alike.
 */
export function measureBundles(functions: readonly DeployedFunction[], samples: number): BundlesResult {
  const buildStarted = performance.now();
  const build = spawnSync(process.execPath, ["--import", "tsx", path.join(repoRoot, "infra", "bundle.ts")], {
    cwd: repoRoot,
    encoding: "utf8",
  });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stderr}`);
  const aloneBundle = buildPowertoolsAlone(path.join(repoRoot, "dist", "bench", "powertools-alone"));
  const buildMs = performance.now() - buildStarted;

  const functionTargets = functions.map((deployed) => ({
    name: deployed.name,
    source: deployed.source,
    bundle: bundlePath(deployed),
    exportName: deployed.exportName,
    environment: deployed.environment,
  }));
  const aloneTarget = {
    name: POWERTOOLS_ALONE_LABEL,
    source: "functions/shared/logger.ts + metrics.ts",
    bundle: aloneBundle,
    exportName: "handler",
    environment: sharedEnvironment(functions),
  };
  const targets = [...functionTargets, aloneTarget];
  const init = new Map<string, number[]>();
  const ready = new Map<string, number[]>();
  const baseline: number[] = [];
  for (let round = 0; round < samples; round++) {
    baseline.push(importInFreshProcess(undefined, "", {}).processReadyMs);
    for (const target of targets) {
      const timing = importInFreshProcess(target.bundle, target.exportName, target.environment);
      init.set(target.name, [...(init.get(target.name) ?? []), timing.initMs]);
      ready.set(target.name, [...(ready.get(target.name) ?? []), timing.processReadyMs]);
    }
  }
  const resultOf = (target: (typeof targets)[number]): BundleResult => ({
    function: target.name,
    source: target.source,
    bytes: statSync(target.bundle).size,
    mapBytes: statSync(`${target.bundle}.map`).size,
    powertoolsBytes: powertoolsBytes(bytesByPackage(target.bundle)),
    initMs: median(init.get(target.name) ?? []),
    processReadyMs: median(ready.get(target.name) ?? []),
    samples,
  });
  return {
    buildMs,
    nodeBaselineMs: median(baseline),
    bundles: functionTargets.map(resultOf),
    powertoolsAlone: { ...resultOf(aloneTarget), origins: bytesByPackage(aloneBundle) },
  };
}

/**
 * Builds the Powertools-alone bundle into `directory` with infra/lambda-build.ts's options, as infra/bundle.ts passes
 * them to esbuild, and returns its path.
 */
export function buildPowertoolsAlone(directory: string): string {
  const outfile = path.join(directory, lambdaBundling.outputFile);
  buildSync({
    ...esbuildOptions(),
    stdin: { contents: POWERTOOLS_ALONE_ENTRY, resolveDir: repoRoot, sourcefile: "powertools-alone.ts", loader: "ts" },
    outfile,
  });
  return outfile;
}

/** Bytes of `@aws-lambda-powertools/*` among a bundle's origins. */
export function powertoolsBytes(origins: readonly { origin: string; bytes: number }[]): number {
  return origins
    .filter((origin) => origin.origin.startsWith(POWERTOOLS_SCOPE))
    .reduce((total, origin) => total + origin.bytes, 0);
}

/** The variables every function has with the same value (NODE_OPTIONS and Powertools' settings among them). */
export function sharedEnvironment(functions: readonly DeployedFunction[]): Record<string, string> {
  const [first, ...rest] = functions;
  return Object.fromEntries(
    Object.entries(first?.environment ?? {}).filter(([key, value]) =>
      rest.every((deployed) => deployed.environment[key] === value),
    ),
  );
}

export function bundlePath(deployed: DeployedFunction): string {
  return path.join(repoRoot, "dist", "functions", deployed.source, lambdaBundling.outputFile);
}

// Runs in the fresh process: times the import, checks the handler export, prints the times as JSON.
const IMPORT_SCRIPT = `
const started = performance.now();
const url = process.env.BENCH_BUNDLE_URL;
const module = url ? await import(url) : {};
const done = performance.now();
const name = process.env.BENCH_EXPORT;
if (url && typeof module[name] !== "function") throw new Error("the bundle does not export " + name);
process.stdout.write(JSON.stringify({ initMs: done - started, processReadyMs: done }));
`;

function importInFreshProcess(
  bundle: string | undefined,
  exportName: string,
  environment: Record<string, string>,
): { initMs: number; processReadyMs: number } {
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", IMPORT_SCRIPT], {
    encoding: "utf8",
    env: {
      PATH: process.env.PATH,
      // What Lambda sets for every function; credentials are fakes (nothing is called at module start).
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "BENCHFAKEKEY",
      AWS_SECRET_ACCESS_KEY: "bench-fake-secret",
      ...environment,
      BENCH_BUNDLE_URL: bundle ? pathToFileURL(bundle).href : "",
      BENCH_EXPORT: exportName,
    },
  });
  if (run.status !== 0) throw new Error(`Importing ${bundle} failed:\n${run.stderr}`);
  return JSON.parse(run.stdout) as { initMs: number; processReadyMs: number };
}

/** Bytes of a minified bundle by the package they came from, read from its source map (largest first). */
export function bytesByPackage(bundle: string, top = Number.POSITIVE_INFINITY): { origin: string; bytes: number }[] {
  const map = JSON.parse(readFileSync(`${bundle}.map`, "utf8")) as { sources: string[]; mappings: string };
  const code = readFileSync(bundle, "utf8").split("\n");
  const totals = new Map<string, number>();
  let source = 0;
  map.mappings.split(";").forEach((line, row) => {
    const length = code[row]?.length ?? 0;
    let column = 0;
    let previous: { column: number; source: number } | undefined;
    for (const segment of line.split(",")) {
      if (segment === "") continue;
      const [columnDelta = 0, sourceDelta] = decodeVlq(segment);
      column += columnDelta;
      if (previous) add(previous.source, column - previous.column);
      if (sourceDelta !== undefined) source += sourceDelta;
      previous = { column, source };
    }
    if (previous) add(previous.source, length - previous.column);
  });
  function add(index: number, bytes: number) {
    const origin = packageOf(map.sources[index] ?? "?");
    totals.set(origin, (totals.get(origin) ?? 0) + bytes);
  }
  return [...totals.entries()]
    .map(([origin, bytes]) => ({ origin, bytes }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, top);
}

function packageOf(source: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
  return match?.[1] ?? "this repository";
}

const VLQ_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function decodeVlq(segment: string): number[] {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (const character of segment) {
    const digit = VLQ_DIGITS.indexOf(character);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return values;
}
