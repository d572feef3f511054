import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { GRAPH_CSS } from "./graph";

const CLIENT_ENTRY = fileURLToPath(new URL("./client/main.ts", import.meta.url));
const STYLESHEET = fileURLToPath(new URL("./client/console.css", import.meta.url));

/** Everything the page loads comes from here: no CDN, no network fetch, no build step run by hand. */
export interface ConsoleAssets {
  /** The page's script, bundled from client/ (and the graph library from node_modules) once per process. */
  script(): Promise<string>;
  stylesheet(): string;
  html(): string;
}

let bundled: Promise<string> | undefined;

/** esbuild bundles client/main.ts on first use; the bundle is kept for every later page and console in this process. */
export function consoleAssets(): ConsoleAssets {
  return {
    script() {
      bundled ??= build({
        entryPoints: [CLIENT_ENTRY],
        bundle: true,
        write: false,
        format: "esm",
        platform: "browser",
        target: ["chrome120", "firefox120", "safari17"],
        minify: true,
        legalComments: "none",
        logLevel: "silent",
      }).then((result) => result.outputFiles[0]?.text ?? "");
      // A failed build (a syntax error while someone edits client/) is tried again at the next page load.
      bundled.catch(() => {
        bundled = undefined;
      });
      return bundled;
    },
    stylesheet: () => `${readFileSync(STYLESHEET, "utf8")}\n${GRAPH_CSS}\n`,
    html: () => PAGE,
  };
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>couch-imagegen local console</title>
<link rel="stylesheet" href="/assets/console.css">
<script type="module" src="/assets/console.js"></script>
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
<header class="top">
  <p class="top__name"><a href="/">couch-imagegen <span class="top__kind">local console</span></a></p>
  <nav aria-label="Console pages">
    <ul class="top__nav">
      <li><a href="/" data-nav="executions">Executions</a></li>
      <li><a href="/start" data-nav="start">Start a job</a></li>
      <li><a href="/alerts" data-nav="alerts">Alerts</a></li>
    </ul>
  </nav>
  <p class="top__standin">Bedrock here is a local stand-in: its images are placeholders, not a model's.</p>
</header>
<main id="main" tabindex="-1"><p>Loading…</p></main>
</body>
</html>
`;
