// Verifies `couchgen models` with a mocked Bedrock control plane (aws-sdk-client-mock, in-process): how Bedrock's
// lifecycle and availability answers, the catalog's dates and the clock make each model's status and verdict, that
// profile ids are asked about as their foundation model, how AWS errors map to exit codes, and what the command
// prints (table, warnings on stderr, --json, exit 9 under --check). It cannot verify real Bedrock's answers: the
// stand-in test (couchgen-models-stand-in.test.ts) covers the HTTP shapes, and only AWS itself the real account's.
import {
  AccessDeniedException,
  BedrockClient,
  type FoundationModelLifecycle,
  GetFoundationModelAvailabilityCommand,
  type GetFoundationModelAvailabilityResponse,
  GetFoundationModelCommand,
  type GetFoundationModelResponse,
  ResourceNotFoundException,
  ThrottlingException,
} from "@aws-sdk/client-bedrock";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import type { BedrockSettings } from "../../cli/config";
import { ExitCode } from "../../cli/exit-codes";
import { bedrockError, checkModelLifecycle } from "../../cli/model-lifecycle";
import { runCli } from "../../cli/program";
import { DEFAULT_MODEL_ID, MODEL_CATALOG, SUPPORTED_MODEL_IDS } from "../../functions/shared/models/catalog";

const bedrockMock = mockClient(BedrockClient);
const bedrock = new BedrockClient({ region: "us-west-2" });

const CORE = "stability.stable-image-core-v1:1";
const ULTRA = "stability.stable-image-ultra-v1:1";
const NOVA = "amazon.nova-canvas-v1:0";
const TITAN_V1 = "amazon.titan-image-generator-v1";
const TITAN_V2 = "amazon.titan-image-generator-v2:0";
const PROFILED = MODEL_CATALOG.find((model) => Object.keys(model.profiles).length > 0);
/** Between Nova Canvas's legacy date (2026-03-30) and its end of life (2026-09-30) in the catalog. */
const MID_2026 = new Date("2026-05-01T12:00:00Z");
const options = { region: "us-west-2", now: MID_2026 };

const FULL_ACCESS: GetFoundationModelAvailabilityResponse = {
  modelId: CORE,
  agreementAvailability: { status: "AVAILABLE" },
  authorizationStatus: "AUTHORIZED",
  entitlementAvailability: "AVAILABLE",
  regionAvailability: "AVAILABLE",
};

function details(
  modelId: string,
  modelLifecycle: NonNullable<GetFoundationModelResponse["modelDetails"]>["modelLifecycle"],
) {
  return {
    modelDetails: { modelArn: `arn:aws:bedrock:us-west-2::foundation-model/${modelId}`, modelId, modelLifecycle },
  };
}

const notFound = () =>
  new ResourceNotFoundException({ message: "The model was not found.", $metadata: { httpStatusCode: 404 } });

beforeEach(() => {
  bedrockMock.reset();
  bedrockMock.on(GetFoundationModelAvailabilityCommand).resolves(FULL_ACCESS);
});

