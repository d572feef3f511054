import { createHash, randomUUID } from "node:crypto";
import { createServer as createHttp1Server, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import { createServer as createHttp2Server } from "node:http2";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import {
  BedrockErrorResponse,
  contentBlocked,
  INVALID_MODEL_MESSAGE,
  internalServerError,
  modelTimeout,
  serviceUnavailable,
  throttled,
  validationError,
} from "./bedrock-errors";
import { drawStandInPng } from "./draw-image";
import {
  DEFAULT_FAULTS,
  drawLatencyMs,
  drawRandomFault,
  type FaultSettings,
  mergeFaults,
  type RandomFault,
  RequestRateWindow,
} from "./faults";
import { parseTextImageRequest, standInModelLimits, type TextImageRequest } from "./text-image-request";

export interface BedrockStandInOptions extends Partial<FaultSettings> {
  /** Port on 127.0.0.1. @default 0 (a free port) */
  readonly port?: number;
  /** Source of the fault and jitter draws; pass `seededRandom(n)` to replay the same faults. @default Math.random */
  readonly random?: () => number;
  /** Millisecond clock of the rate window; tests pass a fake one to move time without waiting. @default performance.now */
  readonly now?: () => number;
  /** Where log lines go, each marked as the stand-in's. @default console.log */
  readonly log?: (line: string) => void;
}

/** Counts since start (or the last `resetStats`); `concurrency` is requests in progress now. */
export interface BedrockStandInStats {
  /** InvokeModel requests received, whatever their outcome. */
  requests: number;
  images: number;
  /** ThrottlingException answers, from the rate quota and from `throttleRate`. */
  throttled: number;
  timeouts: number;
  /** ServiceUnavailableException and InternalServerException answers. */
  serverErrors: number;
  /** Prompts refused by the content filter. */
  blocked: number;
  /** ValidationException answers other than content-filter refusals (bad body, unknown model). */
  invalid: number;
  concurrency: number;
  peakConcurrency: number;
}

export interface BedrockStandIn {
  /** `http://127.0.0.1:<port>`: the `endpoint` for `BedrockRuntimeClient`. */
  readonly url: string;
  readonly port: number;
  /** A snapshot of the counters. */
  readonly stats: BedrockStandInStats;
  /** The fault settings in force. */
  readonly faults: FaultSettings;
  /** Changes some fault settings at runtime; the others keep their values. Throws for an invalid value. */
  setFaults(changes: Partial<FaultSettings>): void;
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
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const MAX_BODY_BYTES = 5 * 1024 * 1024;

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
 * Starts a local stand-in for Amazon Bedrock Runtime's InvokeModel (TEXT_IMAGE for Nova Canvas and Titan Image):
 * it answers with deterministic placeholder PNGs and Bedrock's error shapes, with settable latency, throttling and
 * failures. It speaks HTTP/1.1 and cleartext HTTP/2 on one port, so the SDK's default handler works unchanged.
 */
export async function startBedrockStandIn(options: BedrockStandInOptions = {}): Promise<BedrockStandIn> {
  const { port: requestedPort = 0, random = Math.random, now = () => performance.now(), log = console.log } = options;
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65_535) {
    throw new Error(`port must be an integer from 0 to 65535 (0 picks a free port), got ${requestedPort}`);
  }
  let faults = mergeFaults(DEFAULT_FAULTS, options);
  let stats = emptyStats(0);
  const rateWindow = new RequestRateWindow(now);
  const closing = new AbortController();
  const sockets = new Set<Socket>();

  async function handle(request: StandInRequest, response: StandInResponse): Promise<void> {
    const started = performance.now();
    const requestId = randomUUID();
    const path = new URL(request.url ?? "/", "http://stand-in").pathname;
    const match = request.method === "POST" ? INVOKE_PATH.exec(path) : null;
    if (!match) {
      await drain(request);
      const error = new BedrockErrorResponse(
        404,
        "UnknownOperationException",
        `The stand-in serves only InvokeModel (POST /model/{modelId}/invoke), not ${request.method} ${path}`,
      );
      send(response, requestId, error);
      log(`${LOG_PREFIX} 404 UnknownOperationException ${request.method} ${path}`);
      return;
    }
    stats.requests++;
    stats.concurrency++;
    stats.peakConcurrency = Math.max(stats.peakConcurrency, stats.concurrency);
    const modelId = safeDecode(match[1] ?? "");
    try {
      const body = await readBody(request);
      const { images, accepted } = await invoke(modelId, body);
      const elapsed = Math.round(performance.now() - started);
      send(response, requestId, { images, error: null }, { "x-amzn-bedrock-invocation-latency": String(elapsed) });
      log(
        `${LOG_PREFIX} 200 ${modelId} ${accepted.width}x${accepted.height} images=${images.length} seed=${accepted.seed} prompt-sha256=${sha256(accepted.prompt).slice(0, 12)} ${elapsed}ms`,
      );
    } catch (error) {
      if (closing.signal.aborted) return;
      if (!(error instanceof BedrockErrorResponse)) log(`${LOG_PREFIX} unexpected error: ${String(error)}`);
      const refusal = error instanceof BedrockErrorResponse ? error : internalServerError();
      const fault = refusal.injectedBy;
      send(response, requestId, refusal, fault ? { [FAULT_HEADER]: fault } : {});
      log(
        `${LOG_PREFIX} ${refusal.status} ${refusal.type} ${modelId}${fault ? ` (injected: ${fault})` : ""}: ${refusal.message}`,
      );
    } finally {
      stats.concurrency--;
    }
  }

  /** InvokeModel, checked in this order: rate quota, body and model, content filter, then the (faulty) model. */
  async function invoke(modelId: string, body: Buffer | undefined) {
    if (!rateWindow.tryAccept(faults.maxRequestsPerSecond)) {
      stats.throttled++;
      throw throttled("maxRequestsPerSecond");
    }
    let accepted: TextImageRequest;
    try {
      if (body === undefined) throw validationError(`The request body is larger than ${MAX_BODY_BYTES} bytes.`);
      const limits = standInModelLimits(modelId);
      if (!limits) throw validationError(INVALID_MODEL_MESSAGE);
      accepted = parseTextImageRequest(body.toString("utf8"), limits);
    } catch (error) {
      stats.invalid++;
      throw error;
    }
    const word = faults.contentFilterWord.toLowerCase();
    if (word !== "" && accepted.prompt.toLowerCase().includes(word)) {
      stats.blocked++;
      throw contentBlocked("contentFilterWord");
    }
    const fault = drawRandomFault(faults, random);
    if (fault === "throttleRate") {
      stats.throttled++;
      throw throttled(fault);
    }
    const latencyMs = drawLatencyMs(faults, random);
    if (latencyMs > 0) await sleep(latencyMs, undefined, { signal: closing.signal });
    if (fault) throw afterLatencyFault(fault);
    const images = Array.from({ length: accepted.numberOfImages }, (_, index) =>
      drawStandInPng({ ...accepted, index }).toString("base64"),
    );
    stats.images += images.length;
    return { images, accepted };
  }

  function afterLatencyFault(fault: Exclude<RandomFault, "throttleRate">): BedrockErrorResponse {
    if (fault === "timeoutRate") {
      stats.timeouts++;
      return modelTimeout(fault);
    }
    stats.serverErrors++;
    return fault === "serverErrorRate" ? serviceUnavailable(fault) : internalServerError(fault);
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
  log(`${LOG_PREFIX} InvokeModel stand-in on ${url} (HTTP/1.1 and h2c): placeholder landscapes, not model output`);

  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    get stats() {
      return { ...stats };
    },
    get faults() {
      return faults;
    },
    setFaults(changes) {
      faults = mergeFaults(faults, changes);
      log(`${LOG_PREFIX} faults now ${describeFaults(faults)}`);
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

function emptyStats(concurrency: number): BedrockStandInStats {
  return {
    requests: 0,
    images: 0,
    throttled: 0,
    timeouts: 0,
    serverErrors: 0,
    blocked: 0,
    invalid: 0,
    concurrency,
    peakConcurrency: concurrency,
  };
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

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
