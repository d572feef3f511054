// Verifies the bench's interposer (bench/interposer.ts) when its kept-alive connection to the service was closed by
// the service: the request is sent again on a new connection, the caller gets the service's answer, and `decide` saw
// the request once (so the bench counts it once). The service here closes a connection at its second request without
// reading it, which is what a server's idle timeout does to a reused socket. It cannot verify the timing race itself.
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type Interposer, startInterposer } from "../../bench/interposer";
import { type LoopbackServer, listenOnLoopback } from "../../local/http-server";

let service: LoopbackServer | undefined;
let interposer: Interposer | undefined;

afterEach(async () => {
  await interposer?.close();
  await service?.close();
});

describe("startInterposer", () => {
  it("sends a request again when its reused connection to the service was closed, and counts it once", async () => {
    // Prepare: the service answers the first request of each connection and drops any later one unread.
    const requestsBySocket = new Map<Socket, number>();
    service = await listenOnLoopback((request, response) => {
      const count = (requestsBySocket.get(request.socket) ?? 0) + 1;
      requestsBySocket.set(request.socket, count);
      if (count > 1) {
        request.socket.destroy();
        return;
      }
      response.end(JSON.stringify({ answered: count }));
    }, 0);
    const seen: string[] = [];
    interposer = await startInterposer(service.url, "stepFunctions", (request) => {
      seen.push(request.operation);
      return undefined;
    });
    const call = () =>
      fetch(interposer?.url ?? "", {
        method: "POST",
        headers: { "x-amz-target": "AWSStepFunctions.StartExecution" },
        body: "{}",
      });

    // Act: two calls one after the other, so the second goes on the interposer's kept-alive connection.
    const first = await call();
    await first.text();
    const second = await call();

    // Assess
    expect(second.status).toBe(200);
    expect(await second.json()).toEqual({ answered: 1 });
    expect(seen).toEqual(["StartExecution", "StartExecution"]);
    expect(requestsBySocket.size).toBe(2);
  });
});
