import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import { json } from "../start-job/api-adapter";
import { getJobStatus, type JobStatusDeps } from "./job-status";

/** GET /jobs/{jobId}: 200 with the job, 404 for an unknown job. */
export async function handleJobStatusRequest(
  event: APIGatewayProxyEvent,
  deps: JobStatusDeps,
): Promise<APIGatewayProxyResult> {
  const jobId = event.pathParameters?.jobId ?? "";
  const result = await getJobStatus(decodedPathParameter(jobId), deps);
  return result.found ? json(200, result.job, { "Cache-Control": "no-store" }) : json(404, { message: result.message });
}

/** A parameter that is not valid percent-encoding stays as it is: no jobId contains `%`, so it answers 404, not 502. */
function decodedPathParameter(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
