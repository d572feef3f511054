import { type BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { IMAGE_FORMATS, outputFormatOf, stagingKey } from "../shared/image-keys";
import type { ImageRequest } from "../shared/image-request";
import { resolveModel } from "../shared/models/catalog";
import { familyOf } from "../shared/models/families";
import type { OutputFormat } from "../shared/models/family";
import { MalformedResponseError } from "../shared/pipeline-errors";

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
}

// S3 user metadata travels as HTTP headers: ASCII only, 2 KB for all of it, so the prompt is URI-encoded and capped.
const MAX_PROMPT_METADATA_BYTES = 1536;

/** Calls the request's model once through its family, writes the image to the staging key and returns where it is. */
export async function generateImage(event: GenerateImageEvent, deps: GenerateImageDeps): Promise<GenerateImageResult> {
  const { request } = event;
  const family = familyOf(resolveModel(request.modelId));
  // Checked before paying for a call: the state payload could carry any value.
  const format = IMAGE_FORMATS[outputFormatOf(request.outputFormat)];
  let body: Uint8Array;
  try {
    const response = await deps.bedrock.send(
      new InvokeModelCommand({
        modelId: request.modelId,
        contentType: "application/json",
        accept: "application/json",
        body: family.requestBody(request),
      }),
    );
    body = response.body;
  } catch (error) {
    throw family.mapError(error, request);
  }
  const generated = family.parseResponse(body, request);
  if (!generated.image.subarray(0, format.signature.length).equals(format.signature)) {
    throw new MalformedResponseError(`Bedrock returned an image that is not ${request.outputFormat.toUpperCase()}`);
  }
  const key = stagingKey(deps.keyPrefix, event.jobId, request.outputFormat);
  await deps.s3.send(
    new PutObjectCommand({
      Bucket: deps.bucket,
      Key: key,
      Body: generated.image,
      ContentType: format.contentType,
      Metadata: imageMetadata(event, generated.seed),
    }),
  );
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
