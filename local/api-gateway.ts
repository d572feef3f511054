import { createHash, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import { type LoopbackServer, listenOnLoopback, readBody } from "./http-server";

export type ProxyHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

export interface LocalApiRoute {
  method: string;
  /** API Gateway resource path, e.g. `/jobs/{jobId}`. */
  resource: string;
  handler: ProxyHandler;
}

export interface LocalApiOptions {
  routes: LocalApiRoute[];
  port: number;
  /**
   * When set, requests need it (or one of them) in `x-api-key`, as with API keys in a usage plan on AWS; the handler
   * sees the key's id in `requestContext.identity.apiKeyId`.
   */
  apiKey?: string | readonly string[];
  log?: (entry: Record<string, unknown>) => void;
}

// API Gateway's REST payload limit.
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

/**
 * The REST API as API Gateway's Lambda proxy integration presents it: each HTTP request becomes an
 * APIGatewayProxyEvent for the real handler, and its result becomes the HTTP response. API Gateway's own
 * answers are kept: 403 "Missing Authentication Token" for an unknown route, 403 "Forbidden" without the
 * API key, 413 over 10 MB, 502 when the handler throws. The event names the API's own address as
 * `requestContext.domainName` (never the request's Host header), and carries the body as the bytes sent, base64
 * encoded, as API Gateway does for a binary media type: the handler, not the gateway, decides what is UTF-8.
 */
export async function startLocalApi(options: LocalApiOptions): Promise<LoopbackServer> {
  const matchers = options.routes.map((route) => ({ route, pattern: routePattern(route.resource) }));
  return listenOnLoopback((request, response) => serve(request, response, matchers, options), options.port);
}

async function serve(
  request: IncomingMessage,
  response: ServerResponse,
  matchers: { route: LocalApiRoute; pattern: RegExp }[],
  options: LocalApiOptions,
): Promise<void> {
  const started = Date.now();
  const requestId = randomUUID();
  const url = new URL(request.url ?? "/", "http://127.0.0.1");
  const send = (result: APIGatewayProxyResult) => {
    response.writeHead(result.statusCode, { ...stringHeaders(result.headers), "x-amzn-RequestId": requestId });
    response.end(result.isBase64Encoded ? Buffer.from(result.body, "base64") : result.body);
    options.log?.({
      requestId,
      method: request.method,
      path: url.pathname,
      status: result.statusCode,
      ms: Date.now() - started,
    });
  };
  const match = matchers
    .filter(({ route }) => route.method === request.method)
    .map(({ route, pattern }) => ({ route, found: pattern.exec(url.pathname) }))
    .find(({ found }) => found !== null);
  if (!match?.found) {
    send(gatewayError(403, "Missing Authentication Token"));
    return;
  }
  const apiKey = request.headers["x-api-key"];
  const apiKeys = options.apiKey === undefined ? undefined : [options.apiKey].flat();
  if (apiKeys !== undefined && (typeof apiKey !== "string" || !apiKeys.includes(apiKey))) {
    send(gatewayError(403, "Forbidden"));
    return;
  }
  const { body, tooLarge } = await readBody(request, MAX_PAYLOAD_BYTES);
  if (tooLarge) {
    send(gatewayError(413, "Request Too Long"));
    return;
  }
  const event = proxyEvent(request, url, match.route, { ...match.found.groups }, body, requestId);
  if (apiKeys !== undefined && typeof apiKey === "string") {
    event.requestContext.identity = { ...event.requestContext.identity, apiKey, apiKeyId: localApiKeyId(apiKey) };
  }
  try {
    send(await match.route.handler(event));
  } catch (error) {
    options.log?.({ requestId, level: "ERROR", message: "Lambda handler threw", error: String(error) });
    send(gatewayError(502, "Internal server error"));
  }
}

function proxyEvent(
  request: IncomingMessage,
  url: URL,
  route: LocalApiRoute,
  pathParameters: Record<string, string>,
  body: Buffer,
  requestId: string,
): APIGatewayProxyEvent {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i] ?? "";
    const value = request.rawHeaders[i + 1] ?? "";
    headers[name] = value;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  }
  headers["X-Forwarded-Proto"] = "http";
  const query = [...url.searchParams.keys()];
  // The address this server listens on, as API Gateway names its own domain: the Host header is the caller's to write.
  const ownAddress = `${request.socket.localAddress ?? "127.0.0.1"}:${request.socket.localPort}`;
  return {
    resource: route.resource,
    path: url.pathname,
    httpMethod: request.method ?? "GET",
    headers,
    multiValueHeaders,
    queryStringParameters: query.length ? Object.fromEntries(url.searchParams) : null,
    multiValueQueryStringParameters: query.length
      ? Object.fromEntries(query.map((key) => [key, url.searchParams.getAll(key)]))
      : null,
    pathParameters: Object.keys(pathParameters).length ? pathParameters : null,
    stageVariables: null,
    body: body.length ? body.toString("base64") : null,
    isBase64Encoded: body.length > 0,
    requestContext: {
      accountId: "123456789012",
      apiId: "local",
      authorizer: undefined,
      domainName: ownAddress,
      httpMethod: request.method ?? "GET",
      identity: {
        sourceIp: request.socket.remoteAddress ?? "127.0.0.1",
        userAgent: request.headers["user-agent"] ?? null,
      } as never,
      path: url.pathname,
      protocol: `HTTP/${request.httpVersion}`,
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: "local",
      resourcePath: route.resource,
      stage: "local",
    },
  };
}

/** A stable stand-in for the id API Gateway gives an API key (never the key itself, which the event also carries). */
export function localApiKeyId(apiKey: string): string {
  return `local${createHash("sha256").update(apiKey).digest("hex").slice(0, 10)}`;
}

/** `/jobs/{jobId}` → a pattern with a named group per path parameter (one path segment each). */
function routePattern(resource: string): RegExp {
  const source = resource
    .split("/")
    .map((segment) => {
      const parameter = /^\{(\w+)\}$/.exec(segment)?.[1];
      return parameter ? `(?<${parameter}>[^/]+)` : segment.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return new RegExp(`^${source}/?$`);
}

function gatewayError(statusCode: number, message: string): APIGatewayProxyResult {
  return { statusCode, headers: { "Content-Type": "application/json" }, body: JSON.stringify({ message }) };
}

function stringHeaders(headers: APIGatewayProxyResult["headers"]): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([key, value]) => [key, String(value)]));
}
