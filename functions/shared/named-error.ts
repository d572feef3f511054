/**
 * An error whose `name` is what Step Functions matches in Retry/Catch `ErrorEquals`
 * (the Lambda runtime reports `name` as the errorType).
 */
export class NamedError extends Error {
  constructor(name: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}
