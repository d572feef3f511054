import type { IncomingHttpHeaders } from "node:http";
import { type CatalogModel, DEFAULT_BEDROCK_REGION, type FamilyName } from "../../functions/shared/models/catalog";
import { foundationModelNotFound, modelEndOfLife } from "./bedrock-errors";
import { type ModelLifecycleTable, resolveFoundationModel } from "./model-lifecycle";

/**
 * Bedrock's control plane as far as the pipeline reads it: GetFoundationModel and GetFoundationModelAvailability,
 * answered from the model catalog and the stand-in's lifecycle table, as to an account that has access to every
 * catalog model in every region. An EOL model is gone from both, as on AWS (404 ResourceNotFoundException).
 */

const PROVIDERS: Readonly<Record<FamilyName, string>> = {
  "stability-image": "Stability AI",
  "amazon-image": "Amazon",
};

// The region in a SigV4 credential scope: `Credential=<key>/<yyyymmdd>/<region>/bedrock/aws4_request`.
const SIGNED_REGION = /Credential=[^/]+\/\d{8}\/([a-z0-9-]+)\//;

/** The region the caller signed for, which names the region in model ARNs. */
export function signedRegion(headers: IncomingHttpHeaders): string {
  return SIGNED_REGION.exec(headers.authorization ?? "")?.[1] ?? DEFAULT_BEDROCK_REGION;
}

/** `GET /foundation-models/{modelIdentifier}`: the model's details, as `GetFoundationModelResponse`. */
export function getFoundationModel(identifier: string, lifecycle: ModelLifecycleTable, region: string): object {
  const { model, status } = servedModel(identifier, lifecycle);
  return {
    modelDetails: {
      modelArn: `arn:aws:bedrock:${region}::foundation-model/${model.id}`,
      modelId: model.id,
      modelName: model.name,
      providerName: PROVIDERS[model.family],
      inputModalities: ["TEXT"],
      outputModalities: ["IMAGE"],
      responseStreamingSupported: false,
      customizationsSupported: [],
      inferenceTypesSupported:
        Object.keys(model.profiles).length > 0 ? ["ON_DEMAND", "INFERENCE_PROFILE"] : ["ON_DEMAND"],
      modelLifecycle: {
        status,
        ...(model.lifecycle.legacySince ? { legacyTime: dateTime(model.lifecycle.legacySince) } : {}),
        ...(model.lifecycle.endOfLife ? { endOfLifeTime: dateTime(model.lifecycle.endOfLife) } : {}),
      },
    },
  };
}

/** `GET /foundation-model-availability/{modelId}`: as `GetFoundationModelAvailabilityResponse`, for an account with access. */
export function getFoundationModelAvailability(identifier: string, lifecycle: ModelLifecycleTable): object {
  const { model } = servedModel(identifier, lifecycle);
  return {
    modelId: model.id,
    agreementAvailability: { status: "AVAILABLE" },
    authorizationStatus: "AUTHORIZED",
    entitlementAvailability: "AVAILABLE",
    regionAvailability: "AVAILABLE",
  };
}

/** The catalog model an identifier names, unless it is unknown (or a profile id) or end of life: then a 404. */
function servedModel(
  identifier: string,
  lifecycle: ModelLifecycleTable,
): { model: CatalogModel; status: "ACTIVE" | "LEGACY" } {
  const model = resolveFoundationModel(identifier);
  if (!model) throw foundationModelNotFound();
  const status = lifecycle.statusOf(model);
  if (status === "EOL") throw modelEndOfLife("modelLifecycle");
  return { model, status };
}

/** The catalog's ISO dates as the RFC 3339 date-times the API sends. */
function dateTime(isoDate: string): string {
  return `${isoDate}T00:00:00Z`;
}
