import type { ImageRequest } from "../image-request";
import { ContentBlockedError } from "../pipeline-errors";
import { bedrockError, decodeImage, parseJsonObject } from "./bedrock-errors";
import type { CatalogModel } from "./catalog";
import type { GeneratedImage, ModelFamily, ModelLimits, PixelRule } from "./family";

/**
 * Amazon's image models (Nova Canvas; Titan Image Generator), both legacy: the TEXT_IMAGE body with pixel sizes.
 * Kept for accounts that still have access. Facts and their sources: docs/MODELS.md.
 */

const NOVA_PIXELS: PixelRule = {
  kind: "range",
  min: 320,
  max: 4096,
  multipleOf: 16,
  maxPixels: 4_194_304,
  maxAspectRatio: 4,
};

// Sizes near one megapixel, each a multiple of 16 whose ratio is the named one (to within 1%).
const NOVA_ASPECT_RATIOS: Readonly<Record<string, readonly [number, number]>> = {
  "16:9": [1280, 720],
  "1:1": [1024, 1024],
  "21:9": [1536, 656],
  "2:3": [832, 1248],
  "3:2": [1248, 832],
  "4:5": [896, 1120],
  "5:4": [1120, 896],
  "9:16": [720, 1280],
  "9:21": [656, 1536],
};

const TITAN_SIZES: ReadonlyArray<readonly [number, number]> = [
  [1024, 1024],
  [768, 768],
  [512, 512],
  [768, 1152],
  [384, 576],
  [1152, 768],
  [576, 384],
  [768, 1280],
  [384, 640],
  [1280, 768],
  [640, 384],
  [896, 1152],
  [448, 576],
  [1152, 896],
  [576, 448],
  [768, 1408],
  [384, 704],
  [1408, 768],
  [704, 384],
  [640, 1408],
  [320, 704],
  [1408, 640],
  [704, 320],
  [1152, 640],
  [1173, 640],
];

// Only the ratios Titan has an exact size for.
const TITAN_ASPECT_RATIOS: Readonly<Record<string, readonly [number, number]>> = {
  "1:1": [1024, 1024],
  "3:2": [1152, 768],
  "2:3": [768, 1152],
};

const NOVA_CANVAS_LIMITS: ModelLimits = {
  maxPromptLength: 1024,
  maxNegativePromptLength: 1024,
  maxSeed: 858_993_459,
  zeroSeedIsRandom: false,
  aspectRatios: NOVA_ASPECT_RATIOS,
  pixels: NOVA_PIXELS,
  outputFormats: ["png"],
  qualities: ["standard", "premium"],
};

const TITAN_LIMITS: ModelLimits = {
  maxPromptLength: 512,
  maxNegativePromptLength: 512,
  maxSeed: 2_147_483_646,
  zeroSeedIsRandom: false,
  aspectRatios: TITAN_ASPECT_RATIOS,
  pixels: { kind: "list", allowed: TITAN_SIZES },
  outputFormats: ["png"],
  qualities: ["standard", "premium"],
};

export const amazonImage: ModelFamily = {
  name: "amazon-image",

  limits(model: CatalogModel): ModelLimits {
    const limits = model.id.startsWith("amazon.titan-image-generator-") ? TITAN_LIMITS : NOVA_CANVAS_LIMITS;
    return model.acceptsNegativePrompt ? limits : { ...limits, maxNegativePromptLength: undefined };
  },

  requestBody(request: ImageRequest): string {
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
        quality: request.quality ?? "standard",
        seed: request.seed,
      },
    });
  },

  parseResponse(body: Uint8Array, request: ImageRequest): GeneratedImage {
    const answer = parseJsonObject(body);
    const image = Array.isArray(answer.images) ? answer.images[0] : undefined;
    if ((typeof image !== "string" || image === "") && typeof answer.error === "string" && answer.error !== "") {
      throw new ContentBlockedError(answer.error);
    }
    // These models do not report a seed: the one sent is the one used.
    return { image: decodeImage(image), seed: request.seed };
  },

  mapError(error: unknown, request: ImageRequest) {
    // Nova Canvas and Titan refuse filtered content as a ValidationException.
    return bedrockError(error, {
      modelId: request.modelId,
      isContentFilter: (message) => /content filter|blocked|responsible ai|moderat/i.test(message),
    });
  },
};
