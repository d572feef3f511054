import { optionalEnv, requireEnv } from "./environment";
import type { ModelChoice } from "./image-request";

/**
 * The deployment's models from `MODEL_ID` (the default) and `ALLOWED_MODEL_IDS` (comma-separated; the default
 * is always allowed). Read once, at module start, by every handler that validates requests.
 */
export function modelChoiceFromEnv(): ModelChoice {
  const defaultModelId = requireEnv("MODEL_ID");
  const others = optionalEnv("ALLOWED_MODEL_IDS", "")
    .split(",")
    .map((id) => id.trim())
    .filter((id) => id !== "" && id !== defaultModelId);
  return { defaultModelId, allowedModelIds: [defaultModelId, ...others] };
}

/** The environment `modelChoiceFromEnv` reads, for the stack (and the local stack) to set. */
export function modelChoiceEnvironment(models: ModelChoice): Record<string, string> {
  return { MODEL_ID: models.defaultModelId, ALLOWED_MODEL_IDS: models.allowedModelIds.join(",") };
}
