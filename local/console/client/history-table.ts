/// <reference lib="dom" />
// The event history as GetExecutionHistory returns it: type, state, time, elapsed since the start, and what it says.
import type { HistoryEventJson } from "../api-types";
import { h } from "./dom";
import { formatClock, formatDuration } from "./format";
import { eventStates, eventSummary } from "./history-facts";

const FAILURE_EVENT = /(?:Failed|TimedOut|Aborted)$/;

export function historyTable(history: readonly HistoryEventJson[]): HTMLElement {
  const states = eventStates(history);
  const started = Date.parse(history[0]?.timestamp ?? "");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "history" },
      h("caption", { class: "visually-hidden" }, "Event history, oldest first"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["ID", "Type", "State", "Time", "Elapsed", "Details"].map((label) => h("th", { scope: "col" }, label)),
        ),
      ),
      h(
        "tbody",
        {},
        history.map((event) => {
          const at = Date.parse(event.timestamp);
          return h(
            "tr",
            { class: FAILURE_EVENT.test(event.type) ? "history__row--failure" : undefined },
            h("td", {}, event.id),
            h("td", {}, event.type),
            h("td", {}, states.get(event.id) ?? ""),
            h("td", {}, h("time", { datetime: event.timestamp }, formatClock(at))),
            h("td", {}, Number.isFinite(started) ? `+${formatDuration(at - started) || "0 ms"}` : ""),
            h("td", { class: "history__details" }, eventSummary(event)),
          );
        }),
      ),
    ),
  );
}
