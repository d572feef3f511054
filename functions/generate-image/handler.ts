import { BedrockRuntimeClient } from "@aws-sdk/client-bedrock-runtime";
import { S3Client } from "@aws-sdk/client-s3";
import type { Context } from "aws-lambda";
import { optionalEnv, requireEnv } from "../shared/environment";
import { createFunctionLogger, invocationLogger } from "../shared/logger";
import { createPipelineMetrics } from "../shared/metrics";
import { type GenerateImageEvent, type GenerateImageResult, generateImage } from "./generate-image";

const deps = {
  // Retries live in the state machine (visible in the execution history); one SDK attempt per invocation.
  bedrock: new BedrockRuntimeClient({ region: requireEnv("BEDROCK_REGION"), maxAttempts: 1 }),
  s3: new S3Client({}),
  bucket: requireEnv("IMAGE_BUCKET"),
  keyPrefix: optionalEnv("KEY_PREFIX", ""),
  metrics: createPipelineMetrics(),
};
const logger = createFunctionLogger("generate-image");

export async function handler(event: GenerateImageEvent, context?: Context): Promise<GenerateImageResult> {
  return generateImage(event, { ...deps, log: invocationLogger(logger, context) });
}
