/** couchgen's exit codes (docs/CLI.md lists them): scripts can tell "fix the input" from "retry later". */
export const ExitCode = {
  /** The command did what was asked (for wait: the job SUCCEEDED). */
  Ok: 0,
  /** A bug in couchgen: --debug shows the stack trace. */
  Unexpected: 1,
  /** Bad arguments or flags, a missing or invalid setting, an --out path that cannot be written. */
  Usage: 2,
  /** The API, SQS or Bedrock refused the request (4xx other than 404): resending it unchanged will not help. */
  Refused: 3,
  /** No such job (404). */
  NotFound: 4,
  /** The job ended FAILED (Bedrock or storage failed after the retries). */
  JobFailed: 5,
  /** The job ended REJECTED (its prompt or options are invalid). */
  JobRejected: 6,
  /** --timeout passed before the job ended; the job goes on. */
  TimedOut: 7,
  /** The API, SQS, S3 or Bedrock could not be reached or answered 5xx/429: retrying later may help. */
  Unavailable: 8,
  /** `models --check`: a model is past its end of life, not found in the region, or unknown to couchgen. */
  ModelUnusable: 9,
  /** Ctrl-C while waiting; the job goes on. */
  Interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error a user can cause or fix: printed as one message (no stack trace unless --debug), then exit with its code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    /** Extra machine-readable facts for --json (the HTTP status, the last job state seen). */
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CliError";
  }
}

export function usageError(message: string): CliError {
  return new CliError(message, ExitCode.Usage);
}
