import { S3Client } from "@aws-sdk/client-s3";
import type { Context } from "aws-lambda";
import { optionalEnv, requireEnv } from "../shared/environment";
import { createFunctionLogger, invocationLogger } from "../shared/logger";
import { type StoreImageEvent, type StoreImageResult, storeImage } from "./store-image";

const deps = {
  // Retries live in the state machine (visible in the execution history); one SDK attempt per invocation.
  s3: new S3Client({ maxAttempts: 1 }),
  bucket: requireEnv("IMAGE_BUCKET"),
  keyPrefix: optionalEnv("KEY_PREFIX", ""),
};
const logger = createFunctionLogger("store-image");

export async function handler(event: StoreImageEvent, context?: Context): Promise<StoreImageResult> {
  return storeImage(event, { ...deps, log: invocationLogger(logger, context) });
}
