/** The HTTP status an AWS SDK v3 error carries, when it came from a response. */
export function httpStatusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

const NETWORK_ERROR_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN"]);

/** A failure with no service answer (socket errors, client timeouts): worth another try. */
export function isNetworkFailure(error: unknown): boolean {
  const name = error instanceof Error ? error.name : "";
  const code = (error as { code?: string } | null)?.code ?? "";
  return name === "TimeoutError" || name === "AbortError" || NETWORK_ERROR_CODES.has(code);
}

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : "UnknownError";
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** S3's answer for a key with no object: NoSuchKey (GetObject, CopyObject's source) or NotFound (HeadObject). */
export function isMissingObject(error: unknown): boolean {
  const name = errorName(error);
  return name === "NoSuchKey" || name === "NotFound";
}
