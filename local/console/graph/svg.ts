import type { StateOutcome } from "./execution-history";
import type { GraphEdge, GraphLayout, GraphNode } from "./layout";
import { describeOutcome } from "./status-style";

export interface RenderGraphOptions {
  /** The state shown as selected (`state--selected`, `aria-pressed="true"`). */
  selected?: string;
}

const NOT_REACHED: StateOutcome = { status: "not-reached", retries: 0 };

/**
 * The laid-out graph as an SVG string, styled by GRAPH_CSS. Each state is a focusable button (`data-state` names it)
 * whose classes and words say what happened; without `outcomes` the states show their type. All text is escaped.
 */
export function renderGraphSvg(
  layout: GraphLayout,
  outcomes?: Readonly<Record<string, StateOutcome>>,
  options: RenderGraphOptions = {},
): string {
  const width = round(layout.width);
  const height = round(layout.height);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="state-graph" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="group" aria-label="State machine graph">`,
    "<defs>",
    arrowMarker("graph-arrow"),
    arrowMarker("graph-arrow--catch"),
    "</defs>",
    ...layout.edges.map(renderEdge),
    ...layout.nodes.map((node) => {
      if (node.type === "Start" || node.type === "End") return renderTerminal(node);
      const outcome = outcomes && (Object.hasOwn(outcomes, node.name) ? outcomes[node.name] : NOT_REACHED);
      return renderState(node, outcome, node.name === options.selected);
    }),
    "</svg>",
  ].join("\n");
}

function renderState(node: GraphNode, outcome: StateOutcome | undefined, selected: boolean): string {
  const classes = ["state"];
  if (outcome) classes.push(`state--${outcome.status}`);
  if (outcome && outcome.retries > 0) classes.push("state--retried");
  if (selected) classes.push("state--selected");
  const words = outcome ? describeOutcome(outcome) : node.type;
  const attributes = [
    `class="${classes.join(" ")}"`,
    `transform="translate(${round(node.x - node.width / 2)} ${round(node.y - node.height / 2)})"`,
    'tabindex="0"',
    'role="button"',
    `aria-pressed="${selected}"`,
    `aria-label="${escapeXml(`${node.name} — ${words}`)}"`,
    `data-state="${escapeXml(node.name)}"`,
  ];
  return [
    `<g ${attributes.join(" ")}>`,
    `<rect width="${round(node.width)}" height="${round(node.height)}" rx="6"/>`,
    `<text class="state__name" x="${round(node.width / 2)}" y="${round(node.height / 2 - 4)}">${escapeXml(node.name)}</text>`,
    // A space between name and status, so the node's text reads as the words of its aria-label (WCAG 2.5.3).
    " ",
    `<text class="state__status" x="${round(node.width / 2)}" y="${round(node.height / 2 + 14)}">${escapeXml(words)}</text>`,
    "</g>",
  ].join("");
}

function renderTerminal(node: GraphNode): string {
  const left = round(node.x - node.width / 2);
  const top = round(node.y - node.height / 2);
  return [
    `<g class="graph-terminal" transform="translate(${left} ${top})">`,
    `<rect width="${round(node.width)}" height="${round(node.height)}" rx="${round(node.height / 2)}"/>`,
    `<text x="${round(node.width / 2)}" y="${round(node.height / 2 + 4)}">${escapeXml(node.name)}</text>`,
    "</g>",
  ].join("");
}

function renderEdge(edge: GraphEdge): string {
  const catchEdge = edge.kind === "catch";
  const path = edge.points.map((point, index) => `${index === 0 ? "M" : "L"}${round(point.x)} ${round(point.y)}`);
  const marker = catchEdge ? "graph-arrow--catch" : "graph-arrow";
  const line = `<path class="graph-edge graph-edge--${edge.kind}" d="${path.join(" ")}" marker-end="url(#${marker})"/>`;
  if (edge.label === undefined || !edge.labelBox) return line;
  const { x, y, width, height } = edge.labelBox;
  return [
    line,
    `<g class="graph-edge-label graph-edge-label--${edge.kind}">`,
    `<rect x="${round(x - width / 2)}" y="${round(y - height / 2)}" width="${round(width)}" height="${round(height)}" rx="3"/>`,
    `<text x="${round(x)}" y="${round(y + 4)}">${escapeXml(edge.label)}</text>`,
    "</g>",
  ].join("");
}

function arrowMarker(id: string): string {
  return `<marker id="${id}" class="${id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z"/></marker>`;
}

const XML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (character) => XML_ESCAPES[character]!);
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
