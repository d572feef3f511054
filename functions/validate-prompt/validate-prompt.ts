import { createHash } from "node:crypto";
import type { ImageModelLimits } from "../shared/image-models";
import { NamedError } from "../shared/named-error";

/** The fields a caller may send; everything else is rejected so typos do not pass silently. */
export const REQUEST_FIELDS = ["prompt", "negativePrompt", "seed", "width", "height", "quality"] as const;

/** A request after validation: trimmed text, defaults filled, ready for Bedrock. */
export interface ImageRequest {
  prompt: string;
  negativePrompt: string | null;
  seed: number;
  width: number;
  height: number;
  quality: string;
}

/** Thrown for any request the pipeline will not send to Bedrock; the state machine catches it by name. */
export class InvalidPromptError extends NamedError {
  constructor(message: string) {
    super("InvalidPrompt", message);
  }
}

// C0/C1 control characters other than tab, LF and CR; also lone surrogates, which no encoder can send.
const CONTROL_CHARACTERS = /(?![\t\n\r])\p{Cc}|\p{Cs}/u;

// A letter, digit, punctuation mark or symbol (emoji included): something a model can draw from.
const VISIBLE_CHARACTER = /[\p{L}\p{N}\p{P}\p{S}]/u;

/**
 * The most bytes a request may take, on either entry path: the API answers 413 above it, and an SQS message above
 * it is REJECTED (an execution input may not exceed 256 KB, and a 1,024-character prompt in JSON is far below this).
 */
export const MAX_REQUEST_BYTES = 16 * 1024;

/**
 * Validates one image request against the configured model's limits.
 * `fields` is the request as received (any JSON); `jobId` seeds the default seed so a retried job draws the same image.
 */
export function validateImageRequest(fields: unknown, limits: ImageModelLimits, jobId: string): ImageRequest {
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
    throw new InvalidPromptError('The request must be a JSON object like {"prompt": "..."}');
  }
  const record = fields as Record<string, unknown>;
  const prompt = validateText(record.prompt, "prompt", limits, true);
  const negativePrompt =
    record.negativePrompt == null ? null : validateText(record.negativePrompt, "negativePrompt", limits, false);
  const seed = validateSeed(record.seed, limits, jobId);
  const { width, height } = validateSize(record.width, record.height, limits);
  const quality = validateQuality(record.quality, limits);
  return { prompt, negativePrompt, seed, width, height, quality };
}

/** Names of fields the API does not accept (the state machine ignores extra execution-input fields). */
export function unknownFields(fields: Record<string, unknown>, allowed: readonly string[] = REQUEST_FIELDS): string[] {
  return Object.keys(fields).filter((key) => !allowed.includes(key));
}

