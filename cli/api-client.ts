import type { JobStatus } from "../functions/job-status/job-status";
import type { ApiSettings } from "./config";
import { CliError, ExitCode } from "./exit-codes";
import type { ImageRequest } from "./image-request";

/** The 202 answer of POST /generate-image. */
export interface SubmittedJob {
  jobId: string;
  executionArn: string;
  statusUrl: string;
  /** The Idempotency-Key named a job already started with the same request. */
  replayed: boolean;
}

const REQUEST_TIMEOUT_MS = 30_000;

/** The couch-imagegen REST API: POST /generate-image and GET /jobs/{jobId}. */
export class JobsApi {
  constructor(private readonly settings: ApiSettings) {}

  async generate(request: ImageRequest, idempotencyKey?: string): Promise<SubmittedJob> {
    const response = await this.call("generate-image", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(idempotencyKey !== undefined ? { "idempotency-key": idempotencyKey } : {}),
      },
      body: JSON.stringify(request),
    });
    const body = (await this.readJson(response)) as Omit<SubmittedJob, "replayed">;
    return { ...body, replayed: response.headers.get("idempotent-replayed") === "true" };
  }

  /** Throws a CliError with ExitCode.NotFound for an unknown job. */
  async status(jobId: string, signal?: AbortSignal): Promise<JobStatus> {
    const response = await this.call(`jobs/${encodeURIComponent(jobId)}`, { method: "GET" }, signal);
    return (await this.readJson(response)) as JobStatus;
  }

  private async call(path: string, init: RequestInit, signal?: AbortSignal): Promise<Response> {
    const url = new URL(path, this.settings.baseUrl);
    const headers = new Headers(init.headers);
    headers.set("accept", "application/json");
    if (this.settings.apiKey) headers.set("x-api-key", this.settings.apiKey);
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    let response: Response;
    try {
      response = await fetch(url, {
        ...init,
        headers,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw unreachable(url, error, this.settings);
    }
    if (!response.ok) throw await apiError(response, this.settings);
    return response;
  }

  private async readJson(response: Response): Promise<unknown> {
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new CliError(
        `The API answered ${response.status} with a body that is not JSON: ${snippet(text)}`,
        ExitCode.Unavailable,
        { status: response.status },
      );
    }
  }
}

/** The server's own message and status, and what to change when the cause is on this side. */
async function apiError(response: Response, settings: ApiSettings): Promise<CliError> {
  const text = await response.text().catch(() => "");
  const message = serverMessage(text) ?? (response.statusText || "no message");
  const hint = hintFor(response.status, message, settings);
  const exitCode =
    response.status === 404
      ? ExitCode.NotFound
      : response.status >= 500 || response.status === 429
        ? ExitCode.Unavailable
        : ExitCode.Refused;
  const retryAfter = response.headers.get("retry-after");
  return new CliError(
    `API ${response.status}: ${message}${hint ? `\n${hint}` : ""}${retryAfter ? `\nRetry after ${retryAfter} s.` : ""}`,
    exitCode,
    { status: response.status, serverMessage: message },
  );
}

function serverMessage(text: string): string | undefined {
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === "object" && body !== null && typeof (body as { message?: unknown }).message === "string") {
      return (body as { message: string }).message;
    }
  } catch {
    // Not JSON (a proxy's HTML page, say): show the start of it.
  }
  return text.trim() === "" ? undefined : snippet(text);
}

function hintFor(status: number, message: string, settings: ApiSettings): string | undefined {
  if (status === 403 && message === "Forbidden") {
    return settings.apiKey
      ? "The API key was not accepted: check COUCHGEN_API_KEY or --api-key."
      : "This API needs an API key: set COUCHGEN_API_KEY or pass --api-key.";
  }
  if (status === 403 && message === "Missing Authentication Token") {
    return `No such route under ${settings.baseUrl.href}: the API URL (COUCHGEN_API_URL or --api-url) should end with the stage, e.g. /v1.`;
  }
  return undefined;
}

function unreachable(url: URL, error: unknown, settings: ApiSettings): CliError {
  const reason = networkReason(error);
  const hint = settings.local
    ? "Is the local stack running? Start it with: npm start"
    : "Check COUCHGEN_API_URL or --api-url, and the network.";
  return new CliError(
    `Could not reach the API at ${url.origin} (${reason}).\n${hint}`,
    ExitCode.Unavailable,
    {},
    {
      cause: error,
    },
  );
}

/** fetch() hides the socket error in `cause`; a timeout is a DOMException named TimeoutError. */
export function networkReason(error: unknown): string {
  if (error instanceof Error && error.name === "TimeoutError") return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
