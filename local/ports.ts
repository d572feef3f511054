// The local stack's ports: refused when taken before anything starts, and one held while the handlers load.
import { createServer } from "node:net";
import { type LoopbackServer, listenOnLoopback } from "./http-server";
import type { LocalPorts } from "./local-stack-defaults";
import { PortInUseError } from "./start-refusals";

/** Fails with the port and the flag to change it, before any emulator starts (some crash on EADDRINUSE instead of failing). */
export async function assertPortsFree(ports: LocalPorts): Promise<void> {
  for (const [name, port] of Object.entries(ports)) {
    if (port === 0) continue;
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once("error", () =>
        reject(
          new PortInUseError(
            `Port ${port} (${name}) is in use on 127.0.0.1: stop what holds it, or choose another port (npm start -- --help lists the port flags)`,
          ),
        ),
      );
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve()));
    });
  }
}

/** Holds the Step Functions port while the handlers load, so their endpoint variable names a port that stays ours. */
export async function reservePort(port: number): Promise<LoopbackServer> {
  return listenOnLoopback((_request, response) => {
    response.end();
  }, port);
}
