import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../emulators";
import { type LoopbackServer, listenOnLoopback, readBody } from "../http-server";
import { PortInUseError } from "../start-refusals";
import { type ConsoleAlerts, startConsoleAlerts } from "./alerts";
import { consoleAssets } from "./assets";
import { ConsoleApi, type ConsoleApiOptions, ConsoleRequestError, errorText } from "./console-api";
import { ExecutionIndex } from "./execution-index";

export interface LocalConsoleOptions extends ConsoleApiOptions {
  /** On 127.0.0.1; 0 picks a free port. */
  port: number;
  /** When `port` is taken, listen on a free one and say so, rather than refuse (the default port was not asked for). */
  fallbackToFreePort?: boolean;
  /** The SQS emulator, where the console's alerts queue lives. */
  sqsUrl: string;
  snsUrl: string;
  alertsTopicArn: string;
  deliverToQueue: (topicArn: string, queueUrl: string) => Promise<void>;
  /** Where the console keeps what it read (the inputs' facts, the alerts) between runs; none: in memory. */
  directory?: string;
  log?: (entry: Record<string, unknown>) => void;
}

export interface LocalConsole {
  url: string;
  port: number;
  index: ExecutionIndex;
  alerts: ConsoleAlerts;
  close: () => Promise<void>;
}

// Everything from this origin; images from it too (the server reads S3 for the page). The graph's SVG carries classes.
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const MAX_FORM_BYTES = 128 * 1024;

/**
 * The local console: a page and its JSON API on 127.0.0.1, reading only the stack's own APIs (console-api.ts). It
 * answers only requests addressed to its own host (no DNS rebinding) and takes actions only as same-origin JSON posts.
 */
export async function startLocalConsole(options: LocalConsoleOptions): Promise<LocalConsole> {
  const clientConfig = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const api = new ConsoleApi(options);
  const sqs = new SQSClient({ ...clientConfig, endpoint: options.sqsUrl });
  const sns = new SNSClient({ ...clientConfig, endpoint: options.snsUrl });
  const destroyClients = () => {
    api.destroy();
    sqs.destroy();
    sns.destroy();
  };
  let alerts: ConsoleAlerts | undefined;
  let index: ExecutionIndex | undefined;
  try {
    alerts = await startConsoleAlerts({
      sqs,
      sns,
      topicArn: options.alertsTopicArn,
      deliverToQueue: options.deliverToQueue,
      file: options.directory && join(options.directory, "alerts.jsonl"),
      log: options.log,
    });
    index = new ExecutionIndex({
      source: api.indexSource(),
      defaultModelId: options.defaultModelId,
      file: options.directory && join(options.directory, "execution-facts.jsonl"),
    });
    // The page's script is bundled at its first request, not here: every local stack (each e2e file, each benchmark
    // scenario) starts a console, and most never open it.
    const assets = consoleAssets();
    const routes = consoleRoutes({ api, index, alerts, assets });
    let origins: string[] = [];
    const handler = async (request: IncomingMessage, response: ServerResponse) => {
      if (!origins.includes(`http://${request.headers.host ?? ""}`)) {
        return send(
          response,
          421,
          json({
            error: "MisdirectedRequest",
            message: `Open the console at ${origins[0]} (or localhost on the same port): other host names are refused`,
          }),
        );
      }
      const origin = request.headers.origin;
      if (request.method !== "GET" && request.method !== "HEAD" && origin !== undefined && !origins.includes(origin)) {
        return send(
          response,
          403,
          json({ error: "Forbidden", message: `Actions are taken only from the console's own page, ${origins[0]}` }),
        );
      }
      await routes(request, response);
    };
    const server = await listenForConsole(handler, options);
    origins = [`http://127.0.0.1:${server.port}`, `http://localhost:${server.port}`];
    const opened = { alerts, index };
    return {
      url: server.url,
      port: server.port,
      index,
      alerts,
      close: async () => {
        opened.alerts.close();
        opened.index.close();
        await server.close();
        destroyClients();
      },
    };
  } catch (error) {
    alerts?.close();
    index?.close();
    destroyClients();
    throw error;
  }
}

/** The console's port: refused when taken and asked for; a free one, said in a WARN line, when only the default. */
export async function listenForConsole(
  handler: (request: IncomingMessage, response: ServerResponse) => Promise<void>,
  options: Pick<LocalConsoleOptions, "port" | "fallbackToFreePort" | "log">,
): Promise<LoopbackServer> {
  try {
    return await listenOnLoopback(handler, options.port);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    if (!options.fallbackToFreePort) {
      throw new PortInUseError(
        `Port ${options.port} (console) is in use on 127.0.0.1: stop what holds it, or choose another port with --console-port`,
      );
    }
    const server = await listenOnLoopback(handler, 0);
    options.log?.({
      level: "WARN",
      message: `Console: port ${options.port} is in use, so the console listens on ${server.url} (--console-port fixes one)`,
    });
    return server;
  }
}

interface Answer {
  type: string;
  body: string | Uint8Array;
  cache?: string;
}

