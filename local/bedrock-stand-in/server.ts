import { randomUUID } from "node:crypto";
import { createServer as createHttp1Server, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import { createServer as createHttp2Server } from "node:http2";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { BedrockErrorResponse, internalServerError } from "./bedrock-errors";
import { DEFAULT_FAULTS, type FaultSettings, mergeFaults, RequestRateWindow } from "./faults";
import { getFoundationModel, getFoundationModelAvailability, signedRegion } from "./foundation-models";
import { type BedrockStandInStats, emptyStats, invokeModel, MAX_BODY_BYTES } from "./invoke-model";
import { ModelLifecycleTable, type StandInLifecycleStatus } from "./model-lifecycle";

export type { BedrockStandInStats } from "./invoke-model";
export type { StandInLifecycleStatus } from "./model-lifecycle";

export interface BedrockStandInOptions extends Partial<FaultSettings> {
  /** Port on 127.0.0.1. @default 0 (a free port) */
  readonly port?: number;
  /**
   * Lifecycle per model id (a profile id sets its foundation model); an EOL model is refused with
   * ResourceNotFoundException. Change it at runtime with `setModelLifecycle`.
   * @default each catalog model's `lifecycle.status` (legacy models are still served, as to accounts with access)
   */
  readonly modelLifecycle?: Readonly<Record<string, StandInLifecycleStatus>>;
  /** Source of fault, jitter and random-seed draws; pass `seededRandom(n)` to replay them. @default Math.random */
  readonly random?: () => number;
  /** Millisecond clock of the rate window; tests pass a fake one to move time without waiting. @default performance.now */
  readonly now?: () => number;
  /** Where log lines go, each marked as the stand-in's. @default console.log */
  readonly log?: (line: string) => void;
}

export interface BedrockStandIn {
  /** `http://127.0.0.1:<port>`: the `endpoint` for `BedrockRuntimeClient` and `BedrockClient`. */
  readonly url: string;
  readonly port: number;
  /** A snapshot of the counters. */
  readonly stats: BedrockStandInStats;
  /** The fault settings in force. */
  readonly faults: FaultSettings;
  /** Each catalog model's lifecycle as served now, by foundation model id. */
  readonly modelLifecycle: Readonly<Record<string, StandInLifecycleStatus>>;
  /** Changes some fault settings at runtime; the others keep their values. Throws for an invalid value. */
  setFaults(changes: Partial<FaultSettings>): void;
  /** Sets one model's lifecycle at runtime (a profile id sets its foundation model). Throws for an unknown model. */
  setModelLifecycle(modelId: string, status: StandInLifecycleStatus): void;
  /** Zeroes the counters (peak concurrency restarts from the current concurrency). */
  resetStats(): void;
  /** Stops listening, ends open connections and requests in progress, and frees the port. */
  close(): Promise<void>;
}

/** Marks every log line: nothing this server returns comes from a model. */
export const LOG_PREFIX = "[bedrock stand-in, not a real model]";
export const STAND_IN_HEADER = "x-couch-imagegen-stand-in";
/** Names the setting behind an injected fault (e.g. `throttleRate`), to tell it from a real refusal in logs. */
export const FAULT_HEADER = "x-couch-imagegen-stand-in-fault";

const INVOKE_PATH = /^\/model\/([^/]+)\/invoke$/;
const FOUNDATION_MODEL_PATH = /^\/foundation-models\/([^/]+)$/;
const AVAILABILITY_PATH = /^\/foundation-model-availability\/([^/]+)$/;
const SERVED_OPERATIONS =
  "InvokeModel (POST /model/{modelId}/invoke), GetFoundationModel (GET /foundation-models/{modelIdentifier}) " +
  "and GetFoundationModelAvailability (GET /foundation-model-availability/{modelId})";
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

// The parts of node:http and node:http2 (compatibility API) requests and responses the handler uses.
interface StandInRequest extends AsyncIterable<Buffer> {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}
interface StandInResponse {
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  end(body: string): unknown;
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
}

/**
 * Starts a local stand-in for Amazon Bedrock: Runtime's InvokeModel for every model in the catalog (each family's
 * body, answer and content filter; deterministic placeholder PNGs or JPEGs of the size the real model returns) and
 * the control plane's GetFoundationModel and GetFoundationModelAvailability, with Bedrock's error shapes, a settable
 * model lifecycle and settable latency, throttling and failures. It speaks HTTP/1.1 and cleartext HTTP/2 on one
 * port, so the SDK clients' default handlers work unchanged.
 */
export async function startBedrockStandIn(options: BedrockStandInOptions = {}): Promise<BedrockStandIn> {
  const { port: requestedPort = 0, random = Math.random, now = () => performance.now(), log = console.log } = options;
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65_535) {
    throw new Error(`port must be an integer from 0 to 65535 (0 picks a free port), got ${requestedPort}`);
  }
  let faults = mergeFaults(DEFAULT_FAULTS, options);
  const lifecycle = new ModelLifecycleTable(options.modelLifecycle);
  let stats = emptyStats(0);
  const rateWindow = new RequestRateWindow(now);
  const closing = new AbortController();
  const sockets = new Set<Socket>();
  const invokeDependencies = {
    faults: () => faults,
    stats: () => stats,
    lifecycle,
    random,
    rateWindow,
    signal: closing.signal,
  };

  async function handle(request: StandInRequest, response: StandInResponse): Promise<void> {
    const started = performance.now();
    const requestId = randomUUID();
    const path = new URL(request.url ?? "/", "http://stand-in").pathname;
    const invoke = request.method === "POST" ? INVOKE_PATH.exec(path) : null;
    if (invoke) {
      await handleInvokeModel(safeDecode(invoke[1] ?? ""), request, response, requestId, started);
      return;
    }
    await drain(request);
    const model = request.method === "GET" ? FOUNDATION_MODEL_PATH.exec(path) : null;
    if (model) {
      const identifier = safeDecode(model[1] ?? "");
      answerControlPlane(response, requestId, `GetFoundationModel ${identifier}`, () =>
        getFoundationModel(identifier, lifecycle, signedRegion(request.headers)),
      );
      return;
    }
    const availability = request.method === "GET" ? AVAILABILITY_PATH.exec(path) : null;
    if (availability) {
      const modelId = safeDecode(availability[1] ?? "");
      answerControlPlane(response, requestId, `GetFoundationModelAvailability ${modelId}`, () =>
        getFoundationModelAvailability(modelId, lifecycle),
      );
      return;
    }
    const error = new BedrockErrorResponse(
      404,
      "UnknownOperationException",
      `The stand-in serves only ${SERVED_OPERATIONS}, not ${request.method} ${path}`,
    );
    send(response, requestId, error);
    log(`${LOG_PREFIX} 404 UnknownOperationException ${request.method} ${path}`);
  }

  async function handleInvokeModel(
    modelId: string,
    request: StandInRequest,
    response: StandInResponse,
    requestId: string,
    started: number,
  ): Promise<void> {
    stats.requests++;
    stats.concurrency++;
    stats.peakConcurrency = Math.max(stats.peakConcurrency, stats.concurrency);
    try {
      const body = await readBody(request);
      const answer = await invokeModel(modelId, body, invokeDependencies);
      const elapsed = Math.round(performance.now() - started);
      send(response, requestId, answer.body, {
        "x-amzn-bedrock-invocation-latency": String(elapsed),
        ...(answer.injectedBy ? { [FAULT_HEADER]: answer.injectedBy } : {}),
      });
      const injected = answer.injectedBy ? ` (injected: ${answer.injectedBy})` : "";
      log(`${LOG_PREFIX} 200 InvokeModel ${answer.summary}${injected} ${elapsed}ms`);
    } catch (error) {
      if (!closing.signal.aborted) refuse(response, requestId, error, `InvokeModel ${modelId}`);
    } finally {
      stats.concurrency--;
    }
  }

  /** A control-plane read: no faults, no quota, not counted in `stats` (which counts InvokeModel). */
  function answerControlPlane(response: StandInResponse, requestId: string, what: string, read: () => object): void {
    try {
      send(response, requestId, read());
      log(`${LOG_PREFIX} 200 ${what}`);
    } catch (error) {
      refuse(response, requestId, error, what);
    }
  }

  /** Sends a refusal as Bedrock would (any other error as InternalServerException) and logs it. */
  function refuse(response: StandInResponse, requestId: string, error: unknown, what: string): void {
    if (!(error instanceof BedrockErrorResponse)) log(`${LOG_PREFIX} unexpected error: ${String(error)}`);
    const refusal = error instanceof BedrockErrorResponse ? error : internalServerError();
    const fault = refusal.injectedBy;
    send(response, requestId, refusal, fault ? { [FAULT_HEADER]: fault } : {});
    const injected = fault ? ` (injected: ${fault})` : "";
    log(`${LOG_PREFIX} ${refusal.status} ${refusal.type} ${what}${injected}: ${refusal.message}`);
  }

  const onRequest = (request: StandInRequest, response: StandInResponse) => {
    handle(request, response).catch((error: unknown) => log(`${LOG_PREFIX} request failed: ${String(error)}`));
  };
  const http1 = createHttp1Server(onRequest);
  const http2 = createHttp2Server(onRequest);
  // One port for both: a connection that opens with the HTTP/2 preface is h2c (the SDK's default), else HTTP/1.1.
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    routeByPreface(socket, (isHttp2) => (isHttp2 ? http2 : http1).emit("connection", socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(requestedPort, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  log(
    `${LOG_PREFIX} Bedrock stand-in on ${url} (HTTP/1.1 and h2c): InvokeModel for ${Object.keys(lifecycle.snapshot()).length} ` +
      "catalog models and GetFoundationModel(Availability); placeholder landscapes, not model output",
  );

  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    get stats() {
      const byModel = Object.fromEntries(Object.entries(stats.byModel).map(([id, counts]) => [id, { ...counts }]));
      return { ...stats, byModel };
    },
    get faults() {
      return faults;
    },
    get modelLifecycle() {
      return lifecycle.snapshot();
    },
    setFaults(changes) {
      faults = mergeFaults(faults, changes);
      log(`${LOG_PREFIX} faults now ${describeFaults(faults)}`);
    },
    setModelLifecycle(modelId, status) {
      const foundationModelId = lifecycle.set(modelId, status);
      log(`${LOG_PREFIX} model lifecycle now ${foundationModelId}=${status}`);
    },
    resetStats() {
      stats = emptyStats(stats.concurrency);
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        log(`${LOG_PREFIX} closed ${url}`);
      });
      return closed;
    },
  };
}

