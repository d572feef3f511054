/** The Bedrock error shapes the stand-in answers with; the SDK raises an exception of the same name. */
export type BedrockErrorType =
  | "UnknownOperationException"
  | "ValidationException"
  | "ResourceNotFoundException"
  | "ThrottlingException"
  | "ModelTimeoutException"
  | "ServiceUnavailableException"
  | "InternalServerException";

/** A refusal the server sends as HTTP status + `x-amzn-errortype` + `{"message"}`, as Bedrock does. */
export class BedrockErrorResponse extends Error {
  constructor(
    readonly status: number,
    readonly type: BedrockErrorType,
    message: string,
    /** The stand-in setting that injected this refusal, if one did (e.g. `throttleRate`). */
    readonly injectedBy?: string,
  ) {
    super(message);
    this.name = type;
  }
}

export function validationError(message: string): BedrockErrorResponse {
  return new BedrockErrorResponse(400, "ValidationException", message);
}

/**
 * Bedrock's wording for a body the model's schema rejects: every problem after `Malformed input request: `, joined
 * by ", " (as in `#: extraneous key [foo] is not permitted, #: required key [prompt] not found`).
 */
export function malformedInput(problems: readonly string[]): BedrockErrorResponse {
  return validationError(`Malformed input request: ${problems.join(", ")}, please reformat your input and try again.`);
}

// Messages as Bedrock and Nova Canvas word them, so clients that match on text behave as they would on AWS.
export const THROTTLED_MESSAGE = "Too many requests, please wait before trying again.";
export const CONTENT_FILTER_MESSAGE =
  "This request has been blocked by our content filters. Please adjust your text prompt to submit a new request.";
export const INVALID_MODEL_MESSAGE = "The provided model identifier is invalid.";
export const END_OF_LIFE_MESSAGE =
  "This model version has reached the end of its life. Please refer to the AWS documentation for more details.";
export const UNRESOLVED_FOUNDATION_MODEL_MESSAGE =
  "Could not resolve the foundation model from the provided model identifier.";

export const throttled = (injectedBy: string) =>
  new BedrockErrorResponse(429, "ThrottlingException", THROTTLED_MESSAGE, injectedBy);
export const contentBlocked = (injectedBy: string) =>
  new BedrockErrorResponse(400, "ValidationException", CONTENT_FILTER_MESSAGE, injectedBy);
/** A model whose lifecycle the stand-in was told is EOL. */
export const modelEndOfLife = (injectedBy: string) =>
  new BedrockErrorResponse(404, "ResourceNotFoundException", END_OF_LIFE_MESSAGE, injectedBy);
export const foundationModelNotFound = () =>
  new BedrockErrorResponse(404, "ResourceNotFoundException", UNRESOLVED_FOUNDATION_MODEL_MESSAGE);
export const modelTimeout = (injectedBy: string) =>
  new BedrockErrorResponse(
    408,
    "ModelTimeoutException",
    "Model has timed out in processing the request. Try your request again.",
    injectedBy,
  );
export const serviceUnavailable = (injectedBy: string) =>
  new BedrockErrorResponse(
    503,
    "ServiceUnavailableException",
    "Bedrock is unable to process your request.",
    injectedBy,
  );
export const internalServerError = (injectedBy?: string) =>
  new BedrockErrorResponse(
    500,
    "InternalServerException",
    "The server encountered an internal error while processing the request.",
    injectedBy,
  );
