import { type ImageRequest, MAX_REQUEST_BYTES, type ModelChoice, validateImageRequest } from "../shared/image-request";
import { InvalidPromptError } from "../shared/pipeline-errors";

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

/** The ValidatePrompt step: validates the execution input and says how long its status record lives. */
export function validatePromptStep(event: ValidatePromptEvent, config: ValidatePromptConfig): ValidatePromptResult {
  const input = (event.input ?? {}) as Record<string, unknown>;
  if (typeof input.oversizedBodyBytes === "number") {
    throw new InvalidPromptError(
      `The message body is ${input.oversizedBodyBytes} bytes; at most ${MAX_REQUEST_BYTES} bytes are accepted ` +
        `(send {"prompt": "..."} or the prompt as plain text)`,
    );
  }
  const request = validateImageRequest(event.input, config.models, event.jobId);
  const source = input.source === "api" || input.source === "sqs" ? input.source : "direct";
  const startedAtSeconds = Math.floor(Date.parse(event.startedAt) / 1000);
  return { request, source, expiresAt: startedAtSeconds + config.retentionDays * 86_400 };
}
