import { NamedError } from "./named-error";

/**
 * Every error name the state machine acts on (`ErrorEquals` in statemachine/image-pipeline.asl.json), in one place.
 * Retried: the Bedrock names in `RETRIED_BEDROCK_ERRORS` and `S3TransientError`; everything else is final.
 */
export const PIPELINE_ERRORS = {
  /** The request breaks the contract (functions/shared/image-request.ts): recorded REJECTED. */
  invalidPrompt: "InvalidPrompt",
  /** Bedrock's content filter refused the prompt or the image it made: recorded REJECTED, never retried. */
  contentBlocked: "ContentBlocked",
  /** The model is end of life, unknown, or not enabled for the account: a deploy parameter must change. */
  modelUnavailable: "ModelUnavailable",
  /** The model refused the request body for another reason. */
  bedrockValidation: "BedrockValidation",
  /** The model answered, but with no usable image. */
  bedrockMalformedResponse: "BedrockMalformedResponse",
  /** The model reported an error while generating (Stability's "Inference error" finish reason, ModelErrorException). */
  modelInferenceError: "ModelInferenceError",
  bedrockError: "BedrockError",
  s3TransientError: "S3TransientError",
  s3Error: "S3Error",
  stagedImageMissing: "StagedImageMissing",
} as const;

/** Bedrock errors the state machine retries, by the name it matches in `ErrorEquals`. */
export const RETRIED_BEDROCK_ERRORS = [
  "ThrottlingException",
  "ModelTimeoutException",
  "ServiceUnavailableException",
  "ModelNotReadyException",
] as const;

/** Thrown for any request the pipeline will not send to Bedrock; the state machine catches it by name. */
export class InvalidPromptError extends NamedError {
  constructor(message: string) {
    super(PIPELINE_ERRORS.invalidPrompt, message);
  }
}

/** Bedrock's content filter refused; `reason` is what Bedrock said. */
export class ContentBlockedError extends NamedError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(PIPELINE_ERRORS.contentBlocked, message, options);
  }
}

/** The model answered 200 but the body holds no usable image. */
export class MalformedResponseError extends NamedError {
  constructor(message: string) {
    super(PIPELINE_ERRORS.bedrockMalformedResponse, message);
  }
}
