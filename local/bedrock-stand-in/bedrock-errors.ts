/** The Bedrock Runtime error shapes the stand-in answers with; the SDK raises an exception of the same name. */
export type BedrockErrorType =
  | "UnknownOperationException"
  | "ValidationException"
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

// Messages as Bedrock and Nova Canvas word them, so clients that match on text behave as they would on AWS.
export const THROTTLED_MESSAGE = "Too many requests, please wait before trying again.";
export const CONTENT_FILTER_MESSAGE =
  "This request has been blocked by our content filters. Please adjust your text prompt to submit a new request.";
export const INVALID_MODEL_MESSAGE = "The provided model identifier is invalid.";

export const throttled = (injectedBy: string) =>
  new BedrockErrorResponse(429, "ThrottlingException", THROTTLED_MESSAGE, injectedBy);
export const contentBlocked = (injectedBy: string) =>
  new BedrockErrorResponse(400, "ValidationException", CONTENT_FILTER_MESSAGE, injectedBy);
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
