import { type BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { IMAGE_FORMATS, outputFormatOf, stagingKey } from "../shared/image-keys";
import type { ImageRequest } from "../shared/image-request";
import { failureAttributes, type PipelineLogger, SILENT_LOGGER } from "../shared/logger";
import { NO_METRICS, type PipelineMetrics } from "../shared/metrics";
import { imagePriceUsd, resolveModel } from "../shared/models/catalog";
import { familyOf } from "../shared/models/families";
import type { GeneratedImage, OutputFormat } from "../shared/models/family";
import { MalformedResponseError, PIPELINE_ERRORS, RETRIED_BEDROCK_ERRORS } from "../shared/pipeline-errors";

export interface GenerateImageEvent {
  jobId: string;
  request: ImageRequest;
}

/** Only a reference to the image travels in the state payload (256 KB limit); the bytes stay in S3. */
export interface GenerateImageResult {
  bucket: string;
  stagingKey: string;
  bytes: number;
  /** The seed the model reports it used (Stability AI picks one when asked with 0). */
  seed: number;
  modelId: string;
  aspectRatio: string;
  outputFormat: OutputFormat;
}

export interface GenerateImageDeps {
  bedrock: BedrockRuntimeClient;
  s3: S3Client;
  bucket: string;
  keyPrefix: string;
  /** This invocation's logger; the step adds the jobId and the model. @default SILENT_LOGGER */
  log?: PipelineLogger;
  /** @default NO_METRICS */
  metrics?: PipelineMetrics;
  /** Milliseconds from a fixed point, to time the Bedrock call. @default performance.now */
  clock?: () => number;
}

// S3 user metadata travels as HTTP headers: ASCII only, 2 KB for all of it, so the prompt is URI-encoded and capped.
const MAX_PROMPT_METADATA_BYTES = 1536;

/**
 * Calls the request's model once through its family, writes the image to the staging key and returns where it is.
 * The call is logged with its latency and outcome, and measured (docs/ARCHITECTURE.md §1.17).
 */
export async function generateImage(event: GenerateImageEvent, deps: GenerateImageDeps): Promise<GenerateImageResult> {
  const { request } = event;
  const observe = { log: deps.log ?? SILENT_LOGGER, metrics: deps.metrics ?? NO_METRICS };
  const { log, metrics } = observe;
  log.appendKeys({ jobId: event.jobId, modelId: request.modelId });
  const model = resolveModel(request.modelId);
  const family = familyOf(model);
  // Checked before paying for a call: the state payload could carry any value.
  const format = IMAGE_FORMATS[outputFormatOf(request.outputFormat)];
  const clock = deps.clock ?? (() => performance.now());
  const started = clock();
  const call = await deps.bedrock
    .send(
      new InvokeModelCommand({
        modelId: request.modelId,
        contentType: "application/json",
        accept: "application/json",
        body: family.requestBody(request),
      }),
    )
    .then(
      (response) => ({ body: response.body }),
      (error: unknown) => ({ error: family.mapError(error, request) }),
    );
  const latencyMs = Math.round(clock() - started);
  let generated: GeneratedImage;
  try {
    if ("error" in call) throw call.error;
    generated = family.parseResponse(call.body, request);
    if (!generated.image.subarray(0, format.signature.length).equals(format.signature)) {
      throw new MalformedResponseError(`Bedrock returned an image that is not ${request.outputFormat.toUpperCase()}`);
    }
  } catch (error) {
    reportBedrockCall(observe, request.modelId, latencyMs, error);
    throw error;
  }
  reportBedrockCall(observe, request.modelId, latencyMs);
  // Bedrock charges for every image it generates, whatever happens to it next.
  metrics.record("estimatedSpend", imagePriceUsd(model.model, request), { ModelId: request.modelId });
  const key = stagingKey(deps.keyPrefix, event.jobId, request.outputFormat);
  try {
    await deps.s3.send(
      new PutObjectCommand({
        Bucket: deps.bucket,
        Key: key,
        Body: generated.image,
        ContentType: format.contentType,
        Metadata: imageMetadata(event, generated.seed),
      }),
    );
  } catch (error) {
    log.error("Could not stage the image", { key, ...failureAttributes(error) });
    throw error;
  }
  log.info("Image staged", { key, bytes: generated.image.length, seed: generated.seed });
  metrics.record("imagesGenerated", 1, { ModelId: request.modelId });
  return {
    bucket: deps.bucket,
    stagingKey: key,
    bytes: generated.image.length,
    seed: generated.seed,
    modelId: request.modelId,
    aspectRatio: request.aspectRatio,
    outputFormat: request.outputFormat,
  };
}

/**
 * One line per InvokeModel call (model, latency, outcome: `ok` or the error name the state machine sees) and its
 * metrics: the latency always, and a throttle or a content-filter refusal by model. Levels: a refusal is the prompt's
 * doing (INFO), a retried error is the state machine's to handle (WARN), any other error fails the job (ERROR).
 */
function reportBedrockCall(
  { log, metrics }: { log: PipelineLogger; metrics: PipelineMetrics },
  modelId: string,
  latencyMs: number,
  error?: unknown,
): void {
  const dimensions = { ModelId: modelId };
  metrics.record("bedrockLatency", latencyMs, dimensions);
  if (error === undefined) {
    log.info("Bedrock call", { modelId, latencyMs, outcome: "ok" });
    return;
  }
  const failure = failureAttributes(error);
  const line = { modelId, latencyMs, outcome: failure.error, detail: failure.detail };
  if (failure.error === PIPELINE_ERRORS.contentBlocked) {
    metrics.record("contentFilterRefusals", 1, dimensions);
    log.info("Bedrock call", line);
  } else if ((RETRIED_BEDROCK_ERRORS as readonly string[]).includes(failure.error)) {
    if (failure.error === "ThrottlingException") metrics.record("bedrockThrottles", 1, dimensions);
    log.warn("Bedrock call", line);
  } else {
    log.error("Bedrock call", line);
  }
}

/** Object metadata carried by the staging object and copied to the final one: prompt, model, seed, aspect ratio. */
export function imageMetadata(event: GenerateImageEvent, seed: number): Record<string, string> {
  // Cut between whole characters: a cut inside one's UTF-8 escapes leaves a value decodeURIComponent refuses.
  let prompt = "";
  let truncated = false;
  for (const character of event.request.prompt) {
    const encoded = encodeURIComponent(character);
    if (prompt.length + encoded.length > MAX_PROMPT_METADATA_BYTES) {
      truncated = true;
      break;
    }
    prompt += encoded;
  }
  return {
    "job-id": event.jobId,
    prompt,
    ...(truncated ? { "prompt-truncated": "true" } : {}),
    "model-id": event.request.modelId,
    seed: String(seed),
    "aspect-ratio": event.request.aspectRatio,
  };
}
