// The local console's time to first page with many executions (issue 10: ≤ 1 s for 10,000). A local stack starts on a
// data directory holding that many finished executions (written as the ExecutionStore keeps them, so the Step
// Functions endpoint serves them as it would after a long day); then, in Debian's chromium when it is there, the
// executions page is opened cold (the console has read nothing yet) and timed until its first 50 rows show with their
// prompts (chromium warmed first on the alerts page, which reads no execution). Without chromium only the server's
// answer is timed, and the result says so. Then a later page, the time to read every input (the background index) and
// a search over all prompts.
// `npm run bench` runs it in a process of its own; alone: `npx tsx bench/console-render.ts [--executions N]
// [--no-browser] [--json FILE]`.
import "../local/promise-with-resolvers";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CommandLine } from "../local/command-line";
import { FREE_PORTS, startLocalStack } from "../local/local-stack";
import { runBenchChild } from "./child-run";

export interface ConsoleRenderSettings {
  executions: number;
  /** Time the page in chromium when it is installed. */
  browser: boolean;
}

export interface ConsoleRenderResult {
  executions: number;
  /** The chromium that rendered the page, or why none did. */
  browser: { version: string } | { missing: string };
  /** Navigation to the first 50 rows shown with their prompts, cold (browser runs only). */
  firstPageMs?: number;
  /** The server's answer to the first page, cold: every execution listed, the page's 50 inputs read. */
  serverFirstPageMs: number;
  /** A later page once the list is known: the 100th, or the last when there are fewer. */
  laterPage: number;
  laterPageMs: number;
  /** Until every execution's input had been read (the background index), from the first page's request. */
  indexAllMs: number;
  /** A search over every prompt, once all are read. */
  searchMs: number;
  targetMs: number;
}

export const CONSOLE_TARGET_MS = 1000;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:ImagePipeline";
const PLACES = ["a lighthouse at dawn", "the pyramids at noon", "a fjord in the rain", "a market in Marrakesh"];
const FIRST_PAGE_ROWS = 50;

/** Runs this module in a process of its own, as `npm run bench` needs: a local stack loads its handlers once per process. */
export function consoleRenderInChild(settings: ConsoleRenderSettings): Promise<ConsoleRenderResult> {
  const args = ["--executions", String(settings.executions), ...(settings.browser ? [] : ["--no-browser"]), "--json"];
  return runBenchChild<ConsoleRenderResult>("bench/console-render.ts", fileURLToPath(import.meta.url), args);
}

