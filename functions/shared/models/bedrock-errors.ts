import { errorMessage, errorName, httpStatusOf, isNetworkFailure } from "../aws-errors";
import { NamedError } from "../named-error";
import { ContentBlockedError, PIPELINE_ERRORS, RETRIED_BEDROCK_ERRORS } from "../pipeline-errors";
import { excerpt } from "../quoted-text";

export interface BedrockErrorContext {
  readonly modelId: string;
  /** True for a ValidationException whose message is the family's content-filter refusal. */
  readonly isContentFilter: (message: string) => boolean;
}

// How Bedrock says a model cannot be used at all: unknown id, end of life, not offered in the region.
// "on-demand throughput isn't supported": the model must be called through an inference profile.
const MODEL_GONE =
  /end of (its )?life|model identifier is invalid|invalid model identifier|model .*not (supported|found|available)|legacy|on-demand throughput isn.t supported/i;

const MAX_MESSAGE_LENGTH = 240;

/**
 * Maps an InvokeModel failure to the error name the state machine acts on: the retried names, or a final one.
 * Shared by every family; each passes its own content-filter test.
 */
export function bedrockError(error: unknown, context: BedrockErrorContext): NamedError {
  const name = errorName(error);
  const fullMessage = errorMessage(error);
  // Bedrock's messages may quote the request ("Malformed input request: #/...: <value>"): the job's cause, the
  // record and the failure email get an excerpt. The original stays the error's `cause`.
  const message = excerpt(fullMessage, MAX_MESSAGE_LENGTH);
  const status = httpStatusOf(error);
  if ((RETRIED_BEDROCK_ERRORS as readonly string[]).includes(name)) {
    return new NamedError(name, message, { cause: error });
  }
  if (name === "ValidationException" && context.isContentFilter(fullMessage)) {
    return new ContentBlockedError(message, { cause: error });
  }
  if (name === "ResourceNotFoundException" || (name === "ValidationException" && MODEL_GONE.test(fullMessage))) {
    return modelUnavailable(
      context.modelId,
      message,
      "Bedrock does not serve it to this account in this region (end of life, a legacy model the account has not " +
        "used lately, or not offered here): change the deploy parameter modelId (and allowedModelIds)",
      error,
    );
  }
  if (name === "AccessDeniedException") {
    return modelUnavailable(
      context.modelId,
      message,
      "this account may not invoke it: enable access to the model in the Bedrock console, or change the deploy " +
        "parameter modelId (and allowedModelIds) to a model the account can use",
      error,
    );
  }
  if (name === "ValidationException") {
    return new NamedError(PIPELINE_ERRORS.bedrockValidation, message, { cause: error });
  }
  if (name === "ModelErrorException") {
    return new NamedError(PIPELINE_ERRORS.modelInferenceError, message, { cause: error });
  }
  // Any other 5xx, and network failures and client timeouts, are worth another try.
  if ((status !== undefined && status >= 500) || isNetworkFailure(error)) {
    return new NamedError("ServiceUnavailableException", `${name}: ${message}`, { cause: error });
  }
  return new NamedError(PIPELINE_ERRORS.bedrockError, `${name}: ${message}`, { cause: error });
}

function modelUnavailable(modelId: string, message: string, advice: string, cause: unknown): NamedError {
  return new NamedError(
    PIPELINE_ERRORS.modelUnavailable,
    `Bedrock refused model "${modelId}" (${message}); ${advice}, e.g. -c modelId=stability.stable-image-core-v1:1, ` +
      "then check it with `npx couchgen models`",
    { cause },
  );
}

/** The parsed JSON object of a 200 answer; throws `BedrockMalformedResponse` for anything else. */
export function parseJsonObject(body: Uint8Array): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString("utf8"));
  } catch {
    throw new NamedError(PIPELINE_ERRORS.bedrockMalformedResponse, "Bedrock returned a body that is not JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new NamedError(PIPELINE_ERRORS.bedrockMalformedResponse, "Bedrock returned JSON that is not an object");
  }
  return parsed as Record<string, unknown>;
}

/** Decodes a base64 image, or throws `BedrockMalformedResponse` when there is none. */
export function decodeImage(value: unknown): Buffer {
  if (typeof value !== "string" || value === "") {
    throw new NamedError(PIPELINE_ERRORS.bedrockMalformedResponse, "Bedrock returned no image");
  }
  return Buffer.from(value, "base64");
}