describe("checkModelLifecycle", () => {
  it("reports an ACTIVE model this caller may invoke as ok", async () => {
    bedrockMock.on(GetFoundationModelCommand).resolves(details(CORE, { status: "ACTIVE" }));

    const report = await checkModelLifecycle(bedrock, [CORE], options);

    expect(report).toEqual({
      region: "us-west-2",
      models: [
        {
          id: CORE,
          foundationModelId: CORE,
          name: "Stable Image Core",
          status: "ACTIVE",
          invocable: true,
          availability: {
            agreement: "AVAILABLE",
            authorization: "AUTHORIZED",
            entitlement: "AVAILABLE",
            region: "AVAILABLE",
          },
          verdict: "ok",
          notes: [],
        },
      ],
    });
    expect(bedrockMock.commandCalls(GetFoundationModelCommand)[0]?.args[0].input).toEqual({ modelIdentifier: CORE });
    expect(bedrockMock.commandCalls(GetFoundationModelAvailabilityCommand)[0]?.args[0].input).toEqual({
      modelId: CORE,
    });
  });

  // Exactly one of the next two runs: the catalog lists inference profiles for some model, or for none.
  it.runIf(PROFILED)("asks about an inference profile id's foundation model", async () => {
    const profileId = `${Object.keys(PROFILED?.profiles ?? {})[0]}.${PROFILED?.id}`;
    bedrockMock.on(GetFoundationModelCommand).resolves(details(PROFILED?.id ?? "", { status: "ACTIVE" }));

    const [model] = (await checkModelLifecycle(bedrock, [profileId], options)).models;

    expect(model).toMatchObject({ id: profileId, foundationModelId: PROFILED?.id });
    expect(bedrockMock.commandCalls(GetFoundationModelCommand)[0]?.args[0].input).toEqual({
      modelIdentifier: PROFILED?.id,
    });
  });

  it.runIf(!PROFILED)("reports a us. profile id as UNKNOWN while the catalog lists no inference profiles", async () => {
    const [model] = (await checkModelLifecycle(bedrock, [`us.${CORE}`], options)).models;

    expect(model).toMatchObject({ id: `us.${CORE}`, status: "UNKNOWN", verdict: "unusable" });
    expect(bedrockMock.calls()).toHaveLength(0);
  });

  it("warns about a LEGACY model with a future end of life, taking Bedrock's dates over the catalog's", async () => {
    bedrockMock.on(GetFoundationModelCommand).resolves(
      details(NOVA, {
        status: "LEGACY",
        legacyTime: new Date("2026-04-01T00:00:00Z"),
        endOfLifeTime: new Date("2026-10-15T00:00:00Z"),
        publicExtendedAccessTime: new Date("2026-07-01T00:00:00Z"),
      }),
    );

    const [model] = (await checkModelLifecycle(bedrock, [NOVA], options)).models;

    expect(model).toMatchObject({
      status: "LEGACY",
      legacySince: "2026-04-01",
      endOfLife: "2026-10-15",
      publicExtendedAccessFrom: "2026-07-01",
      invocable: true,
      replacement: CORE,
      verdict: "warning",
    });
    expect(model?.notes).toEqual([`${NOVA} is LEGACY: end of life 2026-10-15, in 167 days; move to ${CORE}`]);
  });

  it("counts a deprecation the catalog records even when the region's API still says ACTIVE", async () => {
    bedrockMock.on(GetFoundationModelCommand).resolves(details(NOVA, { status: "ACTIVE" }));

    const [model] = (await checkModelLifecycle(bedrock, [NOVA], options)).models;

    const { legacySince, endOfLife } = MODEL_CATALOG.find((row) => row.id === NOVA)?.lifecycle ?? {};
    expect(model).toMatchObject({ status: "LEGACY", legacySince, endOfLife, verdict: "warning" });
  });

  it("warns about a LEGACY model without an end-of-life date", async () => {
    bedrockMock.on(GetFoundationModelCommand).resolves(details(TITAN_V1, { status: "LEGACY" }));

    const [model] = (await checkModelLifecycle(bedrock, [TITAN_V1], options)).models;

    expect(model).toMatchObject({ status: "LEGACY", verdict: "warning" });
    expect(model?.notes).toEqual([`${TITAN_V1} is LEGACY, with no end-of-life date announced; move to ${CORE}`]);
  });

  it("calls a model EOL once its end-of-life date has passed, and does not ask about its availability", async () => {
    bedrockMock
      .on(GetFoundationModelCommand)
      .resolves(details(NOVA, { status: "LEGACY", endOfLifeTime: new Date("2026-04-30T00:00:00Z") }));

    const [model] = (await checkModelLifecycle(bedrock, [NOVA], options)).models;

    expect(model).toMatchObject({ status: "EOL", endOfLife: "2026-04-30", replacement: CORE, verdict: "unusable" });
    expect(model?.invocable).toBeUndefined();
    expect(model?.notes).toEqual([`${NOVA} reached its end of life on 2026-04-30; move to ${CORE}`]);
    expect(bedrockMock.commandCalls(GetFoundationModelAvailabilityCommand)).toHaveLength(0);
  });

  it("reports a model Bedrock does not know in the region as NOT_FOUND, naming the catalog's regions", async () => {
    bedrockMock.on(GetFoundationModelCommand).rejects(notFound());

    const [model] = (await checkModelLifecycle(bedrock, [ULTRA], { ...options, region: "eu-west-1" })).models;

    expect(model).toMatchObject({ id: ULTRA, status: "NOT_FOUND", verdict: "unusable" });
    expect(model?.notes).toEqual([
      `Bedrock has no ${ULTRA} in eu-west-1: it is past its end of life or not offered there (the catalog lists it in us-west-2)`,
    ]);
  });

  it("calls a model Bedrock no longer knows EOL when the catalog's end-of-life date has passed", async () => {
    bedrockMock.on(GetFoundationModelCommand).rejects(notFound());

    const [model] = (await checkModelLifecycle(bedrock, [NOVA], { ...options, now: new Date("2026-12-01") })).models;

    expect(model).toMatchObject({ status: "EOL", endOfLife: "2026-09-30", verdict: "unusable" });
    expect(model?.notes).toEqual([
      `${NOVA} reached its end of life on 2026-09-30: Bedrock has no ${NOVA} in us-west-2; move to ${CORE}`,
    ]);
  });

  it("reports an id the catalog does not have as UNKNOWN without asking Bedrock, listing the supported ids", async () => {
    const [model] = (await checkModelLifecycle(bedrock, ["stability.sd3-large-v1:0"], options)).models;

    expect(model).toEqual({
      id: "stability.sd3-large-v1:0",
      status: "UNKNOWN",
      verdict: "unusable",
      notes: [`"stability.sd3-large-v1:0" is unknown to couchgen: use one of ${SUPPORTED_MODEL_IDS.join(", ")}`],
    });
    expect(bedrockMock.calls()).toHaveLength(0);
  });

  it("says why a model is not invocable, from the availability fields Bedrock states", async () => {
    bedrockMock.on(GetFoundationModelCommand).resolves(details(CORE, { status: "ACTIVE" }));
    bedrockMock.on(GetFoundationModelAvailabilityCommand).resolves({
      ...FULL_ACCESS,
      agreementAvailability: { status: "PENDING" },
      authorizationStatus: "NOT_AUTHORIZED",
      entitlementAvailability: "NOT_AVAILABLE",
    });

    const [model] = (await checkModelLifecycle(bedrock, [CORE], options)).models;

    expect(model).toMatchObject({
      status: "ACTIVE",
      invocable: false,
      notInvocableBecause: ["not authorized", "not entitled", "agreement PENDING"],
      verdict: "warning",
    });
    expect(model?.notes[0]).toContain("the caller's IAM policy or an SCP denies it");
  });

  it("does not read an agreement NOT_AVAILABLE as a reason (AWS does not document its meaning)", async () => {
    bedrockMock.on(GetFoundationModelCommand).resolves(details(CORE, { status: "ACTIVE" }));
    bedrockMock
      .on(GetFoundationModelAvailabilityCommand)
      .resolves({ ...FULL_ACCESS, agreementAvailability: { status: "NOT_AVAILABLE" } });

    const [model] = (await checkModelLifecycle(bedrock, [CORE], options)).models;

    expect(model).toMatchObject({ invocable: true, availability: { agreement: "NOT_AVAILABLE" }, verdict: "ok" });
  });

  it("asks once about an id given twice", async () => {
    bedrockMock.on(GetFoundationModelCommand).resolves(details(CORE, { status: "ACTIVE" }));

    const report = await checkModelLifecycle(bedrock, [CORE, CORE], options);

    expect(report.models).toHaveLength(1);
    expect(bedrockMock.commandCalls(GetFoundationModelCommand)).toHaveLength(1);
  });

  it("lets an AWS error other than not-found through", async () => {
    const denied = new AccessDeniedException({ message: "no", $metadata: { httpStatusCode: 403 } });
    bedrockMock.on(GetFoundationModelCommand).rejects(denied);

    await expect(checkModelLifecycle(bedrock, [CORE], options)).rejects.toBe(denied);
  });
});

