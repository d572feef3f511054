import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { trackAndListen } from "../local/http-server";

/** A request the pipeline sent to an emulator, as the interposer saw it. */
export interface InterceptedRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The AWS operation, read from the request the way the service itself routes it (see `operationOf`). */
  operation: string;
}

/**
 * What to do with a request: pass it on (`undefined`), answer it instead of the emulator, or drop the connection,
 * either before the emulator sees the request or after it acted on it (a lost response).
 */
export type Interception =
  | undefined
  | { respond: { status: number; headers?: Record<string, string>; body?: string } }
  | { drop: "before-forwarding" | "after-forwarding" };

export interface Interposer {
  url: string;
  close: () => Promise<void>;
}

/**
 * A loopback HTTP proxy in front of one emulator, for `startLocalStack({ interpose })`: every request is shown to
 * `decide`, which lets it through, answers it (a 503 SlowDown, a ThrottlingException) or drops the connection.
 * Headers go through unchanged (Host included), so SigV4 signatures still verify at the emulator.
 */
export async function startInterposer(
  target: string,
  service: "s3" | "dynamodb" | "stepFunctions",
  decide: (request: InterceptedRequest) => Interception | Promise<Interception>,
): Promise<Interposer> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const server = createServer((request, response) => {
    void relay(request, response).catch(() => response.destroy());
  });

  async function relay(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const intercepted: InterceptedRequest = {
      method: request.method ?? "GET",
      url: request.url ?? "/",
      headers: request.headers,
      body: Buffer.concat(chunks),
      operation: "",
    };
    intercepted.operation = operationOf(service, intercepted);
    const decision = await decide(intercepted);
    if (decision && "respond" in decision) {
      const body = decision.respond.body ?? "";
      response.writeHead(decision.respond.status, {
        "content-length": Buffer.byteLength(body),
        ...decision.respond.headers,
      });
      response.end(body);
      return;
    }
    if (decision?.drop === "before-forwarding") {
      request.socket.destroy();
      return;
    }
    const answer = await forward(intercepted);
    if (decision?.drop === "after-forwarding") {
      request.socket.destroy();
      return;
    }
    response.writeHead(answer.status, answer.headers);
    response.end(answer.body);
  }

  /**
   * Sends the request on; once more when a kept-alive connection to the emulator turned out closed (ECONNRESET on a
   * reused socket, before any answer: the emulator never read it), as Node's documentation advises. Without this the
   * proxy would drop the caller's connection and the SDK send the request again, counted twice.
   */
  async function forward(
    intercepted: InterceptedRequest,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
    try {
      return await forwardOnce(intercepted);
    } catch (error) {
      if ((error as { reusedSocketReset?: boolean }).reusedSocketReset) return forwardOnce(intercepted);
      throw error;
    }
  }

  function forwardOnce(
    intercepted: InterceptedRequest,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const outgoing = httpRequest(
        {
          agent,
          host: upstream.hostname,
          port: upstream.port,
          method: intercepted.method,
          path: intercepted.url,
          headers: intercepted.headers,
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on("data", (part: Buffer) => parts.push(part));
          answer.on("end", () =>
            resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(parts) }),
          );
          answer.on("error", reject);
        },
      );
      outgoing.on("error", (error: NodeJS.ErrnoException) => {
        reject(Object.assign(error, { reusedSocketReset: outgoing.reusedSocket && error.code === "ECONNRESET" }));
      });
      outgoing.end(intercepted.body);
    });
  }

  const loopback = await trackAndListen(server, 0);
  return {
    url: loopback.url,
    close: async () => {
      agent.destroy();
      await loopback.close();
    },
  };
}

/**
 * The operation a request is for: DynamoDB and Step Functions name it in `X-Amz-Target`; S3 in the method, the
 * copy-source header and the path (path-style: `/{bucket}/{key}`).
 */
export function operationOf(service: "s3" | "dynamodb" | "stepFunctions", request: InterceptedRequest): string {
  if (service !== "s3") return String(request.headers["x-amz-target"] ?? "").split(".")[1] ?? "Unknown";
  const hasKey = new URL(request.url, "http://s3").pathname.split("/").filter(Boolean).length > 1;
  if (!hasKey) return `${request.method}Bucket`;
  switch (request.method) {
    case "PUT":
      return request.headers["x-amz-copy-source"] ? "CopyObject" : "PutObject";
    case "GET":
      return "GetObject";
    case "HEAD":
      return "HeadObject";
    case "DELETE":
      return "DeleteObject";
    default:
      return `${request.method}Object`;
  }
}