export async function runConsoleRender(settings: ConsoleRenderSettings): Promise<ConsoleRenderResult> {
  const dataDir = mkdtempSync(join(tmpdir(), "couch-imagegen-bench-console-"));
  writeExecutions(join(dataDir, "executions"), settings.executions);
  const stack = await startLocalStack({
    dataDir,
    ports: FREE_PORTS,
    log: () => undefined,
  });
  try {
    // esbuild bundles the page's script when the console starts: that is start-up, not the first page.
    await fetch(`${stack.consoleUrl}/assets/console.js`).then((response) => response.text());
    const started = performance.now();
    const timed = settings.browser && existsSync(CHROMIUM) ? await inBrowser(stack.consoleUrl) : undefined;
    const serverFirstPageMs = timed?.serverMs ?? (await timeFetch(`${stack.consoleUrl}/api/executions`)).ms;
    const laterPage = Math.min(100, Math.ceil(settings.executions / FIRST_PAGE_ROWS));
    const laterPageMs = (await timeFetch(`${stack.consoleUrl}/api/executions?page=${laterPage}`)).ms;
    for (;;) {
      const { body } = await timeFetch(`${stack.consoleUrl}/api/executions`);
      if (body.indexed >= body.executions) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const indexAllMs = performance.now() - started;
    const search = await timeFetch(`${stack.consoleUrl}/api/executions?q=${encodeURIComponent("fjord in the rain")}`);
    if (search.body.total !== Math.ceil((settings.executions - 2) / PLACES.length)) {
      throw new Error(`The search found ${search.body.total} executions, not every fourth of ${settings.executions}`);
    }
    return {
      executions: settings.executions,
      browser: timed
        ? { version: timed.version }
        : { missing: settings.browser ? `${CHROMIUM} is not installed` : "not asked for (--no-browser)" },
      ...(timed ? { firstPageMs: timed.firstPageMs } : {}),
      serverFirstPageMs,
      laterPage,
      laterPageMs,
      indexAllMs,
      searchMs: search.ms,
      targetMs: CONSOLE_TARGET_MS,
    };
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Finished executions as the ExecutionStore persists them, a second apart, a tenth FAILED; no history is needed. */
function writeExecutions(directory: string, count: number): void {
  mkdirSync(directory, { recursive: true });
  const first = Date.now() - count * 1000;
  for (let i = 0; i < count; i += 1) {
    const name = `bench-${String(i).padStart(6, "0")}`;
    const startDate = new Date(first + i * 1000);
    const status = i % 10 === 9 ? "FAILED" : "SUCCEEDED";
    const input = {
      jobId: name,
      prompt: `${PLACES[i % PLACES.length]}, picture ${i}`,
      ...(i % 3 === 0 ? { model: "amazon.nova-canvas-v1:0" } : {}),
      source: i % 2 === 0 ? "api" : "sqs",
      requestedAt: startDate.toISOString(),
      pipeline: { caller: "anonymous" },
    };
    const record = {
      executionArn: `${STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")}:${name}`,
      stateMachineArn: STATE_MACHINE_ARN,
      name,
      status,
      input: JSON.stringify(input),
      ...(status === "FAILED" ? { error: "ModelTimeoutException", cause: "Model has timed out" } : { output: "{}" }),
      startDate,
      stopDate: new Date(startDate.getTime() + 700),
      history: [],
    };
    writeFileSync(join(directory, `${name}.json`), JSON.stringify(record));
  }
}

async function timeFetch(
  url: string,
): Promise<{ ms: number; body: { total: number; indexed: number; executions: number } }> {
  const started = performance.now();
  const response = await fetch(url);
  const body = (await response.json()) as { total: number; indexed: number; executions: number };
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${JSON.stringify(body)}`);
  return { ms: performance.now() - started, body };
}

/** Opens the executions page cold and waits for its first rows with their prompts. */
async function inBrowser(consoleUrl: string): Promise<{ version: string; firstPageMs: number; serverMs: number }> {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // Chromium's own start-up is not the console's: warm it on a page that reads no execution (the alerts).
    await page.goto(`${consoleUrl}/alerts`);
    await page
      .getByText(/notice|No failure notice/)
      .first()
      .waitFor();
    const started = performance.now();
    await page.goto(consoleUrl);
    await page.waitForFunction(
      (rows) => {
        const prompts = [...document.querySelectorAll("table.executions tbody td.prompt")];
        return prompts.length >= rows && prompts.every((cell) => cell.textContent !== "…");
      },
      FIRST_PAGE_ROWS,
      { timeout: 60_000 },
    );
    const firstPageMs = performance.now() - started;
    const serverMs = await page.evaluate(
      () =>
        performance.getEntriesByType("resource").find((entry) => new URL(entry.name).pathname === "/api/executions")
          ?.duration ?? Number.NaN,
    );
    return { version: browser.version(), firstPageMs, serverMs };
  } finally {
    await browser.close();
  }
}

/** The lines `npm run bench` prints. */
export function consoleRenderLines(result: ConsoleRenderResult): string {
  const browser =
    "version" in result.browser
      ? `chromium ${result.browser.version}: first page shown in ${ms(result.firstPageMs ?? Number.NaN)} (target ≤ ${ms(result.targetMs)})`
      : `server only (${result.browser.missing}): the browser's render is not in this figure`;
  return [
    `Console, ${result.executions.toLocaleString("en")} executions: ${browser}`,
    `  server's first page ${ms(result.serverFirstPageMs)} cold, page ${result.laterPage} ${ms(result.laterPageMs)}, every input read in ${ms(result.indexAllMs)}, a search over all prompts ${ms(result.searchMs)}`,
  ].join("\n");
}

/** The report's section on the console. */
export function consoleRenderMarkdown(result: ConsoleRenderResult): string {
  const firstPage =
    result.firstPageMs === undefined
      ? `not measured: ${"missing" in result.browser ? result.browser.missing : ""}; the server alone answered in ${ms(result.serverFirstPageMs)}`
      : `${ms(result.firstPageMs)} in chromium ${"version" in result.browser ? result.browser.version : ""}`;
  return `
## 5. The local console with ${result.executions.toLocaleString("en")} executions

\`bench/console-render.ts\`: a local stack on a data directory holding ${result.executions.toLocaleString("en")} finished
executions; the console's executions page opened cold (it has read no execution yet) and timed until its first 50 rows
show with their prompts. Target: ≤ ${ms(result.targetMs)} to the first page.

| figure | value |
|---|---|
| first page in the browser (navigation to 50 rows with prompts) | ${firstPage} |
| the server's first page, cold (ListExecutions' newest 100, DescribeExecution of the page's 50; the rest is listed after) | ${ms(result.serverFirstPageMs)} |
| page ${result.laterPage}, the list known (its 50 inputs read if the background has not yet) | ${ms(result.laterPageMs)} |
| every execution's input read (the background index, from the first request) | ${ms(result.indexAllMs)} |
| a search over every prompt | ${ms(result.searchMs)} |

Each input is read once (DescribeExecution) and kept in \`.local/console/execution-facts.jsonl\`, so a restarted
console answers its first page without reading them again; statuses come from ListExecutions at each refresh.
`;
}

function ms(value: number): string {
  return Number.isFinite(value) ? `${Math.round(value)} ms` : "n/a";
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const commandLine = new CommandLine("npx tsx bench/console-render.ts", {
    executions: { type: "string", description: "executions in the data directory (default 10000)" },
    "no-browser": { type: "boolean", description: "time the server only, even where chromium is installed" },
    json: { type: "string", description: "also write the figures as JSON here" },
    help: { type: "boolean", description: "show this help" },
  } as const);
  const values = commandLine.parse();
  if (values.help) {
    process.stdout.write(commandLine.usage());
    process.exit(0);
  }
  const executions = Number(values.executions ?? 10_000);
  if (!Number.isInteger(executions) || executions < 1 || executions > 1_000_000) {
    commandLine.fail(`--executions must be a whole number from 1 to 1000000, got ${JSON.stringify(values.executions)}`);
  }
  const result = await runConsoleRender({ executions, browser: values["no-browser"] !== true });
  process.stdout.write(`${consoleRenderLines(result)}\n`);
  if (typeof values.json === "string") writeFileSync(values.json, JSON.stringify(result));
  // The emulators keep sockets and timers alive after stopping; the result is written, so end here.
  process.exit(0);
}
