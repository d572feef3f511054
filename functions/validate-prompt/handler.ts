import { optionalEnv, requireEnv } from "../shared/environment";
import { imageModelLimits } from "../shared/image-models";
import { type ValidatePromptEvent, type ValidatePromptResult, validatePromptStep } from "./validate-prompt";

const config = {
  limits: imageModelLimits(requireEnv("MODEL_ID")),
  retentionDays: Number(optionalEnv("STATUS_RETENTION_DAYS", "30")),
};

export async function handler(event: ValidatePromptEvent): Promise<ValidatePromptResult> {
  return validatePromptStep(event, config);
}
