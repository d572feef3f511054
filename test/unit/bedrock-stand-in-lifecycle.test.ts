// Verifies the Bedrock stand-in's model lifecycle and control plane: legacy models still served, a model set to EOL
// (by option or at runtime) refused as Bedrock refuses an end-of-life model, through the real
// @aws-sdk/client-bedrock-runtime, and GetFoundationModel / GetFoundationModelAvailability answered from the model
// catalog, through the real @aws-sdk/client-bedrock. It cannot verify that AWS fills every detail field the same way
// (input modalities, customizations, dates), nor what availability AWS reports for a model past its end of life.
import {
  BedrockClient,
  GetFoundationModelAvailabilityCommand,
  GetFoundationModelCommand,
} from "@aws-sdk/client-bedrock";
import { BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ImageRequest } from "../../functions/shared/image-request";
import { amazonImage } from "../../functions/shared/models/amazon-image";
import { findModel, MODEL_CATALOG, SUPPORTED_MODEL_IDS } from "../../functions/shared/models/catalog";
import { stabilityImage } from "../../functions/shared/models/stability-image";
import { type BedrockStandIn, FAULT_HEADER, STAND_IN_HEADER, startBedrockStandIn } from "../../local/bedrock-stand-in";
import { imageRequest } from "../fixtures/image-request";

const CORE = "stability.stable-image-core-v1:1";
const SD35_LARGE = "stability.sd3-5-large-v1:0";
const NOVA = "amazon.nova-canvas-v1:0";
const TITAN_V1 = "amazon.titan-image-generator-v1";
const END_OF_LIFE =
  "This model version has reached the end of its life. Please refer to the AWS documentation for more details.";
const UNRESOLVED = "Could not resolve the foundation model from the provided model identifier.";
const credentials = { accessKeyId: "local", secretAccessKey: "local" };
const STABILITY_REQUEST = imageRequest(CORE);
const NOVA_REQUEST = imageRequest(NOVA, { width: 320, height: 320 });

let standIn: BedrockStandIn;
const clients: Array<{ destroy(): void }> = [];

function runtimeClient(url = standIn.url): BedrockRuntimeClient {
  const client = new BedrockRuntimeClient({ region: "us-west-2", endpoint: url, credentials, maxAttempts: 1 });
  clients.push(client);
  return client;
}

function controlPlaneClient(url = standIn.url): BedrockClient {
  const client = new BedrockClient({ region: "us-west-2", endpoint: url, credentials, maxAttempts: 1 });
  clients.push(client);
  return client;
}

/** Invokes with the pipeline's own body for the request's family. */
function invoke(request: ImageRequest, modelId = request.modelId, url = standIn.url) {
  const family = request.modelId.startsWith("amazon.") ? amazonImage : stabilityImage;
  return runtimeClient(url).send(
    new InvokeModelCommand({ modelId, contentType: "application/json", body: family.requestBody(request) }),
  );
}

type SdkError = Error & { $metadata: { httpStatusCode?: number } };

function failure(pending: Promise<unknown>): Promise<SdkError> {
  return pending.then(
    () => {
      throw new Error("expected the stand-in to refuse the request");
    },
    (error: SdkError) => error,
  );
}

beforeAll(async () => {
  standIn = await startBedrockStandIn({ log: () => {} });
});

afterEach(() => {
  for (const model of MODEL_CATALOG) standIn.setModelLifecycle(model.id, model.lifecycle.status);
  standIn.resetStats();
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await standIn.close();
});

