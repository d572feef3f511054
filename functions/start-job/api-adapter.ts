import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import {
  MAX_NESTING_DEPTH,
  MAX_REQUEST_BYTES,
  type ModelChoice,
  REQUEST_FIELDS,
  tooDeeplyNested,
  unknownFields,
  validateImageRequest,
} from "../shared/image-request";
import { apiCaller, type JobCaller, jobIdForKey } from "../shared/job-caller";
import { isValidJobId } from "../shared/job-id";
import { jsonTextDepth } from "../shared/json-depth";
import { failureAttributes, type PipelineLogger, SILENT_LOGGER } from "../shared/logger";
import { NO_METRICS, type PipelineMetrics } from "../shared/metrics";
import { InvalidPromptError } from "../shared/pipeline-errors";
import { quote } from "../shared/quoted-text";
import { JobConflictError, type StartJobDeps, startJob } from "./start-job";

/** Bodies above this are refused before parsing (413). */
export const MAX_BODY_BYTES = MAX_REQUEST_BYTES;

export interface ApiAdapterDeps extends StartJobDeps {
  models: ModelChoice;
  /**
   * This invocation's logger; the adapter adds the request id (`correlation_id`), `source` and the jobId.
   * @default SILENT_LOGGER
   */
  log?: PipelineLogger;
  /** @default NO_METRICS */
  metrics?: PipelineMetrics;
}

/** StartExecution failures answered 503 with Retry-After: the caller's retry is the remedy. */
const BUSY_ERRORS = new Set(["ThrottlingException", "ExecutionLimitExceeded"]);

/** POST /generate-image: 202 with the jobId, or a 4xx whose message says what is accepted. */
export async function handleGenerateImageRequest(
  event: APIGatewayProxyEvent,
  deps: ApiAdapterDeps,
): Promise<APIGatewayProxyResult> {
  const { log = SILENT_LOGGER, metrics = NO_METRICS } = deps;
  log.appendKeys({ correlation_id: event.requestContext.requestId, source: "api" });
  const caller = apiCaller(event.requestContext.identity?.apiKeyId);
  const parsed = parseRequest(event, deps.models, caller);
  if ("statusCode" in parsed) {
    // The answer's message quotes the request only in short excerpts; the body itself is never logged.
    log.info("Request rejected", { status: parsed.statusCode, reason: messageOf(parsed) });
    metrics.record("rejections", 1, { Source: "api" });
    return parsed;
  }
  log.appendKeys({ jobId: parsed.jobId });
  try {
    const job = await startJob(parsed.jobId, parsed.fields, "api", deps, { caller });
    log.info(job.replayed ? "Job replayed: the Idempotency-Key's job already exists" : "Job started", {
      executionArn: job.executionArn,
    });
    const url = statusUrl(event, job.jobId);
    return json(
      202,
      { jobId: job.jobId, executionArn: job.executionArn, ...(url ? { statusUrl: url } : {}) },
      {
        Location: statusPath(event, job.jobId),
        ...(job.replayed ? { "Idempotent-Replayed": "true" } : {}),
      },
    );
  } catch (error) {
    if (error instanceof JobConflictError) {
      log.info("Request conflicts with the Idempotency-Key's job", { status: 409 });
      return json(409, { message: error.message });
    }
    const failure = failureAttributes(error);
    if (BUSY_ERRORS.has(failure.error)) {
      log.warn("StartExecution throttled; answered 503", failure);
      return json(
        503,
        { message: "The pipeline is busy; retry in a few seconds with the same Idempotency-Key" },
        { "Retry-After": "5" },
      );
    }
    log.error("StartExecution failed", failure);
    return json(500, {
      message: `Could not start the job; retry with the same Idempotency-Key (request id ${event.requestContext.requestId})`,
    });
  }
}

type ParsedRequest = { jobId: string; fields: Record<string, unknown> } | APIGatewayProxyResult;

/** The message of an answer `json()` built. */
function messageOf(result: APIGatewayProxyResult): unknown {
  return (JSON.parse(result.body) as { message?: unknown }).message;
}

const EXAMPLE_REQUEST = '{"prompt": "a lighthouse at dawn"}';

// Unknown field names quoted in a 400, at most: a body can hold thousands.
const MAX_NAMED_FIELDS = 5;

