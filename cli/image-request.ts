import { InvalidArgumentError } from "commander";

export const OUTPUT_FORMATS = ["png", "jpeg"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * The request body of POST /generate-image, and of a JSON SQS message (functions/shared/image-request.ts
 * REQUEST_FIELDS). The pipeline validates the values against the chosen model.
 */
export interface ImageRequest {
  prompt: string;
  negativePrompt?: string;
  seed?: number;
  aspectRatio?: string;
  width?: number;
  height?: number;
  outputFormat?: OutputFormat;
  /** Only for the legacy pixel models (Nova Canvas, Titan). */
  quality?: string;
  model?: string;
}

/** What the request flags (--negative, --seed, --model, ...) leave in a command's options. */
export interface ImageRequestOptions {
  negative?: string;
  seed?: number;
  model?: string;
  aspectRatio?: string;
  size?: { width: number; height: number };
  format?: OutputFormat;
  quality?: string;
}

/** Only the shape is checked here; the model's limits are the pipeline's to enforce (its 400 says what is accepted). */
export function parseSize(value: string): { width: number; height: number } {
  const match = /^(\d{1,5})[xX](\d{1,5})$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError("expected WIDTHxHEIGHT in pixels, e.g. 1024x1024.");
  return { width: Number(match[1]), height: Number(match[2]) };
}

/** `16:9`: two whole numbers; which ratios a model takes is the pipeline's to say. */
export function parseAspectRatio(value: string): string {
  const ratio = value.trim();
  if (!/^\d{1,3}:\d{1,3}$/.test(ratio)) throw new InvalidArgumentError("expected WIDTH:HEIGHT, e.g. 16:9.");
  return ratio;
}

/** A Bedrock model or inference profile id (`stability.stable-image-core-v1:1`, `us.stability...`). */
export function parseModelId(value: string): string {
  const id = value.trim();
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+(:[a-z0-9-]+)*$/.test(id)) {
    throw new InvalidArgumentError(
      "expected a Bedrock model id, e.g. stability.stable-image-core-v1:1 (couchgen models --all lists them).",
    );
  }
  return id;
}

export function parseSeed(value: string): number {
  if (!/^\d{1,10}$/.test(value.trim())) throw new InvalidArgumentError("expected a whole number from 0, e.g. 42.");
  return Number(value);
}

/** A duration in seconds (decimals allowed) from `min` up. */
export function secondsParser(min: number): (value: string) => number {
  return (value) => {
    const seconds = Number(value);
    if (value.trim() === "" || !Number.isFinite(seconds) || seconds < min) {
      throw new InvalidArgumentError(`expected a number of seconds, at least ${min}.`);
    }
    return seconds;
  };
}

export function buildImageRequest(prompt: string, options: ImageRequestOptions): ImageRequest {
  return {
    prompt,
    ...(options.negative !== undefined ? { negativePrompt: options.negative } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.aspectRatio !== undefined ? { aspectRatio: options.aspectRatio } : {}),
    ...(options.size ? { width: options.size.width, height: options.size.height } : {}),
    ...(options.format !== undefined ? { outputFormat: options.format } : {}),
    ...(options.quality !== undefined ? { quality: options.quality } : {}),
    ...(options.model !== undefined ? { model: options.model } : {}),
  };
}
