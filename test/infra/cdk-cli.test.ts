// Verifies the real CLI, `cdk synth -c alertEmail=...` (what `npx cdk synth` runs), with no AWS credentials or
// profile: the app runs, esbuild bundles every function (index.mjs), the cdk-nag plugin passes, and without
// alertEmail the command fails with a message naming `-c alertEmail=...`.
// It cannot verify deployment (no AWS account here). Slow (a few seconds): both commands run at once, in beforeAll.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../infra/lambda-build";

let outputRoot: string;
let synth: Run;
let missingEmail: Run;
const outdir = () => path.join(outputRoot, "cdk.out");

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of a machine that has never been given AWS credentials. */
function withoutAwsCredentials(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("AWS_") && !name.startsWith("CDK_")),
  );
  return {
    ...env,
    AWS_CONFIG_FILE: path.join(outputRoot, "no-aws-config"),
    AWS_SHARED_CREDENTIALS_FILE: path.join(outputRoot, "no-aws-credentials"),
    // No instance metadata lookups (they would wait for a timeout off EC2).
    AWS_EC2_METADATA_DISABLED: "true",
    CDK_DISABLE_CLI_TELEMETRY: "true",
  };
}

function cdkSynth(args: string[], outdir: string): Promise<Run> {
  const cli = path.join(repoRoot, "node_modules", "aws-cdk", "bin", "cdk");
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, "synth", "--quiet", "--no-notices", "--output", outdir, ...args],
      { cwd: repoRoot, env: withoutAwsCredentials(), timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  outputRoot = mkdtempSync(path.join(tmpdir(), "couch-imagegen-synth-"));
  [synth, missingEmail] = await Promise.all([
    cdkSynth(["-c", "alertEmail=ops@example.com"], outdir()),
    cdkSynth([], path.join(outputRoot, "cdk.out-missing-email")),
  ]);
}, 120_000);

afterAll(() => {
  rmSync(outputRoot, { recursive: true, force: true });
});

describe("cdk synth (the CLI, no AWS credentials)", () => {
  it("succeeds with -c alertEmail and writes the template, with cdk-nag passing", () => {
    expect(synth.code, synth.stderr).toBe(0);
    const template = JSON.parse(readFileSync(path.join(outdir(), "CouchImagegen.template.json"), "utf8"));
    expect(Object.keys(template.Resources).length).toBeGreaterThan(50);
    const report = JSON.parse(readFileSync(path.join(outdir(), "validation-report.json"), "utf8"));
    expect(report.pluginReports.filter((plugin: { conclusion: string }) => plugin.conclusion !== "success")).toEqual(
      [],
    );
  });

  it("bundles each of the seven functions to an ES module with a source map", () => {
    const template = JSON.parse(readFileSync(path.join(outdir(), "CouchImagegen.template.json"), "utf8"));
    const functions = Object.values(
      template.Resources as Record<string, { Type: string; Metadata?: Record<string, string> }>,
    ).filter((resource) => resource.Type === "AWS::Lambda::Function");
    expect(functions).toHaveLength(7);
    for (const fn of functions) {
      const assetDir = path.join(outdir(), fn.Metadata?.["aws:asset:path"] ?? "missing");
      expect(existsSync(path.join(assetDir, "index.mjs")), assetDir).toBe(true);
      expect(existsSync(path.join(assetDir, "index.mjs.map")), assetDir).toBe(true);
      expect(readFileSync(path.join(assetDir, "index.mjs"), "utf8")).toMatch(/^import \{ createRequire/);
    }
  });

  it("fails without alertEmail, saying which -c flag to pass", () => {
    expect(missingEmail.code).not.toBe(0);
    expect(missingEmail.stderr).toContain("alertEmail is required: pass -c alertEmail=you@example.com");
  });
});
