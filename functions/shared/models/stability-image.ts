import type { ImageRequest } from "../image-request";
import { NamedError } from "../named-error";
import { ContentBlockedError, PIPELINE_ERRORS } from "../pipeline-errors";
import { bedrockError, decodeImage, parseJsonObject } from "./bedrock-errors";
import type { CatalogModel } from "./catalog";
import type { GeneratedImage, ModelFamily, ModelLimits } from "./family";

/**
 * Stability AI's text-to-image models on Bedrock (Stable Image Core, Stable Image Ultra, Stable Diffusion 3.5 Large):
 * body `{prompt, negative_prompt?, aspect_ratio, seed, output_format?}`, answer `{seeds, finish_reasons, images}`.
 * Facts and their sources: docs/MODELS.md.
 */

// The output size per aspect ratio. AWS documents none: these are Stability's ~1 megapixel sizes, a guess that
// docs/MODELS.md marks as one. Only the stand-in and the metadata use them; the real image is what it is.
const OUTPUT_SIZES: Readonly<Record<string, readonly [number, number]>> = {
  "16:9": [1344, 768],
  "1:1": [1024, 1024],
  "21:9": [1536, 640],
  "2:3": [832, 1216],
  "3:2": [1216, 832],
  "4:5": [896, 1152],
  "5:4": [1152, 896],
  "9:16": [768, 1344],
  "9:21": [640, 1536],
};

const MAX_TEXT_LENGTH = 10_000;

// finish_reasons values that mean the content filter refused (the rest of the text names what it looked at).
const FILTER_REASON = /^Filter reason: (.+)$/;

export const stabilityImage: ModelFamily = {
  name: "stability-image",

  limits(model: CatalogModel): ModelLimits {
    return {
      maxPromptLength: MAX_TEXT_LENGTH,
      maxNegativePromptLength: model.acceptsNegativePrompt ? MAX_TEXT_LENGTH : undefined,
      // AWS documents 0 to 4294967295, Stability 0 to 4294967294: the smaller one is safe with both.
      maxSeed: 4_294_967_294,
      zeroSeedIsRandom: true,
      aspectRatios: OUTPUT_SIZES,
      pixels: undefined,
      outputFormats: ["png", "jpeg"],
      qualities: undefined,
    };
  },

  requestBody(request: ImageRequest): string {
    // `mode` is left out (its default is text-to-image and Core's page does not list it); so is `output_format` for
    // PNG, the default, since Core's and Ultra's pages name the formats but not the literal values.
    return JSON.stringify({
      prompt: request.prompt,
      ...(request.negativePrompt ? { negative_prompt: request.negativePrompt } : {}),
      aspect_ratio: request.aspectRatio,
      seed: request.seed,
      ...(request.outputFormat === "png" ? {} : { output_format: request.outputFormat }),
    });
  },

  parseResponse(body: Uint8Array, request: ImageRequest): GeneratedImage {
    const answer = parseJsonObject(body);
    const reason = Array.isArray(answer.finish_reasons) ? answer.finish_reasons[0] : null;
    if (typeof reason === "string") {
      const filtered = FILTER_REASON.exec(reason);
      if (filtered) {
        throw new ContentBlockedError(
          `Bedrock's content filter refused the ${filtered[1]} (finish reason "${reason}"); change the prompt`,
        );
      }
      throw new NamedError(
        PIPELINE_ERRORS.modelInferenceError,
        `${request.modelId} could not generate the image (finish reason "${reason}")`,
      );
    }
    const image = decodeImage(Array.isArray(answer.images) ? answer.images[0] : undefined);
    // Documented as strings, shown as numbers: take either, never a null or "" that Number() would make 0.
    const first: unknown = Array.isArray(answer.seeds) ? answer.seeds[0] : undefined;
    const reported =
      typeof first === "number" ? first : typeof first === "string" && /^\d+$/.test(first) ? Number(first) : Number.NaN;
    return { image, seed: Number.isSafeInteger(reported) ? reported : request.seed };
  },

  mapError(error: unknown, request: ImageRequest) {
    // The filter normally answers 200 with a finish reason; a refusal as an error is matched by its wording.
    return bedrockError(error, {
      modelId: request.modelId,
      isContentFilter: (message) => /content filter|filter reason|blocked/i.test(message),
    });
  },
};