describe("bedrockError", () => {
  const aws: BedrockSettings = { region: "us-west-2", local: false };
  const local: BedrockSettings = { region: "us-west-2", endpoint: "http://127.0.0.1:4606", local: true };

  it("names the two IAM actions when access is denied (exit 3)", () => {
    const error = bedrockError(
      new AccessDeniedException({ message: "User is not authorized", $metadata: { httpStatusCode: 403 } }),
      aws,
    );

    expect(error.exitCode).toBe(ExitCode.Refused);
    expect(error.message).toBe(
      "Bedrock in us-west-2 denied access: User is not authorized\nThe caller needs bedrock:GetFoundationModel and bedrock:GetFoundationModelAvailability",
    );
  });

  it("asks for credentials when there are none (exit 2)", () => {
    const missing = Object.assign(new Error("Could not load credentials from any providers"), {
      name: "CredentialsProviderError",
    });

    expect(bedrockError(missing, aws)).toMatchObject({ exitCode: ExitCode.Usage });
    expect(bedrockError(missing, aws).message).toContain("No AWS credentials for Bedrock");
  });

  it("says retry later for throttling, and points at npm start when the local stand-in is down (exit 8)", () => {
    const throttled = new ThrottlingException({ message: "Rate exceeded", $metadata: { httpStatusCode: 429 } });
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:4606"), { code: "ECONNREFUSED" });

    expect(bedrockError(throttled, aws)).toMatchObject({ exitCode: ExitCode.Unavailable });
    expect(bedrockError(refused, local)).toMatchObject({ exitCode: ExitCode.Unavailable });
    expect(bedrockError(refused, local).message).toBe(
      "Could not reach Bedrock in us-west-2 (--local: http://127.0.0.1:4606) (ECONNREFUSED)\nIs the local stack running? Start it with: npm start",
    );
  });
});

