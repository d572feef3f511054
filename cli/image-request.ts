import { InvalidArgumentError } from "commander";

/** The request body of POST /generate-image, and of a JSON SQS message. The pipeline validates the values. */
export interface ImageRequest {
  prompt: string;
  negativePrompt?: string;
  seed?: number;
  width?: number;
  height?: number;
  quality?: string;
}

/** What --negative, --seed, --size and --quality leave in a command's options. */
export interface ImageRequestOptions {
  negative?: string;
  seed?: number;
  size?: { width: number; height: number };
  quality?: string;
}

/** Only the shape is checked here; the model's limits are the pipeline's to enforce (its 400 says what is accepted). */
export function parseSize(value: string): { width: number; height: number } {
  const match = /^(\d{1,5})[xX](\d{1,5})$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError("expected WIDTHxHEIGHT in pixels, e.g. 1024x1024.");
  return { width: Number(match[1]), height: Number(match[2]) };
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
    ...(options.size ? { width: options.size.width, height: options.size.height } : {}),
    ...(options.quality !== undefined ? { quality: options.quality } : {}),
  };
}
