import type { JobCaller } from "./job-caller";

/**
 * What the pipeline itself adds to an execution input, under its own key `pipeline`. start-job sets it from what it
 * knows, never from a request body (whose fields it copies by name, REQUEST_FIELDS only); the state machine writes
 * `pipeline.caller` to the status record; ValidatePrompt and job-status trust these facts here and nowhere else.
 */
export const PIPELINE_KEY = "pipeline";

export interface PipelineFacts {
  /** Who started the job. A direct StartExecution must set it too: every status write reads `$.pipeline.caller`. */
  readonly caller: JobCaller;
  /** An SQS body over MAX_REQUEST_BYTES, started with only its size: ValidatePrompt rejects it. */
  readonly oversizedBodyBytes?: number;
  /** An SQS body nested deeper than MAX_NESTING_DEPTH, started with only its depth: ValidatePrompt rejects it. */
  readonly bodyNestingDepth?: number;
  /**
   * Request fields an SQS body set to a number JSON cannot carry (1e309 parses as Infinity, which the execution
   * input would serialise as null): ValidatePrompt judges them as the number too large they were.
   */
  readonly numbersTooLarge?: readonly string[];
}

/** The well-formed facts of an execution input; absent or mistyped ones are left out. */
export function pipelineFactsOf(input: unknown): Partial<PipelineFacts> {
  const facts = (input as Record<string, unknown> | null | undefined)?.[PIPELINE_KEY];
  if (typeof facts !== "object" || facts === null) return {};
  const { caller, oversizedBodyBytes, bodyNestingDepth, numbersTooLarge } = facts as Record<string, unknown>;
  return {
    ...(typeof caller === "string" ? { caller } : {}),
    ...(typeof oversizedBodyBytes === "number" ? { oversizedBodyBytes } : {}),
    ...(typeof bodyNestingDepth === "number" ? { bodyNestingDepth } : {}),
    ...(Array.isArray(numbersTooLarge)
      ? { numbersTooLarge: numbersTooLarge.filter((field): field is string => typeof field === "string") }
      : {}),
  };
}