describe("InvokeModel and the lifecycle", () => {
  it("starts from the catalog's statuses and still serves legacy models", async () => {
    const served = await invoke(NOVA_REQUEST);

    expect(served.body.length).toBeGreaterThan(0);
    expect(standIn.modelLifecycle).toMatchObject({ [CORE]: "ACTIVE", [NOVA]: "LEGACY", [TITAN_V1]: "LEGACY" });
    expect(Object.keys(standIn.modelLifecycle)).toHaveLength(MODEL_CATALOG.length);
  });

  it("refuses an EOL model with 404 ResourceNotFoundException in Bedrock's words, which the pipeline maps to ModelUnavailable", async () => {
    standIn.setModelLifecycle(NOVA, "EOL");

    const error = await failure(invoke(NOVA_REQUEST));

    expect(error.name).toBe("ResourceNotFoundException");
    expect(error.message).toBe(END_OF_LIFE);
    expect(error.$metadata.httpStatusCode).toBe(404);
    expect(amazonImage.mapError(error, NOVA_REQUEST).name).toBe("ModelUnavailable");
    expect(standIn.stats).toMatchObject({ requests: 1, endOfLife: 1, invalid: 0, images: 0 });
  });

  it("refuses an EOL model under every id the catalog supports for it and its ARN, and serves it again when set back", async () => {
    const ids = [
      ...SUPPORTED_MODEL_IDS.filter((id) => findModel(id)?.model.id === CORE),
      `arn:aws:bedrock:us-west-2::foundation-model/${CORE}`,
    ];
    standIn.setModelLifecycle(CORE, "EOL");

    const refusals = await Promise.all(ids.map((id) => failure(invoke(STABILITY_REQUEST, id))));
    standIn.setModelLifecycle(CORE, "ACTIVE");
    const served = await invoke(STABILITY_REQUEST, ids.at(-1));

    expect(refusals.map((error) => error.name)).toEqual(ids.map(() => "ResourceNotFoundException"));
    expect(standIn.modelLifecycle[CORE]).toBe("ACTIVE");
    expect(served.body.length).toBeGreaterThan(0);
    expect(standIn.stats.byModel[CORE]).toEqual({ requests: ids.length + 1, images: 1 });
  });

  it("marks the EOL refusal as the stand-in's setting in a response header", async () => {
    standIn.setModelLifecycle(CORE, "EOL");

    const response = await fetch(`${standIn.url}/model/${encodeURIComponent(CORE)}/invoke`, {
      method: "POST",
      body: stabilityImage.requestBody(STABILITY_REQUEST),
    });

    expect(response.status).toBe(404);
    expect(response.headers.get("x-amzn-errortype")).toBe("ResourceNotFoundException");
    expect(response.headers.get(FAULT_HEADER)).toBe("modelLifecycle");
    expect(response.headers.get(STAND_IN_HEADER)).toBe("true");
    expect(await response.json()).toEqual({ message: END_OF_LIFE });
  });

  it("takes the lifecycle as an option at start", async () => {
    const server = await startBedrockStandIn({ modelLifecycle: { [SD35_LARGE]: "EOL" }, log: () => {} });

    const error = await failure(invoke({ ...STABILITY_REQUEST, modelId: SD35_LARGE }, SD35_LARGE, server.url));
    const served = await invoke(STABILITY_REQUEST, CORE, server.url);
    await server.close();

    expect(error.message).toBe(END_OF_LIFE);
    expect(served.body.length).toBeGreaterThan(0);
  });

  it("refuses lifecycle settings it cannot honour, saying what is accepted", async () => {
    expect(() => standIn.setModelLifecycle("amazon.nova-canvas-v9:0", "EOL")).toThrow(
      `modelLifecycle: "amazon.nova-canvas-v9:0" is not a model in the catalog; use one of ${CORE}, `,
    );
    expect(() => standIn.setModelLifecycle(CORE, "RETIRED" as never)).toThrow(
      `modelLifecycle: the status of ${CORE} must be one of ACTIVE, LEGACY, EOL, got "RETIRED"`,
    );
    await expect(startBedrockStandIn({ modelLifecycle: { nope: "EOL" }, log: () => {} })).rejects.toThrow(
      'modelLifecycle: "nope" is not a model in the catalog',
    );
    expect(standIn.modelLifecycle[CORE]).toBe("ACTIVE");
  });
});