function parseRequest(event: APIGatewayProxyEvent, models: ModelChoice, caller: JobCaller): ParsedRequest {
  const headers = lowerCaseHeaders(event.headers);
  const body = readJsonText(event, headers["content-type"] ?? "");
  if (typeof body !== "string") return body;
  let fields: unknown;
  try {
    fields = JSON.parse(body);
  } catch (error) {
    const reason = jsonErrorReason(error);
    return json(400, { message: `The request body is not valid JSON (${reason}): send {"prompt": "..."}` });
  }
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
    return json(400, { message: `The request body must be a JSON object like ${EXAMPLE_REQUEST}` });
  }
  const record = fields as Record<string, unknown>;
  const unknown = unknownFields(record);
  if (unknown.length > 0) {
    const named = unknown.slice(0, MAX_NAMED_FIELDS).map(quote).join(", ");
    const more = unknown.length > MAX_NAMED_FIELDS ? ` and ${unknown.length - MAX_NAMED_FIELDS} more` : "";
    return json(400, {
      message: `Unknown field${unknown.length > 1 ? "s" : ""} ${named}${more}; accepted fields: ${REQUEST_FIELDS.join(", ")}`,
    });
  }
  const idempotencyKey = headers["idempotency-key"];
  if (idempotencyKey !== undefined && !isValidJobId(idempotencyKey)) {
    return json(400, { message: "Idempotency-Key must be 1 to 80 characters of A-Z, a-z, 0-9, _ and -" });
  }
  const jobId = idempotencyKey === undefined ? event.requestContext.requestId : jobIdForKey(idempotencyKey, caller);
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

/**
 * The body as JSON text, or the answer refusing it: not declared JSON or not UTF-8 (415), too big (413), not UTF-8
 * bytes, empty, or nested too deep (400). Checked in that order, before anything parses or serialises the body.
 */
function readJsonText(event: APIGatewayProxyEvent, contentType: string): string | APIGatewayProxyResult {
  if (!/^application\/json\s*(;|$)/i.test(contentType)) {
    return json(415, {
      message: `Content-Type must be application/json, got ${contentType === "" ? "none" : quote(contentType)}`,
    });
  }
  const charset = charsetOf(contentType);
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    return json(415, {
      message: `Content-Type charset must be utf-8, got ${quote(charset)}: send the body as UTF-8 (charset=utf-8, or no charset)`,
    });
  }
  const bytes = bodyBytes(event);
  if (bytes.length > MAX_BODY_BYTES) {
    return json(413, {
      message: `The request body is ${bytes.length} bytes; at most ${MAX_BODY_BYTES} bytes are accepted`,
    });
  }
  const body = decodeUtf8(bytes, event.isBase64Encoded);
  if (body === undefined) {
    return json(400, { message: "The request body is not valid UTF-8: send the JSON encoded as UTF-8" });
  }
  if (body.trim() === "") {
    return json(400, { message: `The request body is empty: send JSON like ${EXAMPLE_REQUEST}` });
  }
  // JSON.parse would read any depth, but the messages, logs and StartExecution serialise what it parsed, recursively.
  const depth = jsonTextDepth(body);
  if (depth > MAX_NESTING_DEPTH) {
    return json(400, {
      message: tooDeeplyNested("The request body", depth, `a flat JSON object like ${EXAMPLE_REQUEST}`),
    });
  }
  return body;
}

/** The charset parameter of a Content-Type, unquoted; undefined when there is none. */
function charsetOf(contentType: string): string | undefined {
  const value = /;\s*charset\s*=\s*("[^"]*"|[^;\s]*)/i.exec(contentType)?.[1];
  return value?.replace(/^"(.*)"$/, "$1");
}

/** The body as the caller's bytes: API Gateway passes them base64 for a binary media type, as UTF-8 text otherwise. */
function bodyBytes(event: APIGatewayProxyEvent): Buffer {
  if (event.body == null) return Buffer.alloc(0);
  return Buffer.from(event.body, event.isBase64Encoded ? "base64" : "utf8");
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The body's text, without a leading byte-order mark; undefined when the bytes are not UTF-8. */
function decodeUtf8(bytes: Buffer, fromBytes: boolean): string | undefined {
  // Text API Gateway already decoded round-trips through UTF-8 unchanged: only raw bytes can fail here.
  if (!fromBytes) return bytes.toString("utf8").replace(/^\uFEFF/, "");
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    return undefined;
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

/**
 * The status URL on the API's own domain, as API Gateway names it (the local API names its listen address). Never
 * the Host header, which the caller writes; with no domain name there is no URL, and the relative Location stands.
 */
function statusUrl(event: APIGatewayProxyEvent, jobId: string): string | undefined {
  const domain = event.requestContext.domainName;
  if (!domain) return undefined;
  const protocol = lowerCaseHeaders(event.headers)["x-forwarded-proto"] === "http" ? "http" : "https";
  return `${protocol}://${domain}${statusPath(event, jobId)}`;
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  };
}
