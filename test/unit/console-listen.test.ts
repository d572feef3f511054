// Verifies how the local console takes its port (local/console/server.ts `listenForConsole`): a port asked for and
// taken is refused with a message naming --console-port; the default port taken (none asked for) gives a free port
// and a WARN line saying so. It cannot verify the whole stack's start: test/e2e/npm-start.test.ts starts it on ports
// it chose.
import { afterEach, describe, expect, it } from "vitest";
import { listenForConsole } from "../../local/console/server";
import { type LoopbackServer, listenOnLoopback } from "../../local/http-server";
import { PortInUseError } from "../../local/start-refusals";

const servers: LoopbackServer[] = [];
const answer = async (_request: unknown, response: { end: () => void }) => response.end();

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

describe("listenForConsole", () => {
  it("refuses a port that was asked for and is taken, naming the flag that moves it", async () => {
    const holder = await listenOnLoopback(answer, 0);
    servers.push(holder);

    const listening = listenForConsole(answer as never, { port: holder.port, fallbackToFreePort: false });

    await expect(listening).rejects.toBeInstanceOf(PortInUseError);
    await expect(listening).rejects.toThrow(
      `Port ${holder.port} (console) is in use on 127.0.0.1: stop what holds it, or choose another port with --console-port`,
    );
  });

  it("takes a free port when the default is taken, and says so in a WARN line", async () => {
    const holder = await listenOnLoopback(answer, 0);
    servers.push(holder);
    const lines: Record<string, unknown>[] = [];

    const server = await listenForConsole(answer as never, {
      port: holder.port,
      fallbackToFreePort: true,
      log: (entry) => lines.push(entry),
    });
    servers.push(server);

    expect(server.port).not.toBe(holder.port);
    expect(lines).toEqual([
      {
        level: "WARN",
        message: `Console: port ${holder.port} is in use, so the console listens on ${server.url} (--console-port fixes one)`,
      },
    ]);
  });
});
