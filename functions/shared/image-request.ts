import { createHash } from "node:crypto";
import { findModel, type ResolvedModel } from "./models/catalog";
import { limitsOf } from "./models/families";
import type { ModelLimits, OutputFormat, PixelRule } from "./models/family";
import { InvalidPromptError } from "./pipeline-errors";
import { describeType, quote } from "./quoted-text";

/**
 * The one request contract, for every model family: read by the API, the state machine's ValidatePrompt (the
 * authority, since SQS messages reach it unchecked), the couchgen CLI and the Bedrock stand-in.
 */
export const REQUEST_FIELDS = [
  "prompt",
  "negativePrompt",
  "seed",
  "aspectRatio",
  "width",
  "height",
  "outputFormat",
  "quality",
  "model",
] as const;

export type RequestField = (typeof REQUEST_FIELDS)[number];

/** A request after validation: trimmed text, the model chosen and its defaults filled, ready for its family. */
export interface ImageRequest {
  /** The model or inference profile id InvokeModel is called with. */
  modelId: string;
  prompt: string;
  negativePrompt: string | null;
  seed: number;
  /** As sent, or the ratio of the pixel size sent, or the default `1:1`. */
  aspectRatio: string;
  /** The size of the image the model returns (for a model that takes pixels, the size it is asked for). */
  width: number;
  height: number;
  outputFormat: OutputFormat;
  /** Only for models with a quality setting. */
  quality: string | null;
}

/** Which models a deployment offers: the deploy parameters `modelId` and `allowedModelIds`. */
export interface ModelChoice {
  readonly defaultModelId: string;
  /** Includes the default. */
  readonly allowedModelIds: readonly string[];
}

/**
 * The most bytes a request may take, on either entry path: the API answers 413 above it, and an SQS message above
 * it is REJECTED. The input and its validated copy both travel in the state (256 KB at most); 10,000-character
 * prompt and negative prompt fit.
 */
export const MAX_REQUEST_BYTES = 80 * 1024;

/**
 * How deeply a request may nest (`{"prompt": "..."}` is 1 level). A valid request needs 1; checked on the raw body
 * before anything parses or serialises it, because the serialisers recurse and a few thousand levels overflow them.
 */
export const MAX_NESTING_DEPTH = 20;

/** The refusal of JSON nested deeper than MAX_NESTING_DEPTH: `what` names the body, `instead` what to send. */
export function tooDeeplyNested(what: string, depth: number, instead: string): string {
  return `${what} is nested ${depth} levels deep; at most ${MAX_NESTING_DEPTH} levels are accepted: send ${instead}`;
}

export const DEFAULT_ASPECT_RATIO = "1:1";
export const DEFAULT_OUTPUT_FORMAT: OutputFormat = "png";

// C0/C1 control characters other than tab, LF and CR.
const CONTROL_CHARACTERS = /(?![\t\n\r])\p{Cc}/u;

// Half of a surrogate pair without the other half (a JSON \ud800 escape): not Unicode text, and no encoder sends it.
const UNPAIRED_SURROGATE = /\p{Cs}/u;

// A letter, digit, punctuation mark or symbol (emoji included): something a model can draw from.
const VISIBLE_CHARACTER = /[\p{L}\p{N}\p{P}\p{S}]/u;

/**
 * Validates one image request against the chosen model's limits. `fields` is the request as received (any JSON);
 * `jobId` seeds the default seed so a retried job draws the same image. Every message names what the model accepts.
 */
export function validateImageRequest(fields: unknown, models: ModelChoice, jobId: string): ImageRequest {
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
    throw new InvalidPromptError('The request must be a JSON object like {"prompt": "..."}');
  }
  const record = fields as Record<string, unknown>;
  const model = chooseModel(record.model, models);
  const limits = limitsOf(model);
  const label = `${model.model.name} (${model.id})`;
  const prompt = validateText(record.prompt, "prompt", limits.maxPromptLength, label, true);
  const negativePrompt = validateNegativePrompt(record.negativePrompt, limits, label);
  const seed = validateSeed(record.seed, limits, label, jobId);
  const size = validateSize(record, limits, label);
  const outputFormat = validateOutputFormat(record.outputFormat, limits, label);
  const quality = validateQuality(record.quality, limits, label);
  return { modelId: model.id, prompt, negativePrompt, seed, ...size, outputFormat, quality };
}

