import { optionalEnv } from "../shared/environment";
import { modelChoiceFromEnv } from "../shared/model-choice-env";
import { type ValidatePromptEvent, type ValidatePromptResult, validatePromptStep } from "./validate-prompt";

const config = {
  models: modelChoiceFromEnv(),
  retentionDays: Number(optionalEnv("STATUS_RETENTION_DAYS", "30")),
};

export async function handler(event: ValidatePromptEvent): Promise<ValidatePromptResult> {
  return validatePromptStep(event, config);
}
