// One benchmark scenario in a process of its own (a local stack loads the handler modules once per process):
// `tsx bench/scenario.ts <burst|overhead> <settings JSON> <result file>`; bench/run.ts starts it.
import { writeFileSync } from "node:fs";
import { type BurstSettings, runBurst } from "./burst";
import { type OverheadSettings, runOverhead } from "./overhead";

const [scenario, settingsJson, resultFile] = process.argv.slice(2);
if (!scenario || !settingsJson || !resultFile) {
  process.stderr.write("Usage: tsx bench/scenario.ts <burst|overhead> <settings JSON> <result file>\n");
  process.exit(2);
}
const settings: unknown = JSON.parse(settingsJson);
const result =
  scenario === "burst"
    ? await runBurst(settings as BurstSettings)
    : scenario === "overhead"
      ? await runOverhead(settings as OverheadSettings)
      : undefined;
if (result === undefined) {
  process.stderr.write(`Unknown scenario "${scenario}": use burst or overhead\n`);
  process.exit(2);
}
writeFileSync(resultFile, JSON.stringify(result));
// Emulators keep sockets and timers alive after stopping; the result is written, so end here.
process.exit(0);
