import type { ImageRequest } from "../image-request";
import type { NamedError } from "../named-error";
import type { CatalogModel, FamilyName } from "./catalog";

export type OutputFormat = "png" | "jpeg";

/** Pixel sizes a model that takes `width` and `height` accepts. */
export type PixelRule =
  | { kind: "range"; min: number; max: number; multipleOf: number; maxPixels: number; maxAspectRatio: number }
  | { kind: "list"; allowed: ReadonlyArray<readonly [number, number]> };

/** What one model accepts; every validation message is built from these. */
export interface ModelLimits {
  /** Characters (code points). */
  readonly maxPromptLength: number;
  /** Undefined when the model takes no negative prompt. */
  readonly maxNegativePromptLength: number | undefined;
  readonly maxSeed: number;
  /** Seed 0 asks the model for a random one (Stability AI): the pipeline's default seed is never 0 then. */
  readonly zeroSeedIsRandom: boolean;
  /** The accepted `aspectRatio` values and the pixel size of the image the model returns for each. */
  readonly aspectRatios: Readonly<Record<string, readonly [number, number]>>;
  /** Undefined when the model takes only an aspect ratio, not `width` and `height`. */
  readonly pixels: PixelRule | undefined;
  readonly outputFormats: readonly OutputFormat[];
  /** Undefined when the model has no quality setting. */
  readonly qualities: readonly string[] | undefined;
}

/** An image as the model returned it, decoded, with the seed the model reports it used. */
export interface GeneratedImage {
  readonly image: Buffer;
  readonly seed: number;
}

/**
 * One Bedrock model family: its limits, its InvokeModel body, its response parser and its error mapping.
 * The rest of the pipeline speaks only this interface (functions/shared/models/families.ts picks the family).
 */
export interface ModelFamily {
  readonly name: FamilyName;
  limits(model: CatalogModel): ModelLimits;
  /** The InvokeModel body for a validated request. */
  requestBody(request: ImageRequest): string;
  /**
   * The first image of a 200 answer. Throws `ContentBlocked` when the content filter refused, `ModelInferenceError`
   * when the model reports a failure, and `BedrockMalformedResponse` when the body holds no image.
   */
  parseResponse(body: Uint8Array, request: ImageRequest): GeneratedImage;
  /** Maps an InvokeModel failure to the name the state machine acts on. */
  mapError(error: unknown, request: ImageRequest): NamedError;
}
