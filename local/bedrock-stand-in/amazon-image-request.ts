import { DEFAULT_ASPECT_RATIO } from "../../functions/shared/image-request";
import type { ResolvedModel } from "../../functions/shared/models/catalog";
import { limitsOf } from "../../functions/shared/models/families";
import type { ModelLimits, PixelRule } from "../../functions/shared/models/family";
import { contentBlocked, malformedInput } from "./bedrock-errors";
import { characterCount, type DrawRequest, describeType, type StandInFamily } from "./stand-in-family";

/**
 * Amazon's image models (Nova Canvas, Titan Image Generator): the TEXT_IMAGE body with a pixel size, answered with
 * `{"images": [...], "error": null}` in PNG; the content filter refuses with a ValidationException.
 */
export const amazonImageStandIn: StandInFamily = {
  parseRequest: parseTextImageRequest,
  answer: (images) => ({ images, error: null }),
  filtered: () => contentBlocked("contentFilterWord"),
};

const MAX_IMAGES = 5;
// The models' documented defaults when imageGenerationConfig leaves the seed out.
const NOVA_CANVAS_DEFAULT_SEED = 12;
const TITAN_DEFAULT_SEED = 42;

/** Parses and checks a TEXT_IMAGE body against the model's limits; throws a ValidationException response. */
export function parseTextImageRequest(body: string, model: ResolvedModel): DrawRequest {
  const limits = limitsOf(model);
  const pixels = limits.pixels;
  if (!pixels) throw new Error(`${model.model.id} has no pixel rule: it is not a TEXT_IMAGE model`);
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
  const prompt = textAt(params.text, "#/textToImageParams/text", limits.maxPromptLength);
  const negativePrompt = negativeTextAt(params.negativeText, limits);
  const config =
    root.imageGenerationConfig === undefined ? {} : objectAt(root.imageGenerationConfig, "#/imageGenerationConfig");
  const numberOfImages = integerAt(config.numberOfImages, "numberOfImages", 1, MAX_IMAGES, 1);
  const [minSide, maxSide] = sideBounds(pixels);
  const [defaultWidth, defaultHeight] = limits.aspectRatios[DEFAULT_ASPECT_RATIO] ?? [minSide, minSide];
  const width = integerAt(config.width, "width", minSide, maxSide, defaultWidth);
  const height = integerAt(config.height, "height", minSide, maxSide, defaultHeight);
  checkSize(width, height, pixels);
  const defaultSeed = model.model.id.startsWith("amazon.titan-") ? TITAN_DEFAULT_SEED : NOVA_CANVAS_DEFAULT_SEED;
  const seed = integerAt(config.seed, "seed", 0, limits.maxSeed, defaultSeed);
  const qualities = limits.qualities ?? [];
  const quality = config.quality ?? "standard";
  if (typeof quality !== "string" || !qualities.includes(quality)) {
    throw malformed(
      `#/imageGenerationConfig/quality: ${JSON.stringify(quality)} is not one of ${qualities.join(", ")}`,
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
  return { prompt, negativePrompt, seed, width, height, numberOfImages, outputFormat: "png" };
}

function negativeTextAt(value: unknown, limits: ModelLimits): string | null {
  if (value === undefined) return null;
  if (limits.maxNegativePromptLength === undefined) {
    throw malformed("#/textToImageParams: extraneous key [negativeText] is not permitted");
  }
  return textAt(value, "#/textToImageParams/negativeText", limits.maxNegativePromptLength);
}

function sideBounds(rule: PixelRule): [number, number] {
  if (rule.kind === "range") return [rule.min, rule.max];
  const sides = rule.allowed.flat();
  return [Math.min(...sides), Math.max(...sides)];
}

function checkSize(width: number, height: number, rule: PixelRule): void {
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
    throw malformed(`${pointer}: expected an object, got ${value === undefined ? "nothing" : describeType(value)}`);
  }
  return value as Record<string, unknown>;
}

function textAt(value: unknown, pointer: string, maxLength: number): string {
  const length = typeof value === "string" ? characterCount(value) : 0;
  if (typeof value === "string" && length > 0 && length <= maxLength) return value;
  const found =
    value === undefined
      ? "is required"
      : typeof value === "string"
        ? `has ${length} characters`
        : `is ${describeType(value)}`;
  throw malformed(`${pointer} ${found}; expected a string of 1 to ${maxLength} characters`);
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

function malformed(reason: string) {
  return malformedInput([reason]);
}