function consoleRoutes(deps: {
  api: ConsoleApi;
  index: ExecutionIndex;
  alerts: ConsoleAlerts;
  assets: ReturnType<typeof consoleAssets>;
}) {
  const { api, index, alerts, assets } = deps;
  const executionRoute = /^\/api\/executions\/([^/]+)(?:\/(image|stop|redrive))?$/;
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? "/", "http://console");
    const method = request.method ?? "GET";
    try {
      if (method === "GET" && url.pathname === "/assets/console.js") {
        return send(response, 200, {
          type: "text/javascript; charset=utf-8",
          body: await assets.script(),
          cache: "no-cache",
        });
      }
      if (method === "GET" && url.pathname === "/assets/console.css") {
        return send(response, 200, { type: "text/css; charset=utf-8", body: assets.stylesheet(), cache: "no-cache" });
      }
      if (method === "GET" && url.pathname === "/api/config") return send(response, 200, json(api.config()));
      if (method === "GET" && url.pathname === "/favicon.ico")
        return send(response, 204, { type: "image/x-icon", body: "" });
      if (method === "GET" && url.pathname === "/api/executions") {
        const page = await index.page({
          status: url.searchParams.get("status") || undefined,
          search: url.searchParams.get("q") || undefined,
          page: Number(url.searchParams.get("page") ?? 1) || 1,
          pageSize: Number(url.searchParams.get("pageSize") ?? 0) || undefined,
        });
        return send(response, 200, json(page));
      }
      if (method === "GET" && url.pathname === "/api/alerts") {
        await alerts.drain();
        return send(response, 200, json({ alerts: alerts.list() }));
      }
      if (method === "POST" && url.pathname === "/api/jobs") {
        const started = await api.startJob(await jsonBody(request));
        if (started.status === 202 && typeof started.body.jobId === "string")
          index.changed(api.executionArn(started.body.jobId));
        return send(response, 200, json(started));
      }
      const execution = executionRoute.exec(url.pathname);
      if (execution) {
        const name = decodeURIComponent(execution[1] ?? "");
        const action = execution[2];
        if (method === "GET" && action === undefined) return send(response, 200, json(await api.detail(name)));
        if (method === "GET" && action === "image") {
          const image = await api.image(name);
          return send(response, 200, { type: image.contentType, body: image.bytes, cache: "private, max-age=60" });
        }
        if (method === "POST" && (action === "stop" || action === "redrive")) {
          await jsonBody(request);
          await (action === "stop" ? api.stop(name) : api.redrive(name));
          index.changed(api.executionArn(name));
          return send(response, 200, json({ ok: true }));
        }
      }
      if (method === "GET" && !url.pathname.startsWith("/api/") && !url.pathname.startsWith("/assets/")) {
        // Every page of the console is this one document; its script draws the page the path names.
        return send(response, 200, { type: "text/html; charset=utf-8", body: assets.html(), cache: "no-cache" });
      }
      return send(
        response,
        404,
        json({
          error: "NotFound",
          message: `No ${method} ${url.pathname} here: the console serves its pages, /assets/ and /api/`,
        }),
      );
    } catch (error) {
      return send(response, ...failure(error));
    }
  };
}

/** An action's body: JSON, sent by the page's script (a form on another site cannot send this content type). */
async function jsonBody(request: IncomingMessage): Promise<unknown> {
  if (!String(request.headers["content-type"] ?? "").startsWith("application/json")) {
    throw new ConsoleRequestError(415, "UnsupportedMediaType", "Send the action as application/json");
  }
  const { body, tooLarge } = await readBody(request, MAX_FORM_BYTES);
  if (tooLarge)
    throw new ConsoleRequestError(413, "TooLarge", `A request to the console is at most ${MAX_FORM_BYTES} bytes`);
  try {
    return body.length === 0 ? {} : JSON.parse(body.toString("utf8"));
  } catch {
    throw new ConsoleRequestError(400, "InvalidJson", "The request body is not JSON: send a JSON object");
  }
}

/** A Step Functions or S3 refusal is the page's to show (4xx); anything else is the console's own failure (502). */
function failure(error: unknown): [number, Answer] {
  if (error instanceof ConsoleRequestError)
    return [error.status, json({ error: error.errorName, message: error.message })];
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const name = error instanceof Error ? error.name : "Error";
  const message = error instanceof Error ? error.message : String(error);
  // Step Functions answers an unknown execution with HTTP 400; for the page it is a 404.
  if (name === "ExecutionDoesNotExist") return [404, json({ error: name, message })];
  if (status !== undefined && status >= 400 && status < 500)
    return [status === 404 ? 404 : 400, json({ error: name, message })];
  return [502, json({ error: name, message: errorText(error) })];
}

function json(payload: unknown): Answer {
  return { type: "application/json; charset=utf-8", body: JSON.stringify(payload), cache: "no-store" };
}

function send(response: ServerResponse, status: number, answer: Answer): void {
  const { type, body, cache } = answer;
  response.writeHead(status, {
    "Content-Type": type,
    "Cache-Control": cache ?? "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
  });
  response.end(body);
}
