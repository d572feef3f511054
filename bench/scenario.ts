// One benchmark scenario in a process of its own (a local stack loads the handler modules once per process):
// `tsx bench/scenario.ts <scenario> <settings JSON> <result file>`; bench/run.ts starts it.
import { writeFileSync } from "node:fs";
import { type BurstSettings, runBurst } from "./burst";
import { type OverheadSettings, runOverhead } from "./overhead";

/** Share of Bedrock calls the stand-in refuses at random in the shared-quota burst (issue 9: "quota shared"). */
const SHARED_QUOTA_THROTTLE_RATE = 0.2;

const SCENARIOS: Record<string, (settings: unknown) => Promise<unknown>> = {
  burst: (settings) => runBurst(settings as BurstSettings),
  // The same burst, the quota shared with another workload: the stand-in also refuses 20% of calls at random.
  "shared-quota": (settings) => runBurst({ ...(settings as BurstSettings), throttleRate: SHARED_QUOTA_THROTTLE_RATE }),
  overhead: (settings) => runOverhead(settings as OverheadSettings),
};

const [scenario, settingsJson, resultFile] = process.argv.slice(2);
const names = Object.keys(SCENARIOS).join(", ");
if (!scenario || !settingsJson || !resultFile) {
  process.stderr.write(`Usage: tsx bench/scenario.ts <${names.replaceAll(", ", "|")}> <settings JSON> <result file>\n`);
  process.exit(2);
}
const run = SCENARIOS[scenario];
if (!run) {
  process.stderr.write(`Unknown scenario "${scenario}": use one of ${names}\n`);
  process.exit(2);
}
const result = await run(JSON.parse(settingsJson));
writeFileSync(resultFile, JSON.stringify(result));
// Emulators keep sockets and timers alive after stopping; the result is written, so end here.
process.exit(0);