/** Names of fields the contract does not have (the state machine ignores extra execution-input fields). */
export function unknownFields(fields: Record<string, unknown>): string[] {
  return Object.keys(fields).filter((key) => !(REQUEST_FIELDS as readonly string[]).includes(key));
}

function chooseModel(value: unknown, models: ModelChoice): ResolvedModel {
  const allowed = models.allowedModelIds.join(", ");
  if (value === undefined || value === null) {
    const model = findModel(models.defaultModelId);
    if (!model) throw new Error(`The default model "${models.defaultModelId}" is not in the model catalog`);
    return model;
  }
  if (typeof value !== "string") {
    throw new InvalidPromptError(`"model" must be a string, one of ${allowed}; got ${describeType(value)}`);
  }
  const model = models.allowedModelIds.includes(value) ? findModel(value) : undefined;
  if (!model) {
    const why = findModel(value) ? "is not offered by this deployment" : "is not a model this pipeline speaks";
    throw new InvalidPromptError(
      `"model" ${quote(value)} ${why}; accepted: ${allowed} (omit "model" for ${models.defaultModelId})`,
    );
  }
  return model;
}

function validateText(value: unknown, field: string, maxLength: number, label: string, required: boolean): string {
  if (value === undefined || value === null) {
    throw new InvalidPromptError(`"${field}" is required: a non-empty string of at most ${maxLength} characters`);
  }
  if (typeof value !== "string") {
    throw new InvalidPromptError(`"${field}" must be a string, got ${describeType(value)}`);
  }
  const text = value.trim();
  if (text === "") {
    throw new InvalidPromptError(
      required
        ? `"${field}" is empty: send at least one non-whitespace character`
        : `"${field}" is empty: omit it or send at least one non-whitespace character`,
    );
  }
  const length = [...text].length;
  if (length > maxLength) {
    throw new InvalidPromptError(`"${field}" is ${length} characters long; ${label} accepts at most ${maxLength}`);
  }
  for (const [pattern, what] of [
    [CONTROL_CHARACTERS, "the control character"],
    [UNPAIRED_SURROGATE, "an unpaired surrogate"],
  ] as const) {
    const found = pattern.exec(text);
    if (!found) continue;
    const code = found[0].codePointAt(0)?.toString(16).toUpperCase().padStart(4, "0");
    const why = pattern === UNPAIRED_SURROGATE ? " (not valid Unicode text)" : "";
    throw new InvalidPromptError(
      `"${field}" contains ${what} U+${code} at position ${found.index}${why}; only printable text, tabs and line breaks are accepted`,
    );
  }
  if (!VISIBLE_CHARACTER.test(text)) {
    throw new InvalidPromptError(
      `"${field}" has no visible characters (only invisible format characters such as zero-width spaces): send at least one letter, digit or symbol`,
    );
  }
  return text;
}

function validateNegativePrompt(value: unknown, limits: ModelLimits, label: string): string | null {
  if (value === undefined || value === null) return null;
  if (limits.maxNegativePromptLength === undefined) {
    throw new InvalidPromptError(`"negativePrompt" is not accepted by ${label}: omit it, or choose another "model"`);
  }
  return validateText(value, "negativePrompt", limits.maxNegativePromptLength, label, false);
}

function validateSeed(value: unknown, limits: ModelLimits, label: string, jobId: string): number {
  if (value === undefined || value === null) return defaultSeed(jobId, limits);
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > limits.maxSeed) {
    const zero = limits.zeroSeedIsRandom ? " (0 lets the model pick one)" : "";
    throw new InvalidPromptError(
      `"seed" must be an integer from 0 to ${limits.maxSeed} for ${label}${zero}, got ${quote(value)}`,
    );
  }
  return value;
}

/** A stable seed per job: a retried or redelivered job draws the same picture. Never 0 where 0 means random. */
export function defaultSeed(jobId: string, limits: Pick<ModelLimits, "maxSeed" | "zeroSeedIsRandom">): number {
  const digest = createHash("sha256").update(jobId).digest();
  const seed = digest.readUInt32BE(0) % (limits.maxSeed + 1);
  return seed === 0 && limits.zeroSeedIsRandom ? 1 : seed;
}

