import { S3Client } from "@aws-sdk/client-s3";
import { optionalEnv, requireEnv } from "../shared/environment";
import { type StoreImageEvent, type StoreImageResult, storeImage } from "./store-image";

const deps = {
  // Retries live in the state machine (visible in the execution history); one SDK attempt per invocation.
  s3: new S3Client({ maxAttempts: 1 }),
  bucket: requireEnv("IMAGE_BUCKET"),
  keyPrefix: optionalEnv("KEY_PREFIX", ""),
};

export async function handler(event: StoreImageEvent): Promise<StoreImageResult> {
  return storeImage(event, deps);
}
