import type { StateOutcome, StateStatus } from "./execution-history";

/** The word each status shows on its node, so colour is never the only signal. */
export const STATE_STATUS_LABELS: Readonly<Record<StateStatus, string>> = {
  succeeded: "Succeeded",
  failed: "Failed",
  caught: "Caught",
  "in-progress": "Running",
  "not-reached": "Not reached",
  cancelled: "Cancelled",
};

export interface StatusSwatch {
  /** A status, or "retried": a state that succeeded after retries has its own colour. */
  key: StateStatus | "retried";
  label: string;
  /** The class on the state's `<g>`; a retried state has both `state--succeeded` and `state--retried`. */
  className: string;
  fill: string;
  stroke: string;
  /** Text on `fill` at WCAG AA (4.5:1 and more); `stroke` on white at 3:1 and more. */
  text: string;
}

/** Colour per status, for the nodes (GRAPH_CSS is built from it) and for the console's legend. */
export const STATE_STATUS_LEGEND: readonly StatusSwatch[] = [
  swatch("succeeded", "Succeeded", { fill: "#e3f4e8", stroke: "#1f7a3a", text: "#0f3d1e" }),
  swatch("retried", "Retried", { fill: "#f1e8fb", stroke: "#6d3fb0", text: "#3b1a6b" }),
  // Caught is an error that happened: red like a failure, a lighter fill, and the word "Caught" tells them apart.
  swatch("caught", "Caught", { fill: "#fff5f4", stroke: "#b42318", text: "#7a1a12" }),
  swatch("failed", "Failed", { fill: "#fde4e2", stroke: "#b42318", text: "#7a1a12" }),
  swatch("in-progress", "Running", { fill: "#e0ecff", stroke: "#1d4ed8", text: "#0f2a6b" }),
  swatch("cancelled", "Cancelled", { fill: "#e9eaed", stroke: "#4b5563", text: "#1f2937" }),
  swatch("not-reached", "Not reached", { fill: "#ffffff", stroke: "#6b7280", text: "#374151" }),
];

/** What the node says under the state's name: "Succeeded", "Retried 2×", "Caught, retried 2×", "Not reached". */
export function describeOutcome(outcome: StateOutcome): string {
  const label = STATE_STATUS_LABELS[outcome.status];
  if (outcome.retries === 0) return label;
  if (outcome.status === "succeeded") return `Retried ${outcome.retries}×`;
  return `${label}, retried ${outcome.retries}×`;
}

const swatchRules = STATE_STATUS_LEGEND.map(({ key, className, fill, stroke, text }) => {
  // Retried colours a state that succeeded; a failed or caught one keeps its own colour and says "retried".
  const selector = key === "retried" ? ".state--succeeded.state--retried" : `.${className}`;
  return `${selector} > rect { fill: ${fill}; stroke: ${stroke}; }\n${selector} > text { fill: ${text}; }`;
});

/** The graph's stylesheet, for the console to put in its own (the SVG carries classes, not colours). */
export const GRAPH_CSS = [
  ".state-graph { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; }",
  ".state { cursor: pointer; }",
  ".state > rect { fill: #ffffff; stroke: #374151; stroke-width: 1.5px; }",
  ".state > text { fill: #111827; text-anchor: middle; }",
  ".state__name { font-size: 13px; font-weight: 600; }",
  ".state__status { font-size: 12px; }",
  ...swatchRules,
  // Shapes besides colour: not reached is dashed, failed is heavier, selected heavier still.
  ".state--not-reached > rect { stroke-dasharray: 5 3; }",
  ".state--failed > rect { stroke-width: 2.5px; }",
  ".state--selected > rect { stroke-width: 4px; }",
  ".state:focus { outline: none; }",
  ".state:focus-visible { outline: 3px solid #111827; outline-offset: 3px; }",
  ".state:focus-visible > rect { stroke-width: 4px; }",
  ".graph-terminal > rect { fill: #374151; }",
  ".graph-terminal > text { fill: #ffffff; font-size: 12px; font-weight: 600; text-anchor: middle; }",
  ".graph-edge { fill: none; stroke: #4b5563; stroke-width: 1.5px; }",
  ".graph-edge--catch { stroke: #a4530b; stroke-dasharray: 6 4; }",
  ".graph-edge-label > rect { fill: #ffffff; }",
  ".graph-edge-label > text { fill: #374151; font-size: 11px; text-anchor: middle; }",
  ".graph-edge-label--catch > text { fill: #5a2d05; }",
  ".graph-arrow { fill: #4b5563; }",
  ".graph-arrow--catch { fill: #a4530b; }",
].join("\n");

function swatch(key: StatusSwatch["key"], label: string, colours: Pick<StatusSwatch, "fill" | "stroke" | "text">) {
  return { key, label, className: `state--${key}`, ...colours };
}
