import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import { errorName } from "../shared/aws-errors";
import { apiCaller } from "../shared/job-caller";
import { excerpt } from "../shared/quoted-text";
import { json } from "../start-job/api-adapter";
import { getJobStatus, type JobStatusDeps } from "./job-status";

const THROTTLING_ERRORS = new Set([
  "ThrottlingException",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
]);

/**
 * GET /jobs/{jobId}: 200 with the job, 404 for an unknown job or one another caller (API key) started, 503 with
 * Retry-After when AWS throttles the lookup.
 */
export async function handleJobStatusRequest(
  event: APIGatewayProxyEvent,
  deps: JobStatusDeps & { log?: (entry: Record<string, unknown>) => void },
): Promise<APIGatewayProxyResult> {
  const jobId = decodedPathParameter(event.pathParameters?.jobId ?? "");
  try {
    const result = await getJobStatus(jobId, deps, apiCaller(event.requestContext.identity?.apiKeyId));
    return result.found
      ? json(200, result.job, { "Cache-Control": "no-store" })
      : json(404, { message: result.message });
  } catch (error) {
    deps.log?.({
      level: "ERROR",
      message: "Job status lookup failed",
      jobId,
      error: errorName(error),
      detail: excerpt(String(error), 200),
    });
    if (THROTTLING_ERRORS.has(errorName(error))) {
      return json(
        503,
        { message: "Too many status requests right now; retry in a few seconds" },
        { "Retry-After": "2" },
      );
    }
    return json(500, {
      message: `Could not read the job's status; retry (request id ${event.requestContext.requestId})`,
    });
  }
}

/** A parameter that is not valid percent-encoding stays as it is: no jobId contains `%`, so it answers 404, not 502. */
function decodedPathParameter(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
