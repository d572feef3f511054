import { type ImageModelLimits, imageModelLimits, SUPPORTED_MODEL_IDS } from "../../functions/shared/image-models";
import { validationError } from "./bedrock-errors";

/** A TEXT_IMAGE request the stand-in accepted, with the model's defaults filled in. */
export interface TextImageRequest {
  prompt: string;
  negativePrompt: string | null;
  numberOfImages: number;
  width: number;
  height: number;
  seed: number;
  quality: string;
}

const MAX_IMAGES = 5;
// The models' documented defaults when imageGenerationConfig leaves them out.
const DEFAULT_SEED = { "nova-canvas": 12, "titan-image": 42 } as const;
const GEO_PREFIX = /^(us|eu|apac|us-gov|global)\./;
const FOUNDATION_MODEL_ARN = /^arn:aws[a-z-]*:bedrock:[a-z0-9-]+::foundation-model\//;

/**
 * The limits of a model the stand-in draws for: the supported ids, also as a foundation-model ARN or with a
 * cross-region prefix. Undefined for anything else, which Bedrock refuses as an invalid model identifier.
 */
export function standInModelLimits(modelId: string): ImageModelLimits | undefined {
  const baseId = modelId.replace(FOUNDATION_MODEL_ARN, "").replace(GEO_PREFIX, "");
  return (SUPPORTED_MODEL_IDS as readonly string[]).includes(baseId) ? imageModelLimits(baseId) : undefined;
}

/** Parses and checks an InvokeModel body against the model's rules; throws a ValidationException response. */
export function parseTextImageRequest(body: string, limits: ImageModelLimits): TextImageRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw malformed(`the body is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const root = objectAt(parsed, "#");
  if (root.taskType !== "TEXT_IMAGE") {
    throw malformed(
      `#/taskType: ${JSON.stringify(root.taskType)} is not supported by the stand-in; it draws only "TEXT_IMAGE"`,
    );
  }
  const params = objectAt(root.textToImageParams, "#/textToImageParams");
  const prompt = textAt(params.text, "#/textToImageParams/text", limits);
  const negativePrompt =
    params.negativeText === undefined ? null : textAt(params.negativeText, "#/textToImageParams/negativeText", limits);
  const config =
    root.imageGenerationConfig === undefined ? {} : objectAt(root.imageGenerationConfig, "#/imageGenerationConfig");
  const numberOfImages = integerAt(config.numberOfImages, "numberOfImages", 1, MAX_IMAGES, 1);
  const [minSide, maxSide] = sideBounds(limits);
  const width = integerAt(config.width, "width", minSide, maxSide, limits.defaultWidth);
  const height = integerAt(config.height, "height", minSide, maxSide, limits.defaultHeight);
  checkSize(width, height, limits);
  const seed = integerAt(config.seed, "seed", 0, limits.maxSeed, DEFAULT_SEED[limits.family]);
  const quality = config.quality ?? "standard";
  if (typeof quality !== "string" || !limits.qualities.includes(quality)) {
    throw malformed(
      `#/imageGenerationConfig/quality: ${JSON.stringify(quality)} is not one of ${limits.qualities.join(", ")}`,
    );
  }
  if (
    config.cfgScale !== undefined &&
    !(typeof config.cfgScale === "number" && config.cfgScale >= 1.1 && config.cfgScale <= 10)
  ) {
    throw malformed(
      `#/imageGenerationConfig/cfgScale: ${JSON.stringify(config.cfgScale)} is not a number from 1.1 to 10`,
    );
  }
  return { prompt, negativePrompt, numberOfImages, width, height, seed, quality };
}

function sideBounds(limits: ImageModelLimits): [number, number] {
  const rule = limits.sizes;
  if (rule.kind === "range") return [rule.min, rule.max];
  const sides = rule.allowed.flat();
  return [Math.min(...sides), Math.max(...sides)];
}

function checkSize(width: number, height: number, limits: ImageModelLimits): void {
  const rule = limits.sizes;
  if (rule.kind === "list") {
    if (!rule.allowed.some(([w, h]) => w === width && h === height)) {
      const sizes = rule.allowed.map(([w, h]) => `${w}x${h}`).join(", ");
      throw malformed(`#/imageGenerationConfig: ${width}x${height} is not a supported size; supported sizes: ${sizes}`);
    }
    return;
  }
  for (const [name, side] of [
    ["width", width],
    ["height", height],
  ] as const) {
    if (side < rule.min || side > rule.max || side % rule.multipleOf !== 0) {
      throw malformed(
        `#/imageGenerationConfig/${name}: ${side} is not a multiple of ${rule.multipleOf} from ${rule.min} to ${rule.max}`,
      );
    }
  }
  if (width * height > rule.maxPixels) {
    throw malformed(`#/imageGenerationConfig: ${width}x${height} is more than ${rule.maxPixels} pixels`);
  }
  if (Math.max(width, height) / Math.min(width, height) > rule.maxAspectRatio) {
    throw malformed(
      `#/imageGenerationConfig: ${width}x${height} is outside the aspect ratios 1:${rule.maxAspectRatio} to ${rule.maxAspectRatio}:1`,
    );
  }
}

function objectAt(value: unknown, pointer: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed(`${pointer}: expected an object, got ${value === undefined ? "nothing" : describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function textAt(value: unknown, pointer: string, limits: ImageModelLimits): string {
  // Counted in characters (code points), as the models' limits are.
  const length = typeof value === "string" ? [...value].length : 0;
  if (typeof value === "string" && length > 0 && length <= limits.maxPromptLength) return value;
  const found =
    value === undefined
      ? "is required"
      : typeof value === "string"
        ? `has ${length} characters`
        : `is ${describe(value)}`;
  throw malformed(`${pointer} ${found}; expected a string of 1 to ${limits.maxPromptLength} characters`);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  return value === null ? "null" : `a ${typeof value}`;
}

function integerAt(value: unknown, field: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw malformed(
      `#/imageGenerationConfig/${field}: ${JSON.stringify(value)} is not an integer from ${min} to ${max}`,
    );
  }
  return value;
}

/** Bedrock's wording for a body the model rejects, with the stand-in's reason in the middle. */
function malformed(reason: string) {
  return validationError(`Malformed input request: ${reason}, please reformat your input and try again.`);
}
