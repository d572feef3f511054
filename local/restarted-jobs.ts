import { CopyObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { isMissingObject } from "../functions/shared/aws-errors";
import { imageKey, outputFormatOf, stagingKey } from "../functions/shared/image-keys";
import { parseGenerateMessage } from "../functions/shared/waiting-room";

type GeneratorHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

export interface KeepPaidImagesDeps {
  s3: S3Client;
  bucket: string;
  keyPrefix: string;
  /** The jobs whose executions the stack started again from the beginning (ExecutionStore.resume). */
  restartedJobIds: ReadonlySet<string>;
  log: (entry: Record<string, unknown>) => void;
}

/**
 * Step Functions resumes an execution where it was; the local stack starts it again from the beginning. A job whose
 * image StoreImage had already promoted (the staged object copied to its final key and deleted) would then reach the
 * generator with nothing staged and pay Bedrock a second time. For the restarted jobs only, this puts the promoted
 * image back at its staging key before the generator looks, so it answers with it as with any staged image.
 */
export function keepPaidImages(generator: GeneratorHandler, deps: KeepPaidImagesDeps): GeneratorHandler {
  if (deps.restartedJobIds.size === 0) return generator;
  return async (event) => {
    for (const record of event.Records) {
      const message = parseGenerateMessage(record.body);
      if (message && deps.restartedJobIds.has(message.jobId)) await restage(message.jobId, message.request, deps);
    }
    return generator(event);
  };
}

async function restage(jobId: string, request: { outputFormat?: unknown }, deps: KeepPaidImagesDeps): Promise<void> {
  const format = outputFormatOf(request.outputFormat);
  const staged = stagingKey(deps.keyPrefix, jobId, format);
  const promoted = imageKey(deps.keyPrefix, jobId, format);
  try {
    if (await exists(deps, staged)) return;
    if (!(await exists(deps, promoted))) return;
    await deps.s3.send(
      new CopyObjectCommand({
        Bucket: deps.bucket,
        Key: staged,
        CopySource: `${deps.bucket}/${promoted}`,
        MetadataDirective: "COPY",
      }),
    );
    deps.log({ level: "INFO", message: "Restarted job: its promoted image is staged again", jobId });
  } catch (error) {
    // Without it the generator calls Bedrock again: the job still ends with its image.
    deps.log({ level: "WARN", message: "Could not stage a restarted job's image again", jobId, error: String(error) });
  }
}

async function exists(deps: KeepPaidImagesDeps, key: string): Promise<boolean> {
  try {
    await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key }));
    return true;
  } catch (error) {
    if (isMissingObject(error)) return false;
    throw error;
  }
}
