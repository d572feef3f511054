import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import {
  MAX_REQUEST_BYTES,
  type ModelChoice,
  REQUEST_FIELDS,
  unknownFields,
  validateImageRequest,
} from "../shared/image-request";
import { isValidJobId } from "../shared/job-id";
import { InvalidPromptError } from "../shared/pipeline-errors";
import { JobConflictError, type StartJobDeps, startJob } from "./start-job";

/** Bodies above this are refused before parsing (413). */
export const MAX_BODY_BYTES = MAX_REQUEST_BYTES;

export interface ApiAdapterDeps extends StartJobDeps {
  models: ModelChoice;
  log?: (entry: Record<string, unknown>) => void;
}

/** POST /generate-image: 202 with the jobId, or a 4xx whose message says what is accepted. */
export async function handleGenerateImageRequest(
  event: APIGatewayProxyEvent,
  deps: ApiAdapterDeps,
): Promise<APIGatewayProxyResult> {
  const parsed = parseRequest(event, deps.models);
  if ("statusCode" in parsed) return parsed;
  try {
    const job = await startJob(parsed.jobId, parsed.fields, "api", deps);
    return json(
      202,
      { jobId: job.jobId, executionArn: job.executionArn, statusUrl: statusUrl(event, job.jobId) },
      {
        Location: statusPath(event, job.jobId),
        ...(job.replayed ? { "Idempotent-Replayed": "true" } : {}),
      },
    );
  } catch (error) {
    if (error instanceof JobConflictError) return json(409, { message: error.message });
    const name = error instanceof Error ? error.name : "UnknownError";
    deps.log?.({
      level: "ERROR",
      message: "StartExecution failed",
      jobId: parsed.jobId,
      error: name,
      detail: String(error),
    });
    if (name === "ThrottlingException" || name === "ExecutionLimitExceeded") {
      return json(
        503,
        { message: "The pipeline is busy; retry in a few seconds with the same Idempotency-Key" },
        { "Retry-After": "5" },
      );
    }
    return json(500, {
      message: `Could not start the job; retry with the same Idempotency-Key (request id ${event.requestContext.requestId})`,
    });
  }
}

type ParsedRequest = { jobId: string; fields: Record<string, unknown> } | APIGatewayProxyResult;

function parseRequest(event: APIGatewayProxyEvent, models: ModelChoice): ParsedRequest {
  const headers = lowerCaseHeaders(event.headers);
  const contentType = headers["content-type"] ?? "";
  if (!/^application\/json\s*(;|$)/i.test(contentType)) {
    return json(415, {
      message: `Content-Type must be application/json, got ${contentType === "" ? "none" : JSON.stringify(contentType)}`,
    });
  }
  const body =
    event.body == null ? "" : event.isBase64Encoded ? Buffer.from(event.body, "base64").toString("utf8") : event.body;
  const size = Buffer.byteLength(body, "utf8");
  if (size > MAX_BODY_BYTES) {
    return json(413, { message: `The request body is ${size} bytes; at most ${MAX_BODY_BYTES} bytes are accepted` });
  }
  if (body.trim() === "") {
    return json(400, { message: 'The request body is empty: send JSON like {"prompt": "a lighthouse at dawn"}' });
  }
  let fields: unknown;
  try {
    fields = JSON.parse(body);
  } catch (error) {
    const reason = jsonErrorReason(error);
    return json(400, { message: `The request body is not valid JSON (${reason}): send {"prompt": "..."}` });
  }
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
    return json(400, { message: 'The request body must be a JSON object like {"prompt": "a lighthouse at dawn"}' });
  }
  const record = fields as Record<string, unknown>;
  const unknown = unknownFields(record);
  if (unknown.length > 0) {
    return json(400, {
      message: `Unknown field${unknown.length > 1 ? "s" : ""} ${unknown.map((f) => JSON.stringify(f)).join(", ")}; accepted fields: ${REQUEST_FIELDS.join(", ")}`,
    });
  }
  const idempotencyKey = headers["idempotency-key"];
  if (idempotencyKey !== undefined && !isValidJobId(idempotencyKey)) {
    return json(400, { message: "Idempotency-Key must be 1 to 80 characters of A-Z, a-z, 0-9, _ and -" });
  }
  const jobId = idempotencyKey ?? event.requestContext.requestId;
  try {
    const request = validateImageRequest(record, models, jobId);
    // Forward the trimmed text; the state machine validates again and fills the defaults.
    return {
      jobId,
      fields: {
        ...record,
        prompt: request.prompt,
        ...(request.negativePrompt ? { negativePrompt: request.negativePrompt } : {}),
      },
    };
  } catch (error) {
    if (error instanceof InvalidPromptError) return json(400, { message: error.message });
    throw error;
  }
}

/** Where JSON.parse stopped, without echoing the body back (Node's messages quote a snippet of it). */
function jsonErrorReason(error: unknown): string {
  const message = error instanceof Error ? error.message : "";
  const position = /position \d+/.exec(message)?.[0];
  if (position) return `error at ${position}`;
  return message.includes('"') || message === "" ? "unexpected token" : message;
}

function lowerCaseHeaders(headers: APIGatewayProxyEvent["headers"]): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([key, value]) => [key.toLowerCase(), value]));
}

/** `/v1/jobs/{id}` on AWS (stage and base path kept), `/jobs/{id}` locally. */
function statusPath(event: APIGatewayProxyEvent, jobId: string): string {
  const requestPath = event.requestContext.path ?? event.path;
  const base = requestPath.endsWith(event.path) ? requestPath.slice(0, requestPath.length - event.path.length) : "";
  return `${base}/jobs/${jobId}`;
}

function statusUrl(event: APIGatewayProxyEvent, jobId: string): string {
  const headers = lowerCaseHeaders(event.headers);
  const protocol = headers["x-forwarded-proto"] ?? "https";
  const host = event.requestContext.domainName ?? headers.host ?? "localhost";
  return `${protocol}://${host}${statusPath(event, jobId)}`;
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  };
}
