// Verifies bench/bundles.ts's Powertools figures and how section 3 of the report shows them: the Powertools-alone
// bundle builds with infra/lambda-build.ts's options and its source map attributes it to @aws-lambda-powertools/*;
// the table gives each bundle's Powertools bytes and share, the Powertools-alone row, and the figures from before
// Powertools beside today's; the note says those came from another run and which figure is like for like.
// It cannot verify timings (the machine is shared; `npm run bench -- --smoke` checks they are measured), nor that
// bench/before-powertools.ts matches docs/BENCHMARKS.md at its commit (copied from there by hand).
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BEFORE_POWERTOOLS } from "../../bench/before-powertools";
import {
  type BundleResult,
  type BundlesResult,
  buildPowertoolsAlone,
  bytesByPackage,
  POWERTOOLS_ALONE_LABEL,
  powertoolsBytes,
  sharedEnvironment,
} from "../../bench/bundles";
import type { DeployedFunction } from "../../bench/deployed-shape";
import { bundleTable, powertoolsNote } from "../../bench/report";
import { lambdaBundling } from "../../infra/lambda-build";

const KIB = 1024;

function bundle(overrides: Partial<BundleResult>): BundleResult {
  return {
    function: "start-job (API)",
    source: "start-job",
    bytes: 360 * KIB,
    mapBytes: 600 * KIB,
    powertoolsBytes: 31 * KIB,
    initMs: 120,
    processReadyMs: 170,
    samples: 10,
    ...overrides,
  };
}

function deployed(name: string, environment: Record<string, string>): DeployedFunction {
  return { name, source: "start-job", exportName: "handler", memoryMb: 256, architecture: "arm64", environment };
}

const measured: BundlesResult = {
  bundles: [
    bundle({}),
    bundle({ function: "failure-notifier", source: "failure-notifier", powertoolsBytes: 16 * KIB }),
  ],
  powertoolsAlone: {
    ...bundle({
      function: POWERTOOLS_ALONE_LABEL,
      source: "functions/shared/logger.ts + metrics.ts",
      bytes: 35 * KIB,
      mapBytes: 60 * KIB,
      powertoolsBytes: 31 * KIB,
      initMs: 12.5,
      processReadyMs: 65,
    }),
    origins: [
      { origin: "@aws-lambda-powertools/logger", bytes: 16 * KIB },
      { origin: "@aws-lambda-powertools/metrics", bytes: 11 * KIB },
      { origin: "@aws-lambda-powertools/commons", bytes: 4 * KIB },
      { origin: "@aws/lambda-invoke-store", bytes: 2 * KIB },
      { origin: "this repository", bytes: 2 * KIB },
    ],
  },
  nodeBaselineMs: 53.1,
  buildMs: 4000,
};

describe("the Powertools-alone bundle", () => {
  const directory = mkdtempSync(path.join(tmpdir(), "couch-imagegen-powertools-alone-"));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it("builds with the Lambda options and is almost all Powertools by its source map", () => {
    // Act
    const file = buildPowertoolsAlone(directory);

    // Assess
    expect(path.basename(file)).toBe(lambdaBundling.outputFile);
    const code = readFileSync(file, "utf8");
    expect(code.startsWith(lambdaBundling.banner)).toBe(true);
    expect(code).toMatch(/export\s*\{[^}]*handler/);
    const origins = bytesByPackage(file);
    expect(origins.map((origin) => origin.origin)).toEqual(
      expect.arrayContaining([
        "@aws-lambda-powertools/logger",
        "@aws-lambda-powertools/metrics",
        "@aws-lambda-powertools/commons",
      ]),
    );
    expect(powertoolsBytes(origins) / statSync(file).size).toBeGreaterThan(0.8);
    expect(origins.some((origin) => origin.origin.startsWith("@aws-sdk/"))).toBe(false);
  });
});

describe("powertoolsBytes and sharedEnvironment", () => {
  it("counts @aws-lambda-powertools/* only", () => {
    expect(
      powertoolsBytes([
        { origin: "@aws-lambda-powertools/logger", bytes: 100 },
        { origin: "@aws-lambda-powertools/metrics", bytes: 50 },
        { origin: "@aws/lambda-invoke-store", bytes: 20 },
        { origin: "this repository", bytes: 7 },
      ]),
    ).toBe(150);
  });

  it("keeps the variables every function has with the same value", () => {
    const environment = sharedEnvironment([
      deployed("a", { NODE_OPTIONS: "--enable-source-maps", POWERTOOLS_LOG_LEVEL: "INFO", IMAGE_BUCKET: "b" }),
      deployed("b", { NODE_OPTIONS: "--enable-source-maps", POWERTOOLS_LOG_LEVEL: "DEBUG" }),
    ]);

    expect(environment).toEqual({ NODE_OPTIONS: "--enable-source-maps" });
    expect(sharedEnvironment([])).toEqual({});
  });
});

describe("section 3: before and after Powertools", () => {
  const short = BEFORE_POWERTOOLS.commit.slice(0, 7);

  it("gives each bundle its Powertools bytes and share, and the figures before Powertools beside today's", () => {
    const table = bundleTable(measured, [deployed("start-job (API)", {}), deployed("failure-notifier", {})]);

    const lines = table.split("\n");
    expect(lines[0]).toContain(`| of which Powertools |`);
    expect(lines[0]).toContain(`before Powertools (commit ${short}): bundle / cold init |`);
    const before = BEFORE_POWERTOOLS.bundles["start-job (API)"];
    expect(lines[2]).toBe(
      `| start-job (API) | 256 MB | 360 KiB (over) | 31 KiB (8.61%) | 600 KiB | 120.0 ms | 170.0 ms | ${before?.kib} KiB / ${before?.initMs.toFixed(1)} ms |`,
    );
    expect(lines[3]).toContain("| failure-notifier |");
    expect(lines[3]).toContain("| – (no such function then) |");
  });

  it("ends with the Powertools-alone row, timed in this run, with no figure before", () => {
    const last = bundleTable(measured, []).split("\n").at(-1);

    expect(last).toBe(`| ${POWERTOOLS_ALONE_LABEL} | – | 35 KiB | 31 KiB (88.6%) | 60 KiB | 12.5 ms | 65.0 ms | – |`);
  });

  it("says the figures before came from another run and the Powertools-alone row is like for like", () => {
    const note = powertoolsNote(measured);

    expect(note).toContain(`commit ${short} (${BEFORE_POWERTOOLS.commitDate}`);
    expect(note).toContain("measured on another run, not this one");
    expect(note).toContain(BEFORE_POWERTOOLS.machine);
    expect(note).toContain(`${BEFORE_POWERTOOLS.nodeBaselineMs.toFixed(1)} ms then and 53.1 ms in this run`);
    expect(note).toContain("like-for-like figure is the last row");
    expect(note).toContain("12.5 ms of cold init");
    expect(note).toContain("16 KiB–31 KiB per bundle");
    expect(note).toContain("not what Powertools brings along (@aws/lambda-invoke-store 2 KiB)");
    expect(note).not.toMatch(/NaN|undefined/);
  });
});
