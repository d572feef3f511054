import { type CatalogModel, findModel, MODEL_CATALOG, type ResolvedModel } from "../../functions/shared/models/catalog";

/** A model's state as the stand-in serves it: the catalog's ACTIVE or LEGACY, or EOL (refused everywhere). */
export type StandInLifecycleStatus = "ACTIVE" | "LEGACY" | "EOL";

export const LIFECYCLE_STATUSES: readonly StandInLifecycleStatus[] = ["ACTIVE", "LEGACY", "EOL"];

const FOUNDATION_MODEL_ARN = /^arn:aws[a-z-]*:bedrock:[a-z0-9-]+::foundation-model\//;

/**
 * The catalog row behind an InvokeModel model id: a foundation model id, its foundation-model ARN, or an inference
 * profile id (`us.<id>`). Undefined for anything else, which Bedrock refuses as an invalid model identifier.
 */
export function resolveInvokedModel(modelId: string): ResolvedModel | undefined {
  return findModel(modelId.replace(FOUNDATION_MODEL_ARN, ""));
}

/** The catalog row behind a GetFoundationModel identifier: a foundation model id or ARN, never a profile id. */
export function resolveFoundationModel(identifier: string): CatalogModel | undefined {
  const id = identifier.replace(FOUNDATION_MODEL_ARN, "");
  return MODEL_CATALOG.find((model) => model.id === id);
}

/**
 * Each catalog model's lifecycle as served, starting from the catalog's status (legacy models are still served, as
 * to accounts that kept access), overridden per model by `overrides` and `set`.
 */
export class ModelLifecycleTable {
  private readonly statuses = new Map<string, StandInLifecycleStatus>(
    MODEL_CATALOG.map((model) => [model.id, model.lifecycle.status]),
  );

  constructor(overrides: Readonly<Record<string, StandInLifecycleStatus>> = {}) {
    for (const [modelId, status] of Object.entries(overrides)) this.set(modelId, status);
  }

  /** Sets one model's status; a profile id sets its foundation model's. Throws a message naming what is accepted. */
  set(modelId: string, status: StandInLifecycleStatus): string {
    const model = findModel(modelId)?.model;
    if (!model) {
      throw new Error(
        `modelLifecycle: "${modelId}" is not a model in the catalog; use one of ${MODEL_CATALOG.map((row) => row.id).join(", ")}`,
      );
    }
    if (!LIFECYCLE_STATUSES.includes(status)) {
      throw new Error(
        `modelLifecycle: the status of ${model.id} must be one of ${LIFECYCLE_STATUSES.join(", ")}, got ${JSON.stringify(status)}`,
      );
    }
    this.statuses.set(model.id, status);
    return model.id;
  }

  statusOf(model: CatalogModel): StandInLifecycleStatus {
    return this.statuses.get(model.id) ?? model.lifecycle.status;
  }

  snapshot(): Record<string, StandInLifecycleStatus> {
    return Object.fromEntries(this.statuses);
  }
}
