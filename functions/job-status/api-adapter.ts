import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import { apiCaller } from "../shared/job-caller";
import { failureAttributes, type PipelineLogger, SILENT_LOGGER } from "../shared/logger";
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
  // This invocation's logger (default: none); the adapter adds the jobId and the request id (`correlation_id`).
  deps: JobStatusDeps & { log?: PipelineLogger },
): Promise<APIGatewayProxyResult> {
  const { log = SILENT_LOGGER } = deps;
  const jobId = decodedPathParameter(event.pathParameters?.jobId ?? "");
  // A valid jobId is at most 80 characters; the path can carry kilobytes.
  log.appendKeys({ jobId: excerpt(jobId, 100), correlation_id: event.requestContext.requestId });
  try {
    const result = await getJobStatus(jobId, deps, apiCaller(event.requestContext.identity?.apiKeyId));
    // Clients poll: one line per answer only at DEBUG.
    log.debug("Job status answered", { status: result.found ? result.job.status : "not found" });
    return result.found
      ? json(200, result.job, { "Cache-Control": "no-store" })
      : json(404, { message: result.message });
  } catch (error) {
    const failure = failureAttributes(error);
    if (THROTTLING_ERRORS.has(failure.error)) {
      log.warn("Job status lookup throttled; answered 503", failure);
      return json(
        503,
        { message: "Too many status requests right now; retry in a few seconds" },
        { "Retry-After": "2" },
      );
    }
    log.error("Job status lookup failed", failure);
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