describe("couchgen models", () => {
  interface Captured {
    code: number;
    stdout: string;
    stderr: string;
  }

  async function couchgen(args: string[], env: Record<string, string> = {}, now = MID_2026): Promise<Captured> {
    let stdout = "";
    let stderr = "";
    const code = await runCli(args, {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      env,
      now: () => now,
    });
    return { code, stdout, stderr };
  }

  // Bedrock's dates win over the catalog's, so these answers fix every date the assertions read.
  const LIFECYCLES: Record<string, FoundationModelLifecycle> = {
    [NOVA]: { status: "LEGACY", legacyTime: new Date("2026-03-30"), endOfLifeTime: new Date("2026-09-30") },
    [TITAN_V2]: { status: "LEGACY", legacyTime: new Date("2026-01-15"), endOfLifeTime: new Date("2026-12-31") },
    [TITAN_V1]: { status: "LEGACY" },
  };

  beforeEach(() => {
    bedrockMock
      .on(GetFoundationModelCommand)
      .callsFake(({ modelIdentifier }: { modelIdentifier: string }) =>
        details(modelIdentifier, LIFECYCLES[modelIdentifier] ?? { status: "ACTIVE" }),
      );
  });

  it("prints a table of the default model in the default region, and exits 0", async () => {
    const result = await couchgen(["models"]);

    expect(result).toEqual({
      code: ExitCode.Ok,
      stdout: [
        "Bedrock in us-west-2:",
        "MODEL                             NAME               STATUS  LEGACY SINCE  END OF LIFE  INVOCABLE  REPLACEMENT",
        `${DEFAULT_MODEL_ID}  Stable Image Core  ACTIVE  -             -            yes        -`,
        "",
      ].join("\n"),
      stderr: "",
    });
  });

  it("--all asks about every catalog model; a LEGACY one with a future end of life is a warning under --check", async () => {
    const result = await couchgen(["models", "--all", "--check"]);

    expect(result.code).toBe(ExitCode.Ok);
    expect(
      bedrockMock.commandCalls(GetFoundationModelCommand).map((call) => call.args[0].input.modelIdentifier),
    ).toEqual(MODEL_CATALOG.map((model) => model.id));
    expect(result.stdout).toMatch(
      /^amazon\.nova-canvas-v1:0 +Amazon Nova Canvas +LEGACY +2026-03-30 +2026-09-30 +yes +stability\.stable-image-core-v1:1$/m,
    );
    expect(result.stderr).toContain(`warning: ${NOVA} is LEGACY: end of life 2026-09-30, in 152 days; move to ${CORE}`);
  });

  it("--check exits 9 when a model is past its end of life, saying which; without --check it exits 0", async () => {
    const after = new Date("2026-10-01T00:00:00Z");

    const checked = await couchgen(["models", "--model", CORE, "--model", NOVA, "--check"], {}, after);
    const listed = await couchgen(["models", "--model", CORE, "--model", NOVA], {}, after);

    expect(checked.code).toBe(ExitCode.ModelUnusable);
    expect(checked.stdout).toMatch(/^amazon\.nova-canvas-v1:0 +Amazon Nova Canvas +EOL +2026-03-30 +2026-09-30 +- +/m);
    expect(checked.stderr).toBe(
      `not usable: ${NOVA} reached its end of life on 2026-09-30; move to ${CORE}\n` +
        `couchgen: 1 of 2 model(s) not usable in us-west-2: ${NOVA}\n`,
    );
    expect(listed.code).toBe(ExitCode.Ok);
  });

  it("--check exits 9 for an id unknown to couchgen", async () => {
    const result = await couchgen(["models", "--model", "stability.sd3-large-v1:0", "--check"]);

    expect(result.code).toBe(ExitCode.ModelUnusable);
    expect(result.stdout).toMatch(/^stability\.sd3-large-v1:0 +- +UNKNOWN +/m);
    expect(result.stderr).toContain('not usable: "stability.sd3-large-v1:0" is unknown to couchgen: use one of');
  });

  it("--json prints one document with the verdicts and nothing on stderr, in the region from BEDROCK_REGION", async () => {
    bedrockMock.on(GetFoundationModelCommand, { modelIdentifier: ULTRA }).rejects(notFound());

    const result = await couchgen(["models", "--model", CORE, "--model", ULTRA, "--check", "--json"], {
      BEDROCK_REGION: "us-east-1",
    });

    expect(result.code).toBe(ExitCode.ModelUnusable);
    expect(result.stderr).toBe("");
    const document = JSON.parse(result.stdout);
    expect(document).toMatchObject({
      region: "us-east-1",
      usable: false,
      models: [
        { id: CORE, status: "ACTIVE", verdict: "ok" },
        { id: ULTRA, status: "NOT_FOUND", verdict: "unusable" },
      ],
    });
  });

  it("--region wins over BEDROCK_REGION, and a malformed region is a usage error", async () => {
    const flagged = await couchgen(["models", "--region", "us-east-2", "--json"], { BEDROCK_REGION: "us-east-1" });
    const malformed = await couchgen(["models", "--region", "Oregon"]);

    expect(JSON.parse(flagged.stdout)).toMatchObject({ region: "us-east-2" });
    expect(malformed.code).toBe(ExitCode.Usage);
    expect(malformed.stderr).toContain(
      'The Bedrock region "Oregon" (from --region or BEDROCK_REGION) is not an AWS region code',
    );
  });

  it("exits 3 naming the missing IAM actions when the control plane denies access", async () => {
    bedrockMock
      .on(GetFoundationModelCommand)
      .rejects(new AccessDeniedException({ message: "not authorized", $metadata: { httpStatusCode: 403 } }));

    const result = await couchgen(["models", "--check"]);

    expect(result.code).toBe(ExitCode.Refused);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("bedrock:GetFoundationModel and bedrock:GetFoundationModelAvailability");
  });

  it("refuses --all together with --model", async () => {
    const result = await couchgen(["models", "--all", "--model", CORE]);

    expect(result.code).toBe(ExitCode.Usage);
    expect(result.stderr).toContain("option '--all' cannot be used with option '--model <id>'");
  });
});
