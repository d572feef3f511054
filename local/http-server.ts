import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** Reads a request body up to `limit` bytes; past it, answers `tooLarge` instead of buffering without end. */
export async function readBody(request: IncomingMessage, limit: number): Promise<{ body: Buffer; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) return { body: Buffer.alloc(0), tooLarge: true };
    chunks.push(chunk as Buffer);
  }
  return { body: Buffer.concat(chunks), tooLarge: false };
}

export type RequestHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void> | void;

/**
 * Runs `handler` so that whatever a client does cannot become an uncaught error, which would stop the whole local
 * stack: a client that closes or resets mid-body makes reading the body reject with "aborted" (ECONNRESET). Then
 * there is no one to answer, so the response is dropped; any other failure is answered 500.
 */
export function guarded(handler: RequestHandler): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    new Promise<void>((resolve) => resolve(handler(request, response))).catch((error: unknown) => {
      if (response.headersSent || request.socket.destroyed) {
        response.destroy();
        return;
      }
      response.writeHead(500, { "content-type": "application/json" });
      response.end(JSON.stringify({ __type: "InternalFailure", message: String(error) }));
    });
  };
}

export interface LoopbackServer {
  server: Server;
  port: number;
  url: string;
  close: () => Promise<void>;
}

/** An HTTP server on 127.0.0.1 only, whose close() also ends kept-alive sockets so the port is free at once. */
export async function listenOnLoopback(handler: RequestHandler, port: number): Promise<LoopbackServer> {
  const server = createServer(guarded(handler));
  return trackAndListen(server, port);
}

/**
 * How long an idle kept-alive connection stays open: the SDK's agents keep theirs with no idle limit, so with Node's
 * default (5 s) a request sent on a connection the server is closing fails with ECONNRESET and the SDK sends it again
 * (seen as a second StartExecution in the bench). A minute, as AWS's own endpoints and load balancers keep them.
 */
const KEEP_ALIVE_MS = 65_000;

export async function trackAndListen(server: Server, port: number): Promise<LoopbackServer> {
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  // Node requires the headers timeout to exceed the keep-alive one.
  server.headersTimeout = KEEP_ALIVE_MS + 1000;
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const actualPort = (server.address() as AddressInfo).port;
  return {
    server,
    port: actualPort,
    url: `http://127.0.0.1:${actualPort}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
