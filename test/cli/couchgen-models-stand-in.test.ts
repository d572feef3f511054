// Verifies `couchgen models` end to end against the local Bedrock stand-in: the CLI bundle, run as a child process,
// reaches GetFoundationModel and GetFoundationModelAvailability over HTTP with SigV4 (fake credentials), reads the
// REST shapes the real API answers, and turns a model the stand-in has at end of life (404) into exit 9 under
// --check. The stand-in listens on a free port, reached through AWS_ENDPOINT_URL_BEDROCK (--local would need 4606).
// It cannot verify real Bedrock's lifecycle data or an account's model access: those come from AWS only.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../cli/exit-codes";
import type { ModelLifecycleReport } from "../../cli/model-lifecycle";
import { MODEL_CATALOG } from "../../functions/shared/models/catalog";
import { type BedrockStandIn, startBedrockStandIn } from "../../local/bedrock-stand-in";
import { buildBundle, type CouchgenRun, isolatedEnv, run } from "./couchgen-process";

const CORE = "stability.stable-image-core-v1:1";
const ULTRA = "stability.stable-image-ultra-v1:1";

let standIn: BedrockStandIn;
let bundle: string;

beforeAll(async () => {
  [standIn, bundle] = await Promise.all([startBedrockStandIn({ log: () => {} }), buildBundle()]);
});

afterAll(async () => {
  await standIn?.close();
});

function couchgen(args: string[]): Promise<CouchgenRun> {
  return run(
    [process.execPath, bundle, ...args],
    isolatedEnv({ AWS_ENDPOINT_URL_BEDROCK: standIn.url, AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" }),
  );
}

function report(result: CouchgenRun): ModelLifecycleReport & { usable: boolean } {
  expect(result.stderr).toBe("");
  return JSON.parse(result.stdout);
}

describe("couchgen models against the Bedrock stand-in", () => {
  it("passes --check for an ACTIVE model, in the region asked for", async () => {
    const result = await couchgen(["models", "--check", "--region", "us-east-1", "--model", CORE]);

    expect(result.code).toBe(ExitCode.Ok);
    expect(result.stdout).toMatch(/^Bedrock in us-east-1:$/m);
    expect(result.stdout).toMatch(/^stability\.stable-image-core-v1:1 +Stable Image Core +ACTIVE +- +- +yes +-$/m);
    expect(result.stderr).toBe("");
  });

  it("stops --check with exit 9 when the stand-in has a model at end of life (404 ResourceNotFoundException)", async () => {
    standIn.setModelLifecycle(ULTRA, "EOL");
    try {
      const result = await couchgen(["models", "--check", "--model", CORE, "--model", ULTRA, "--json"]);

      expect(result.code).toBe(ExitCode.ModelUnusable);
      expect(report(result)).toMatchObject({
        region: "us-west-2",
        usable: false,
        models: [
          { id: CORE, status: "ACTIVE", invocable: true, verdict: "ok" },
          { id: ULTRA, status: "NOT_FOUND", verdict: "unusable" },
        ],
      });
    } finally {
      standIn.setModelLifecycle(ULTRA, "ACTIVE");
    }
  });

  it("--all reports every catalog model, with the stand-in's lifecycle and availability", async () => {
    const result = await couchgen(["models", "--all", "--json"]);

    expect(result.code).toBe(ExitCode.Ok);
    const { models } = report(result);
    expect(models.map((model) => model.id)).toEqual(MODEL_CATALOG.map((model) => model.id));
    for (const model of models.filter((row) => row.id.startsWith("stability."))) {
      expect(model).toMatchObject({ status: "ACTIVE", invocable: true, verdict: "ok" });
    }
    // LEGACY (a warning) or, past the catalog's end-of-life date on this machine's clock, EOL: never ok.
    for (const model of models.filter((row) => row.id.startsWith("amazon."))) {
      expect(model).toMatchObject({ replacement: CORE });
      expect(model.status === "LEGACY" || model.status === "EOL").toBe(true);
      expect(model.verdict).not.toBe("ok");
    }
  });
});