function validateText(value: unknown, field: string, limits: ImageModelLimits, required: boolean): string {
  if (value === undefined || value === null) {
    throw new InvalidPromptError(
      `"${field}" is required: a non-empty string of at most ${limits.maxPromptLength} characters`,
    );
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
  if (length > limits.maxPromptLength) {
    throw new InvalidPromptError(
      `"${field}" is ${length} characters long; this model (${limits.family}) accepts at most ${limits.maxPromptLength}`,
    );
  }
  const control = CONTROL_CHARACTERS.exec(text);
  if (control) {
    const code = control[0].codePointAt(0)?.toString(16).toUpperCase().padStart(4, "0");
    throw new InvalidPromptError(
      `"${field}" contains the control character U+${code} at position ${control.index}; only printable text, tabs and line breaks are accepted`,
    );
  }
  if (!VISIBLE_CHARACTER.test(text)) {
    throw new InvalidPromptError(
      `"${field}" has no visible characters (only invisible format characters such as zero-width spaces): send at least one letter, digit or symbol`,
    );
  }
  return text;
}

function validateSeed(value: unknown, limits: ImageModelLimits, jobId: string): number {
  if (value === undefined || value === null) {
    return defaultSeed(jobId, limits.maxSeed);
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > limits.maxSeed) {
    throw new InvalidPromptError(`"seed" must be an integer from 0 to ${limits.maxSeed}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A stable seed per job: a retried or redelivered job draws the same picture. */
export function defaultSeed(jobId: string, maxSeed: number): number {
  const digest = createHash("sha256").update(jobId).digest();
  return digest.readUInt32BE(0) % (maxSeed + 1);
}

function validateSize(widthValue: unknown, heightValue: unknown, limits: ImageModelLimits) {
  if ((widthValue == null) !== (heightValue == null)) {
    throw new InvalidPromptError('"width" and "height" go together: send both or neither');
  }
  if (widthValue == null) {
    return { width: limits.defaultWidth, height: limits.defaultHeight };
  }
  const width = integerField(widthValue, "width");
  const height = integerField(heightValue, "height");
  const rule = limits.sizes;
  if (rule.kind === "list") {
    if (!rule.allowed.some(([w, h]) => w === width && h === height)) {
      const sizes = rule.allowed.map(([w, h]) => `${w}x${h}`).join(", ");
      throw new InvalidPromptError(`${width}x${height} is not a size this model accepts; accepted sizes: ${sizes}`);
    }
    return { width, height };
  }
  for (const [name, side] of [
    ["width", width],
    ["height", height],
  ] as const) {
    if (side < rule.min || side > rule.max || side % rule.multipleOf !== 0) {
      throw new InvalidPromptError(
        `"${name}" must be a multiple of ${rule.multipleOf} from ${rule.min} to ${rule.max}, got ${side}`,
      );
    }
  }
  if (width * height > rule.maxPixels) {
    throw new InvalidPromptError(
      `${width}x${height} has ${width * height} pixels; at most ${rule.maxPixels} are accepted`,
    );
  }
  if (Math.max(width, height) / Math.min(width, height) > rule.maxAspectRatio) {
    throw new InvalidPromptError(
      `${width}x${height} is wider than 1:${rule.maxAspectRatio}; the aspect ratio must be between 1:${rule.maxAspectRatio} and ${rule.maxAspectRatio}:1`,
    );
  }
  return { width, height };
}

function integerField(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new InvalidPromptError(`"${name}" must be an integer number of pixels, got ${JSON.stringify(value)}`);
  }
  return value;
}

function validateQuality(value: unknown, limits: ImageModelLimits): string {
  if (value === undefined || value === null) return "standard";
  if (typeof value !== "string" || !limits.qualities.includes(value)) {
    throw new InvalidPromptError(
      `"quality" must be one of ${limits.qualities.join(", ")}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

/** What the ValidatePrompt state passes: the execution input, the execution name and its start time. */
export interface ValidatePromptEvent {
  input: unknown;
  jobId: string;
  startedAt: string;
}

export interface ValidatePromptResult {
  request: ImageRequest;
  source: "api" | "sqs" | "direct";
  /** Epoch seconds after which DynamoDB may expire the status record (the table's TTL attribute). */
  expiresAt: number;
}

export interface ValidatePromptConfig {
  limits: ImageModelLimits;
  retentionDays: number;
}

/** The ValidatePrompt step: validates the execution input and says how long its status record lives. */
export function validatePromptStep(event: ValidatePromptEvent, config: ValidatePromptConfig): ValidatePromptResult {
  const input = (event.input ?? {}) as Record<string, unknown>;
  if (typeof input.oversizedBodyBytes === "number") {
    throw new InvalidPromptError(
      `The message body is ${input.oversizedBodyBytes} bytes; at most ${MAX_REQUEST_BYTES} bytes are accepted ` +
        `(send {"prompt": "..."} or the prompt as plain text, at most ${config.limits.maxPromptLength} characters)`,
    );
  }
  const request = validateImageRequest(event.input, config.limits, event.jobId);
  const source = input.source === "api" || input.source === "sqs" ? input.source : "direct";
  const startedAtSeconds = Math.floor(Date.parse(event.startedAt) / 1000);
  return { request, source, expiresAt: startedAtSeconds + config.retentionDays * 86_400 };
}