describe("GetFoundationModel", () => {
  it("describes an active Stability model as the SDK types it", async () => {
    const { modelDetails } = await controlPlaneClient().send(new GetFoundationModelCommand({ modelIdentifier: CORE }));
    const hasProfiles = Object.keys(findModel(CORE)!.model.profiles).length > 0;

    expect(modelDetails).toEqual({
      modelArn: `arn:aws:bedrock:us-west-2::foundation-model/${CORE}`,
      modelId: CORE,
      modelName: "Stable Image Core",
      providerName: "Stability AI",
      inputModalities: ["TEXT"],
      outputModalities: ["IMAGE"],
      responseStreamingSupported: false,
      customizationsSupported: [],
      inferenceTypesSupported: hasProfiles ? ["ON_DEMAND", "INFERENCE_PROFILE"] : ["ON_DEMAND"],
      modelLifecycle: { status: "ACTIVE" },
    });
  });

  it("describes a legacy model with the catalog row's legacy and end-of-life dates, also by its ARN", async () => {
    const { legacySince, endOfLife } = findModel(NOVA)!.model.lifecycle;

    const { modelDetails } = await controlPlaneClient().send(
      new GetFoundationModelCommand({ modelIdentifier: `arn:aws:bedrock:us-west-2::foundation-model/${NOVA}` }),
    );

    expect(legacySince && endOfLife).toBeTruthy();
    expect(modelDetails).toMatchObject({
      modelId: NOVA,
      providerName: "Amazon",
      inferenceTypesSupported: ["ON_DEMAND"],
      modelLifecycle: {
        status: "LEGACY",
        legacyTime: new Date(`${legacySince}T00:00:00Z`),
        endOfLifeTime: new Date(`${endOfLife}T00:00:00Z`),
      },
    });
  });

  it("reports the status set at runtime", async () => {
    standIn.setModelLifecycle(CORE, "LEGACY");

    const { modelDetails } = await controlPlaneClient().send(new GetFoundationModelCommand({ modelIdentifier: CORE }));

    expect(modelDetails?.modelLifecycle?.status).toBe("LEGACY");
  });

  it.each([
    ["an EOL model", NOVA, END_OF_LIFE],
    ["an unknown model", "amazon.nova-canvas-v9:0", UNRESOLVED],
    ["a cross-region id (never a foundation model)", `us.${CORE}`, UNRESOLVED],
  ])("answers %s with 404 ResourceNotFoundException", async (_case, modelIdentifier, message) => {
    standIn.setModelLifecycle(NOVA, "EOL");

    const error = await failure(controlPlaneClient().send(new GetFoundationModelCommand({ modelIdentifier })));

    expect(`${error.name}: ${error.message}`).toBe(`ResourceNotFoundException: ${message}`);
    expect(error.$metadata.httpStatusCode).toBe(404);
  });

  it("is not counted as an InvokeModel request", async () => {
    await controlPlaneClient().send(new GetFoundationModelCommand({ modelIdentifier: CORE }));

    expect(standIn.stats.requests).toBe(0);
  });
});

describe("GetFoundationModelAvailability", () => {
  it("answers as for an account with access, for active and legacy models", async () => {
    const client = controlPlaneClient();

    for (const modelId of [CORE, NOVA]) {
      const { $metadata: _, ...availability } = await client.send(
        new GetFoundationModelAvailabilityCommand({ modelId }),
      );
      expect(availability).toEqual({
        modelId,
        agreementAvailability: { status: "AVAILABLE" },
        authorizationStatus: "AUTHORIZED",
        entitlementAvailability: "AVAILABLE",
        regionAvailability: "AVAILABLE",
      });
    }
  });

  it.each([
    ["an EOL model", TITAN_V1, END_OF_LIFE],
    ["an unknown model", "stability.sd4-v1:0", UNRESOLVED],
  ])("answers %s with 404 ResourceNotFoundException, as GetFoundationModel does", async (_case, modelId, message) => {
    standIn.setModelLifecycle(TITAN_V1, "EOL");

    const error = await failure(controlPlaneClient().send(new GetFoundationModelAvailabilityCommand({ modelId })));

    expect(`${error.name}: ${error.message}`).toBe(`ResourceNotFoundException: ${message}`);
  });
});