function validateSize(
  record: Record<string, unknown>,
  limits: ModelLimits,
  label: string,
): { aspectRatio: string; width: number; height: number } {
  const ratios = Object.keys(limits.aspectRatios);
  const { aspectRatio, width, height } = record;
  const pixelsSent = width != null || height != null;
  if (pixelsSent && !limits.pixels) {
    const only = aspectRatio != null ? "only " : "";
    throw new InvalidPromptError(
      `${label} takes no pixel size ("width", "height"): send ${only}"aspectRatio", one of ${ratios.join(", ")}`,
    );
  }
  if (aspectRatio != null && pixelsSent) {
    throw new InvalidPromptError(
      `Send "aspectRatio" or "width" and "height", not both; ${label} accepts aspectRatio ${ratios.join(", ")}`,
    );
  }
  if (pixelsSent && limits.pixels) return validatePixels(width, height, limits.pixels, label);
  const ratio = aspectRatio ?? DEFAULT_ASPECT_RATIO;
  const size = typeof ratio === "string" ? limits.aspectRatios[ratio] : undefined;
  if (!size || !Object.hasOwn(limits.aspectRatios, ratio as string)) {
    throw new InvalidPromptError(
      `"aspectRatio" must be one of ${ratios.join(", ")} for ${label}, got ${quote(aspectRatio)}`,
    );
  }
  return { aspectRatio: ratio as string, width: size[0], height: size[1] };
}

function validatePixels(widthValue: unknown, heightValue: unknown, rule: PixelRule, label: string) {
  if ((widthValue == null) !== (heightValue == null)) {
    throw new InvalidPromptError('"width" and "height" go together: send both or neither');
  }
  const width = integerField(widthValue, "width");
  const height = integerField(heightValue, "height");
  const aspectRatio = reducedRatio(width, height);
  if (rule.kind === "list") {
    if (!rule.allowed.some(([w, h]) => w === width && h === height)) {
      const sizes = rule.allowed.map(([w, h]) => `${w}x${h}`).join(", ");
      throw new InvalidPromptError(`${width}x${height} is not a size ${label} accepts; accepted sizes: ${sizes}`);
    }
    return { aspectRatio, width, height };
  }
  for (const [name, side] of [
    ["width", width],
    ["height", height],
  ] as const) {
    if (side < rule.min || side > rule.max || side % rule.multipleOf !== 0) {
      throw new InvalidPromptError(
        `"${name}" must be a multiple of ${rule.multipleOf} from ${rule.min} to ${rule.max} for ${label}, got ${side}`,
      );
    }
  }
  if (width * height > rule.maxPixels) {
    throw new InvalidPromptError(
      `${width}x${height} has ${width * height} pixels; ${label} accepts at most ${rule.maxPixels}`,
    );
  }
  if (Math.max(width, height) / Math.min(width, height) > rule.maxAspectRatio) {
    const most = rule.maxAspectRatio;
    const beyond = width > height ? `wider than ${most}:1` : `taller than 1:${most}`;
    throw new InvalidPromptError(
      `${width}x${height} is ${beyond}; ${label} accepts aspect ratios from 1:${most} to ${most}:1`,
    );
  }
  return { aspectRatio, width, height };
}

function reducedRatio(width: number, height: number): string {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const divisor = gcd(width, height);
  return `${width / divisor}:${height / divisor}`;
}

function integerField(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new InvalidPromptError(`"${name}" must be an integer number of pixels, got ${quote(value)}`);
  }
  return value;
}

function validateOutputFormat(value: unknown, limits: ModelLimits, label: string): OutputFormat {
  if (value === undefined || value === null) return DEFAULT_OUTPUT_FORMAT;
  const format = limits.outputFormats.find((accepted) => accepted === value);
  if (!format) {
    throw new InvalidPromptError(
      `"outputFormat" must be ${limits.outputFormats.join(" or ")} for ${label}, got ${quote(value)}`,
    );
  }
  return format;
}

function validateQuality(value: unknown, limits: ModelLimits, label: string): string | null {
  if (!limits.qualities) {
    if (value === undefined || value === null) return null;
    throw new InvalidPromptError(`"quality" is not accepted by ${label}: omit it, or choose another "model"`);
  }
  if (value === undefined || value === null) return "standard";
  if (typeof value !== "string" || !limits.qualities.includes(value)) {
    throw new InvalidPromptError(
      `"quality" must be one of ${limits.qualities.join(", ")} for ${label}, got ${quote(value)}`,
    );
  }
  return value;
}
