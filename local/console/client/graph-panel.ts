/// <reference lib="dom" />
// The state machine drawn from its ASL (local/console/graph), coloured by outcome; a state is selected by click,
// or by Tab then Enter or Space, and its details are shown beside the graph.
import {
  type AslDefinition,
  type GraphLayout,
  layoutGraph,
  renderGraphSvg,
  STATE_STATUS_LEGEND,
  type StateOutcome,
} from "../graph";
import { h, replaceChildren } from "./dom";

export interface GraphPanel {
  element: HTMLElement;
  /** Draws the outcomes; keeps the selection and the keyboard focus of the drawing before. */
  update(outcomes: Readonly<Record<string, StateOutcome>>, selected: string | undefined): void;
}

const layouts = new WeakMap<object, GraphLayout>();

export function graphPanel(definition: Record<string, unknown>, onSelect: (state: string) => void): GraphPanel {
  const asl = definition as unknown as AslDefinition;
  let layout = layouts.get(definition);
  if (!layout) {
    layout = layoutGraph(asl);
    layouts.set(definition, layout);
  }
  const drawing = h("div", { class: "graph__drawing" });
  const selectFrom = (target: EventTarget | null) => {
    const node = (target as Element | null)?.closest?.("[data-state]");
    const state = node?.getAttribute("data-state");
    if (state) onSelect(state);
  };
  drawing.addEventListener("click", (event) => selectFrom(event.target));
  drawing.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    selectFrom(event.target);
  });
  const legend = h(
    "ul",
    { class: "legend", "aria-label": "What the colours mean" },
    STATE_STATUS_LEGEND.map((swatch) => {
      const sample = h("span", { class: "legend__swatch", "aria-hidden": "true" });
      sample.style.setProperty("background-color", swatch.fill);
      sample.style.setProperty("border-color", swatch.stroke);
      return h("li", {}, sample, swatch.label);
    }),
  );
  const element = h(
    "div",
    { class: "graph" },
    h(
      "p",
      { class: "hint", id: "graph-hint" },
      "Select a state (click, or Tab to it and press Enter) to see its input, output and error.",
    ),
    drawing,
    legend,
  );
  let drawn = "";
  return {
    element,
    update(outcomes, selected) {
      const svg = renderGraphSvg(layout, outcomes, { selected });
      if (svg === drawn) return;
      drawn = svg;
      const focused = (document.activeElement as Element | null)?.closest?.("[data-state]")?.getAttribute("data-state");
      const parsed = new DOMParser().parseFromString(svg, "image/svg+xml").documentElement;
      parsed.setAttribute("aria-describedby", "graph-hint");
      replaceChildren(drawing, document.importNode(parsed, true));
      if (focused) drawing.querySelector<SVGElement>(`[data-state="${CSS.escape(focused)}"]`)?.focus();
    },
  };
}
