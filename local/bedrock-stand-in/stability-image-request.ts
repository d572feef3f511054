import { DEFAULT_ASPECT_RATIO, DEFAULT_OUTPUT_FORMAT } from "../../functions/shared/image-request";
import type { ResolvedModel } from "../../functions/shared/models/catalog";
import { limitsOf } from "../../functions/shared/models/families";
import type { OutputFormat } from "../../functions/shared/models/family";
import { malformedInput } from "./bedrock-errors";
import { characterCount, type DrawRequest, type StandInFamily } from "./stand-in-family";

/**
 * Stability AI's text-to-image models (Stable Image Core and Ultra, SD3.5 Large): a flat body checked like a JSON
 * schema with no extra keys, answered `{"seeds", "finish_reasons", "images"}`; the content filter answers 200 with
 * the finish reason `Filter reason: prompt` and no images, as the AWS model pages show.
 */
export const stabilityImageStandIn: StandInFamily = {
  parseRequest: parseStabilityImageRequest,
  answer: (images, request) => ({ seeds: [request.seed], finish_reasons: [null], images }),
  filtered: () => ({ finish_reasons: [PROMPT_FILTERED] }),
};

const PROMPT_FILTERED = "Filter reason: prompt";
const TEXT_TO_IMAGE = "text-to-image";

/**
 * Parses and checks a Stability body against the model's limits; throws one ValidationException listing every
 * problem, as Bedrock's schema check does. A seed of 0 (or none) gets a random one from 1 to the model's maximum.
 */
export function parseStabilityImageRequest(body: string, model: ResolvedModel, random: () => number): DrawRequest {
  const limits = limitsOf(model);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw malformedInput([`the body is not JSON (${error instanceof Error ? error.message : String(error)})`]);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw malformedInput([`#: expected type: JSONObject, found: ${jsonType(parsed)}`]);
  }
  const fields = parsed as Record<string, unknown>;
  const permitted = ["prompt", "aspect_ratio", "seed", "output_format", "mode"];
  if (limits.maxNegativePromptLength !== undefined) permitted.push("negative_prompt");
  const problems = Object.keys(fields)
    .filter((key) => !permitted.includes(key))
    .map((key) => `#: extraneous key [${key}] is not permitted`);
  if (fields.prompt === undefined) problems.push("#: required key [prompt] not found");
  const check = (problem: string | undefined) => {
    if (problem) problems.push(problem);
  };
  check(textProblem(fields.prompt, "prompt", 1, limits.maxPromptLength));
  if (limits.maxNegativePromptLength !== undefined) {
    check(textProblem(fields.negative_prompt, "negative_prompt", 0, limits.maxNegativePromptLength));
  }
  check(enumProblem(fields.aspect_ratio, "aspect_ratio", Object.keys(limits.aspectRatios)));
  check(seedProblem(fields.seed, limits.maxSeed));
  check(enumProblem(fields.output_format, "output_format", limits.outputFormats));
  check(enumProblem(fields.mode, "mode", [TEXT_TO_IMAGE]));
  if (problems.length > 0) throw malformedInput(problems);

  const aspectRatio = (fields.aspect_ratio as string | undefined) ?? DEFAULT_ASPECT_RATIO;
  const [width, height] = limits.aspectRatios[aspectRatio]!;
  const seedSent = (fields.seed as number | undefined) ?? 0;
  const negativePrompt = fields.negative_prompt as string | undefined;
  return {
    prompt: fields.prompt as string,
    negativePrompt: negativePrompt ? negativePrompt : null,
    seed: seedSent === 0 ? 1 + Math.floor(random() * limits.maxSeed) : seedSent,
    width,
    height,
    numberOfImages: 1,
    outputFormat: (fields.output_format as OutputFormat | undefined) ?? DEFAULT_OUTPUT_FORMAT,
  };
}

function textProblem(value: unknown, key: string, minLength: number, maxLength: number): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") return `#/${key}: expected type: String, found: ${jsonType(value)}`;
  const length = characterCount(value);
  if (length < minLength) return `#/${key}: expected minLength: ${minLength}, actual: ${length}`;
  if (length > maxLength) return `#/${key}: expected maxLength: ${maxLength}, actual: ${length}`;
  return undefined;
}

function enumProblem(value: unknown, key: string, accepted: readonly string[]): string | undefined {
  if (value === undefined || (typeof value === "string" && accepted.includes(value))) return undefined;
  return `#/${key}: ${JSON.stringify(value)} is not a valid enum value (accepted: ${accepted.join(", ")})`;
}

function seedProblem(value: unknown, maxSeed: number): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    return `#/seed: expected type: Integer, found: ${jsonType(value)}`;
  }
  if (value < 0) return `#/seed: ${value} is not greater or equal to 0`;
  if (value > maxSeed) return `#/seed: ${value} is not less or equal to ${maxSeed}`;
  return undefined;
}

/** The JSON type names Bedrock's schema messages use. */
function jsonType(value: unknown): string {
  if (value === null) return "Null";
  if (Array.isArray(value)) return "JSONArray";
  if (typeof value === "object") return "JSONObject";
  if (typeof value === "number") return Number.isInteger(value) ? "Integer" : "BigDecimal";
  if (typeof value === "string") return "String";
  return typeof value === "boolean" ? "Boolean" : typeof value;
}
