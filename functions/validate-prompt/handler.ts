import type { Context } from "aws-lambda";
import { optionalEnv } from "../shared/environment";
import { createFunctionLogger, invocationLogger } from "../shared/logger";
import { createPipelineMetrics } from "../shared/metrics";
import { modelChoiceFromEnv } from "../shared/model-choice-env";
import { type ValidatePromptEvent, type ValidatePromptResult, validatePromptStep } from "./validate-prompt";

const config = {
  models: modelChoiceFromEnv(),
  retentionDays: Number(optionalEnv("STATUS_RETENTION_DAYS", "30")),
};
const logger = createFunctionLogger("validate-prompt");
const metrics = createPipelineMetrics();

export async function handler(event: ValidatePromptEvent, context?: Context): Promise<ValidatePromptResult> {
  return validatePromptStep(event, { ...config, metrics, log: invocationLogger(logger, context) });
}
