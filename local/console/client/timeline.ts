/// <reference lib="dom" />
// The steps on one time axis: each state run as a bar split into its phases (scheduled, waiting, running, retry wait).
import type { HistoryEventJson } from "../api-types";
import { STATE_STATUS_LABELS, stateTimeline, type TimelineEntry, type TimelinePhase } from "../graph";
import { h } from "./dom";
import { formatDuration } from "./format";
import { bedrockCallsLine } from "./history-facts";
import { WAITING_ROOM_STATE } from "./state-details";

const PHASE_LABELS: Readonly<Record<TimelinePhase["kind"], string>> = {
  scheduled: "scheduled",
  waiting: "waiting",
  running: "running",
  "retry-wait": "retry wait",
};

export function timeline(history: readonly HistoryEventJson[], job: Record<string, unknown> | undefined): HTMLElement {
  const entries = stateTimeline(history);
  const now = Date.now();
  const start = entries[0]?.startedAt ?? now;
  const end = Math.max(start + 1, ...entries.map((entry) => entry.endedAt ?? now));
  const span = end - start;
  const legend = h(
    "ul",
    { class: "legend legend--phases", "aria-label": "Phases" },
    Object.entries(PHASE_LABELS).map(([kind, label]) =>
      h("li", {}, h("span", { class: `legend__swatch phase--${kind}`, "aria-hidden": "true" }), label),
    ),
  );
  const rows = entries.map((entry) => timelineRow(history, entry, start, span, now, job));
  return h(
    "div",
    { class: "timeline" },
    h(
      "p",
      { class: "hint" },
      `From the first state to ${entries.some((entry) => entry.endedAt === undefined) ? "now" : "the last"}: ${formatDuration(span)}. `,
      "For GenerateImage, waiting is the waiting room and the generator's Bedrock calls together (a throttled call puts the job back in the waiting room): the history does not tell them apart, the status record tells the first wait.",
    ),
    legend,
    entries.length === 0 ? h("p", {}, "No state has started yet.") : h("ol", { class: "timeline__rows" }, rows),
  );
}

function timelineRow(
  history: readonly HistoryEventJson[],
  entry: TimelineEntry,
  start: number,
  span: number,
  now: number,
  job: Record<string, unknown> | undefined,
): HTMLLIElement {
  const track = h("div", { class: "timeline__track", "aria-hidden": "true" });
  const bar = h("div", { class: `timeline__bar timeline__bar--${entry.status}` });
  place(bar, entry.startedAt - start, (entry.endedAt ?? now) - entry.startedAt, span);
  track.append(bar);
  for (const phase of entry.phases) {
    const piece = h("div", { class: `timeline__phase phase--${phase.kind}` });
    place(piece, phase.startedAt - start, (phase.endedAt ?? now) - phase.startedAt, span);
    track.append(piece);
  }
  const totals = new Map<TimelinePhase["kind"], number>();
  for (const phase of entry.phases) {
    totals.set(phase.kind, (totals.get(phase.kind) ?? 0) + ((phase.endedAt ?? now) - phase.startedAt));
  }
  const phases = [...totals].map(([kind, ms]) => `${PHASE_LABELS[kind]} ${formatDuration(ms)}`);
  if (entry.state === WAITING_ROOM_STATE && job) {
    if (typeof job.waitedSeconds === "number") phases.push(`${job.waitedSeconds} s before a generator first took it`);
    const calls = bedrockCallsLine(job.bedrockCalls, history, entry.state, entry.endedAt !== undefined);
    if (calls) phases.push(calls);
  }
  if (entry.retries > 0) phases.push(`${entry.retries} retr${entry.retries === 1 ? "y" : "ies"}`);
  const took = formatDuration((entry.endedAt ?? now) - entry.startedAt);
  return h(
    "li",
    { class: "timeline__row" },
    h(
      "div",
      { class: "timeline__label" },
      h("strong", {}, entry.state),
      ` ${STATE_STATUS_LABELS[entry.status]}, ${took}${entry.endedAt === undefined ? " so far" : ""}`,
      phases.length > 0 ? h("span", { class: "timeline__phases" }, phases.join(" · ")) : "",
    ),
    track,
  );
}

/** Left and width as shares of the whole span; a bar is never narrower than a hairline. */
function place(element: HTMLElement, offsetMs: number, lengthMs: number, spanMs: number): void {
  element.style.setProperty("left", `${Math.max(0, (offsetMs / spanMs) * 100)}%`);
  element.style.setProperty("width", `max(2px, ${Math.max(0, (lengthMs / spanMs) * 100)}%)`);
}
