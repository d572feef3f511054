import { BedrockRuntimeClient } from "@aws-sdk/client-bedrock-runtime";
import { S3Client } from "@aws-sdk/client-s3";
import { optionalEnv, requireEnv } from "../shared/environment";
import { type GenerateImageEvent, type GenerateImageResult, generateImage } from "./generate-image";

const deps = {
  // Retries live in the state machine (visible in the execution history); one SDK attempt per invocation.
  bedrock: new BedrockRuntimeClient({ region: requireEnv("BEDROCK_REGION"), maxAttempts: 1 }),
  s3: new S3Client({}),
  bucket: requireEnv("IMAGE_BUCKET"),
  keyPrefix: optionalEnv("KEY_PREFIX", ""),
};

export async function handler(event: GenerateImageEvent): Promise<GenerateImageResult> {
  return generateImage(event, deps);
}
