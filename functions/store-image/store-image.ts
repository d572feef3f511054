import { CopyObjectCommand, DeleteObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { errorMessage, errorName, httpStatusOf, isMissingObject, isNetworkFailure } from "../shared/aws-errors";
import { imageKey, outputFormatOf, s3Uri, stagingKey } from "../shared/image-keys";
import { failureAttributes, type PipelineLogger, SILENT_LOGGER } from "../shared/logger";
import type { OutputFormat } from "../shared/models/family";
import { NamedError } from "../shared/named-error";
import { PIPELINE_ERRORS } from "../shared/pipeline-errors";

export interface StoreImageEvent {
  jobId: string;
  bucket: string;
  stagingKey: string;
  /** @default "png" (payloads from before JPEG was offered) */
  outputFormat?: OutputFormat;
}

export interface StoreImageResult {
  bucket: string;
  key: string;
  s3Uri: string;
}

export interface StoreImageDeps {
  s3: S3Client;
  bucket: string;
  keyPrefix: string;
  /** This invocation's logger; the step adds the jobId. @default SILENT_LOGGER */
  log?: PipelineLogger;
}

const TRANSIENT_S3_ERRORS = new Set([
  "InternalError",
  "ServiceUnavailable",
  "SlowDown",
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "TimeoutError",
  "OperationAborted",
]);

/**
 * Promotes the staged PNG to its final key: server-side copy (content type and metadata kept), then delete the
 * staging object. Safe to retry: when a previous attempt already promoted the image, this one finds it and succeeds.
 */
export async function storeImage(event: StoreImageEvent, deps: StoreImageDeps): Promise<StoreImageResult> {
  const log = deps.log ?? SILENT_LOGGER;
  log.appendKeys({ jobId: event.jobId });
  try {
    const stored = await promote(event, deps);
    log.info("Image stored", { key: stored.key });
    return stored;
  } catch (error) {
    const failure = failureAttributes(error);
    // S3TransientError is the state machine's to retry.
    if (failure.error === PIPELINE_ERRORS.s3TransientError) log.warn("Could not store the image", failure);
    else log.error("Could not store the image", failure);
    throw error;
  }
}

async function promote(event: StoreImageEvent, deps: StoreImageDeps): Promise<StoreImageResult> {
  // The keys follow from the jobId and the configured bucket, never from the payload, so a state input cannot redirect writes.
  const format = outputFormatOf(event.outputFormat);
  const source = stagingKey(deps.keyPrefix, event.jobId, format);
  const key = imageKey(deps.keyPrefix, event.jobId, format);
  try {
    await deps.s3.send(
      new CopyObjectCommand({
        Bucket: deps.bucket,
        Key: key,
        CopySource: `${deps.bucket}/${source.split("/").map(encodeURIComponent).join("/")}`,
        MetadataDirective: "COPY",
      }),
    );
  } catch (error) {
    if (!isMissingObject(error) || !(await exists(deps, key))) throw s3Error(error, `copy ${source} to ${key}`);
  }
  try {
    await deps.s3.send(new DeleteObjectCommand({ Bucket: deps.bucket, Key: source }));
  } catch (error) {
    throw s3Error(error, `delete ${source}`);
  }
  return { bucket: deps.bucket, key, s3Uri: s3Uri(deps.bucket, key) };
}

async function exists(deps: StoreImageDeps, key: string): Promise<boolean> {
  try {
    await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key }));
    return true;
  } catch (error) {
    if (isMissingObject(error)) return false;
    throw s3Error(error, `check ${key}`);
  }
}

/** `S3TransientError` (500/503/SlowDown/network: the state machine retries it) or `S3Error` (final). */
export function s3Error(error: unknown, action: string): NamedError {
  const name = errorName(error);
  const message = errorMessage(error);
  const status = httpStatusOf(error);
  const transient = TRANSIENT_S3_ERRORS.has(name) || (status !== undefined && status >= 500) || isNetworkFailure(error);
  if (isMissingObject(error)) {
    return new NamedError(
      PIPELINE_ERRORS.stagedImageMissing,
      `Could not ${action}: the staged image is gone and no final image exists`,
      { cause: error },
    );
  }
  return new NamedError(
    transient ? PIPELINE_ERRORS.s3TransientError : PIPELINE_ERRORS.s3Error,
    `Could not ${action}: ${name}: ${message}`,
    {
      cause: error,
    },
  );
}
