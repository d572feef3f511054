import { type BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { errorMessage, errorName, httpStatusOf, isNetworkFailure } from "../shared/aws-errors";
import { stagingKey } from "../shared/image-keys";
import { NamedError } from "../shared/named-error";
import type { ImageRequest } from "../validate-prompt/validate-prompt";

export interface GenerateImageEvent {
  jobId: string;
  request: ImageRequest;
}

/** Only a reference to the image travels in the state payload (256 KB limit); the bytes stay in S3. */
export interface GenerateImageResult {
  bucket: string;
  stagingKey: string;
  bytes: number;
  seed: number;
  modelId: string;
}

export interface GenerateImageDeps {
  bedrock: BedrockRuntimeClient;
  s3: S3Client;
  modelId: string;
  bucket: string;
  keyPrefix: string;
}

/** Bedrock errors the state machine retries, by the name it matches in `ErrorEquals`. */
export const RETRIED_BEDROCK_ERRORS = [
  "ThrottlingException",
  "ModelTimeoutException",
  "ServiceUnavailableException",
  "ModelNotReadyException",
] as const;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// S3 user metadata travels as HTTP headers: ASCII only, 2 KB for all of it, so the prompt is URI-encoded and capped.
const MAX_PROMPT_METADATA_BYTES = 1536;

/** Builds the TEXT_IMAGE request body shared by Nova Canvas and Titan Image Generator. */
export function textImageBody(request: ImageRequest): string {
  return JSON.stringify({
    taskType: "TEXT_IMAGE",
    textToImageParams: {
      text: request.prompt,
      ...(request.negativePrompt ? { negativeText: request.negativePrompt } : {}),
    },
    imageGenerationConfig: {
      numberOfImages: 1,
      width: request.width,
      height: request.height,
      quality: request.quality,
      seed: request.seed,
    },
  });
}

/** Calls Bedrock once, writes the PNG to the staging key and returns where it is. */
export async function generateImage(event: GenerateImageEvent, deps: GenerateImageDeps): Promise<GenerateImageResult> {
  const png = await invokeModel(event.request, deps);
  const key = stagingKey(deps.keyPrefix, event.jobId);
  await deps.s3.send(
    new PutObjectCommand({
      Bucket: deps.bucket,
      Key: key,
      Body: png,
      ContentType: "image/png",
      Metadata: imageMetadata(event, deps.modelId),
    }),
  );
  return { bucket: deps.bucket, stagingKey: key, bytes: png.length, seed: event.request.seed, modelId: deps.modelId };
}

/** Object metadata carried by the staging object and copied to the final one: prompt, model and seed. */
export function imageMetadata(event: GenerateImageEvent, modelId: string): Record<string, string> {
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
    "model-id": modelId,
    seed: String(event.request.seed),
  };
}

async function invokeModel(request: ImageRequest, deps: GenerateImageDeps): Promise<Buffer> {
  let responseBody: Uint8Array;
  try {
    const response = await deps.bedrock.send(
      new InvokeModelCommand({
        modelId: deps.modelId,
        contentType: "application/json",
        accept: "application/json",
        body: textImageBody(request),
      }),
    );
    responseBody = response.body;
  } catch (error) {
    throw bedrockError(error);
  }
  const parsed = parseResponse(responseBody);
  const image = parsed.images?.[0];
  if (typeof image !== "string" || image === "") {
    if (parsed.error) throw new NamedError("ContentBlocked", parsed.error);
    throw new NamedError("BedrockMalformedResponse", "Bedrock returned no image");
  }
  const png = Buffer.from(image, "base64");
  if (!png.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) {
    throw new NamedError("BedrockMalformedResponse", "Bedrock returned an image that is not a PNG");
  }
  return png;
}

function parseResponse(body: Uint8Array): { images?: unknown[]; error?: string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(body).toString("utf8"));
    return typeof parsed === "object" && parsed !== null ? (parsed as { images?: unknown[]; error?: string }) : {};
  } catch {
    throw new NamedError("BedrockMalformedResponse", "Bedrock returned a body that is not JSON");
  }
}

/**
 * Maps an InvokeModel failure to the error name the state machine acts on: the four retried names, or a final one.
 * Content-filter refusals arrive as ValidationException and are final: the same prompt is refused again.
 */
export function bedrockError(error: unknown): NamedError {
  const name = errorName(error);
  const message = errorMessage(error);
  const status = httpStatusOf(error);
  if ((RETRIED_BEDROCK_ERRORS as readonly string[]).includes(name))
    return new NamedError(name, message, { cause: error });
  if (name === "ValidationException") {
    return /content filter|blocked|responsible ai|moderat/i.test(message)
      ? new NamedError("ContentBlocked", message, { cause: error })
      : new NamedError("BedrockValidation", message, { cause: error });
  }
  if (name === "AccessDeniedException") {
    return new NamedError(
      "BedrockAccessDenied",
      `${message} (enable access to the model in the Bedrock console and check the role's bedrock:InvokeModel grant)`,
      { cause: error },
    );
  }
  if (name === "ResourceNotFoundException") return new NamedError("BedrockModelNotFound", message, { cause: error });
  // Any other 5xx, and network failures and client timeouts, are worth another try.
  if ((status !== undefined && status >= 500) || isNetworkFailure(error)) {
    return new NamedError("ServiceUnavailableException", `${name}: ${message}`, { cause: error });
  }
  return new NamedError("BedrockError", `${name}: ${message}`, { cause: error });
}