function describeFaults(faults: FaultSettings): string {
  return Object.entries(faults)
    .map(([field, value]) => `${field}=${JSON.stringify(value) ?? value}`)
    .join(" ");
}

/** Reads until the bytes seen either are the HTTP/2 preface or cannot be, then puts them back for the server. */
function routeByPreface(socket: Socket, route: (isHttp2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const onReadable = () => {
    let chunk: Buffer | null = socket.read() as Buffer | null;
    while (chunk !== null) {
      seen = Buffer.concat([seen, chunk]);
      chunk = socket.read() as Buffer | null;
    }
    const length = Math.min(seen.length, HTTP2_PREFACE.length);
    const matches = seen.subarray(0, length).equals(HTTP2_PREFACE.subarray(0, length));
    if (matches && seen.length < HTTP2_PREFACE.length && !socket.readableEnded) return;
    socket.off("readable", onReadable);
    if (seen.length > 0) socket.unshift(seen);
    route(matches && seen.length >= HTTP2_PREFACE.length);
  };
  socket.on("readable", onReadable);
}

/** The body, or undefined when it is over the size limit (the rest is read and dropped). */
async function readBody(request: StandInRequest): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return size <= MAX_BODY_BYTES ? Buffer.concat(chunks) : undefined;
}

async function drain(request: StandInRequest): Promise<void> {
  for await (const _ of request);
}

function send(
  response: StandInResponse,
  requestId: string,
  payload: BedrockErrorResponse | object,
  extraHeaders: OutgoingHttpHeaders = {},
): void {
  if (response.writableEnded || response.destroyed) return;
  const isError = payload instanceof BedrockErrorResponse;
  const body = JSON.stringify(isError ? { message: payload.message } : payload);
  response.writeHead(isError ? payload.status : 200, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "x-amzn-requestid": requestId,
    [STAND_IN_HEADER]: "true",
    ...(isError ? { "x-amzn-errortype": payload.type } : {}),
    ...extraHeaders,
  });
  response.end(body);
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
