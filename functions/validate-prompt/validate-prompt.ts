import {
  type ImageRequest,
  MAX_NESTING_DEPTH,
  MAX_REQUEST_BYTES,
  type ModelChoice,
  tooDeeplyNested,
  validateImageRequest,
} from "../shared/image-request";
import { valueDepth } from "../shared/json-depth";
import { failureAttributes, type PipelineLogger, SILENT_LOGGER } from "../shared/logger";
import { NO_METRICS, type PipelineMetrics } from "../shared/metrics";
import { InvalidPromptError } from "../shared/pipeline-errors";
import { pipelineFactsOf } from "../shared/pipeline-facts";

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
  models: ModelChoice;
  retentionDays: number;
}

export interface ValidatePromptDeps extends ValidatePromptConfig {
  /** This invocation's logger; the step adds the jobId and the source. @default SILENT_LOGGER */
  log?: PipelineLogger;
  /** @default NO_METRICS */
  metrics?: PipelineMetrics;
}

const INSTEAD_OF_A_MESSAGE = `a flat JSON object like {"prompt": "..."} or the prompt as plain text`;

/**
 * The ValidatePrompt step: validates the execution input and says how long its status record lives. A request it
 * refuses (InvalidPrompt: the state machine records REJECTED) is counted in Rejections by source.
 */
export function validatePromptStep(event: ValidatePromptEvent, deps: ValidatePromptDeps): ValidatePromptResult {
  const input = (event.input ?? {}) as Record<string, unknown>;
  const source = input.source === "api" || input.source === "sqs" ? input.source : "direct";
  const { log = SILENT_LOGGER, metrics = NO_METRICS } = deps;
  log.appendKeys({ jobId: event.jobId, source });
  try {
    const result = validated(event, input, source, deps);
    log.info("Request valid", { modelId: result.request.modelId });
    return result;
  } catch (error) {
    if (error instanceof InvalidPromptError) {
      log.info("Request rejected", { reason: error.message });
      metrics.record("rejections", 1, { Source: source });
    } else {
      log.error("Validation failed", failureAttributes(error));
    }
    throw error;
  }
}

function validated(
  event: ValidatePromptEvent,
  input: Record<string, unknown>,
  source: ValidatePromptResult["source"],
  config: ValidatePromptConfig,
): ValidatePromptResult {
  // Only the pipeline's own key says why start-job could not read an SQS body; a request field of that name is noise.
  const { oversizedBodyBytes, bodyNestingDepth, numbersTooLarge = [] } = pipelineFactsOf(input);
  if (oversizedBodyBytes !== undefined) {
    throw new InvalidPromptError(
      `The message body is ${oversizedBodyBytes} bytes; at most ${MAX_REQUEST_BYTES} bytes are accepted ` +
        `(send {"prompt": "..."} or the prompt as plain text)`,
    );
  }
  if (bodyNestingDepth !== undefined) {
    throw new InvalidPromptError(tooDeeplyNested("The message body", bodyNestingDepth, INSTEAD_OF_A_MESSAGE));
  }
  // A direct StartExecution reaches here unchecked: refuse deep nesting before a message quotes any of it.
  const depth = valueDepth(event.input);
  if (depth > MAX_NESTING_DEPTH) {
    throw new InvalidPromptError(
      tooDeeplyNested("The execution input", depth, `a flat JSON object like {"prompt": "..."}`),
    );
  }
  // The input carries these as null (JSON has no Infinity): judge them as what the producer sent.
  const fields =
    numbersTooLarge.length > 0
      ? { ...input, ...Object.fromEntries(numbersTooLarge.map((field) => [field, Number.POSITIVE_INFINITY])) }
      : event.input;
  const request = validateImageRequest(fields, config.models, event.jobId);
  const startedAtSeconds = Math.floor(Date.parse(event.startedAt) / 1000);
  return { request, source, expiresAt: startedAtSeconds + config.retentionDays * 86_400 };
}
