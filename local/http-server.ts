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

export interface LoopbackServer {
  server: Server;
  port: number;
  url: string;
  close: () => Promise<void>;
}

/** An HTTP server on 127.0.0.1 only, whose close() also ends kept-alive sockets so the port is free at once. */
export async function listenOnLoopback(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  port: number,
): Promise<LoopbackServer> {
  const server = createServer(handler);
  return trackAndListen(server, port);
}

export async function trackAndListen(server: Server, port: number): Promise<LoopbackServer> {
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
