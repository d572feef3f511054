/// <reference lib="dom" />
// One execution: its graph coloured by outcome, the selected state, the job's image and status record, the timeline
// and the event history; read again every second while it runs. Stop and redrive act through the console's server.
import type { ExecutionDetail } from "../api-types";
import { type AslDefinition, type StateOutcome, stateOutcomes } from "../graph";
import { getJson, postJson } from "./api";
import { h, prettyJson, replaceChildren, statusBadge } from "./dom";
import { formatDateTime, formatDuration } from "./format";
import { type GraphPanel, graphPanel } from "./graph-panel";
import { historyTable } from "./history-table";
import { imagePanel, statusRecord } from "./job-panel";
import type { View, ViewContext } from "./main";
import { stateDetails } from "./state-details";
import { timeline } from "./timeline";

const POLL_MS = 1000;
const FINAL_JOB_STATES = new Set(["SUCCEEDED", "FAILED", "REJECTED"]);
const REDRIVABLE = new Set(["FAILED", "ABORTED", "TIMED_OUT"]);

export function executionView(context: ViewContext, name: string): View {
  let timer: number | undefined;
  let disposed = false;
  let selected = new URLSearchParams(location.search).get("state") ?? undefined;
  let chosen = selected !== undefined;
  let detail: ExecutionDetail | undefined;
  let outcomes: Record<string, StateOutcome> = {};
  let graph: GraphPanel | undefined;
  let drawnSignature = "";
  const summary = h("div", { class: "execution-summary" });
  const message = h("p", { class: "action-message", role: "status" });
  const redriveHint = h("p", { class: "redrive-hint" });
  const stopButton = h("button", { type: "button", disabled: true, onclick: () => void act("stop") }, "Stop execution");
  const redriveButton = h("button", { type: "button", disabled: true, onclick: () => void act("redrive") }, "Redrive");
  const graphSlot = h("div", { class: "graph-slot" });
  const detailsSlot = h("div", { class: "details-slot" });
  const imageSlot = h("div");
  const recordSlot = h("div");
  const timelineSlot = h("div");
  const historySlot = h("div");
  const ioSlot = h("div");

  const load = async () => {
    window.clearTimeout(timer);
    try {
      detail = await getJson<ExecutionDetail>(`/api/executions/${encodeURIComponent(name)}`);
      if (disposed) return;
      render(detail);
    } catch (error) {
      if (disposed) return;
      message.textContent = `Could not read execution ${name}: ${String(error)}`;
    }
    const running = detail?.execution.status === "RUNNING";
    const jobSettling = detail && "body" in detail.job && !FINAL_JOB_STATES.has(String(detail.job.body.status ?? ""));
    // The status record is written just before the execution ends: read until both have settled.
    if (!disposed && (running || jobSettling || !detail)) timer = window.setTimeout(() => void load(), POLL_MS);
  };

  const select = (state: string) => {
    selected = state;
    chosen = true;
    const url = new URL(location.href);
    url.searchParams.set("state", state);
    history.replaceState(null, "", url);
    if (detail) render(detail, true);
  };

  const render = (current: ExecutionDetail, force = false) => {
    const { execution } = current;
    const job = "body" in current.job && current.job.status === 200 ? current.job.body : undefined;
    outcomes = stateOutcomes(current.definition as unknown as AslDefinition, current.history);
    if (!chosen) selected = stateOfInterest(outcomes);
    const start = Date.parse(execution.startDate);
    const end = execution.stopDate ? Date.parse(execution.stopDate) : Date.now();
    replaceChildren(
      summary,
      h(
        "dl",
        { class: "facts facts--inline" },
        h("dt", {}, "Status"),
        h("dd", {}, statusBadge(execution.status)),
        h("dt", {}, "Started"),
        h("dd", {}, formatDateTime(start)),
        h("dt", {}, "Duration"),
        h("dd", {}, `${formatDuration(end - start)}${execution.stopDate ? "" : " so far"}`),
        execution.redriveCount ? [h("dt", {}, "Redriven"), h("dd", {}, `${execution.redriveCount}×`)] : "",
        job?.status ? [h("dt", {}, "Job"), h("dd", {}, statusBadge(String(job.status)))] : "",
      ),
    );
    stopButton.disabled = execution.status !== "RUNNING";
    // DescribeExecution says whether RedriveExecution would take it; an endpoint that does not say, by its status.
    redriveButton.disabled = execution.redriveStatus
      ? execution.redriveStatus !== "REDRIVABLE"
      : !REDRIVABLE.has(execution.status);
    redriveButton.title = execution.redriveStatusReason ?? "";
    redriveHint.textContent = redriveButton.disabled ? "" : failStateNote(current.definition, outcomes);
    graph ??= graphPanel(current.definition, select);
    if (!graphSlot.contains(graph.element)) replaceChildren(graphSlot, graph.element);
    graph.update(outcomes, selected);
    replaceChildren(timelineSlot, timeline(current.history, job));
    const signature = JSON.stringify([execution.status, current.history.length, current.job, selected, current.image]);
    if (signature === drawnSignature && !force) return;
    drawnSignature = signature;
    replaceChildren(
      detailsSlot,
      stateDetails(selected, selected ? outcomes[selected] : undefined, current.history, job),
    );
    replaceChildren(
      imageSlot,
      imagePanel(current, context.config.bedrockIsStandIn) ?? imageNote(execution.status, job),
    );
    replaceChildren(recordSlot, statusRecord(current, name));
    replaceChildren(historySlot, historyTable(current.history));
    replaceChildren(
      ioSlot,
      ioBlock("Input", execution.input),
      execution.output !== undefined ? ioBlock("Output", execution.output) : "",
      execution.error !== undefined || execution.cause !== undefined
        ? h(
            "div",
            { class: "state-error state-error--failed" },
            h("h3", {}, `Error: ${execution.error ?? "(none)"}`),
            h("pre", {}, prettyJson(execution.cause)),
          )
        : "",
    );
  };

  const act = async (action: "stop" | "redrive") => {
    message.textContent = action === "stop" ? "Stopping…" : "Redriving…";
    try {
      await postJson(`/api/executions/${encodeURIComponent(name)}/${action}`);
      message.textContent =
        action === "stop"
          ? "Stopped (StopExecution)."
          : "Redriven (RedriveExecution): it runs again from where it failed.";
      chosen = false;
    } catch (error) {
      message.textContent = `${action === "stop" ? "StopExecution" : "RedriveExecution"} was refused: ${error instanceof Error ? error.message : String(error)}`;
    }
    await load();
  };

  return {
    title: `Execution ${name}`,
    nav: "executions",
    mount(main) {
      replaceChildren(
        main,
        h("p", { class: "breadcrumb" }, h("a", { href: "/" }, "Executions"), " / ", name),
        h("h1", {}, `Execution ${name}`),
        summary,
        h("div", { class: "actions" }, stopButton, redriveButton),
        redriveHint,
        message,
        h(
          "section",
          { "aria-labelledby": "graph-title" },
          h("h2", { id: "graph-title" }, "Graph"),
          h(
            "div",
            { class: "graph-layout" },
            graphSlot,
            h(
              "div",
              { class: "graph-side" },
              h("section", { "aria-labelledby": "image-title" }, h("h3", { id: "image-title" }, "Image"), imageSlot),
              detailsSlot,
            ),
          ),
        ),
        h(
          "div",
          { class: "job-columns" },
          h(
            "section",
            { "aria-labelledby": "record-title" },
            h("h2", { id: "record-title" }, "Status record"),
            recordSlot,
          ),
          h(
            "section",
            { "aria-labelledby": "io-title" },
            h("h2", { id: "io-title" }, "Execution input and output"),
            ioSlot,
          ),
        ),
        h(
          "section",
          { "aria-labelledby": "timeline-title" },
          h("h2", { id: "timeline-title" }, "Timeline"),
          timelineSlot,
        ),
        h(
          "section",
          { "aria-labelledby": "history-title" },
          h("h2", { id: "history-title" }, "Event history"),
          historySlot,
        ),
      );
      return load();
    },
    dispose() {
      disposed = true;
      window.clearTimeout(timer);
    },
  };
}

/** The state a reader wants first: the one whose error was caught or that failed, else the one running now. */
function stateOfInterest(outcomes: Record<string, StateOutcome>): string | undefined {
  const entries = Object.entries(outcomes);
  // A caught error is where a failure started; the Fail state after it only repeats it.
  return (
    entries.find(([, outcome]) => outcome.status === "caught")?.[0] ??
    entries.find(([, outcome]) => outcome.status === "failed" && outcome.error !== undefined)?.[0] ??
    entries.find(([, outcome]) => outcome.status === "in-progress")?.[0]
  );
}

function imageNote(status: string, job: Record<string, unknown> | undefined): HTMLElement {
  if (status === "RUNNING") return h("p", {}, "No image yet: the job is still running.");
  return h("p", {}, `No image: the job ended ${String(job?.status ?? status)}.`);
}

function ioBlock(title: string, text: string | undefined): HTMLElement {
  return h("details", { class: "json-block" }, h("summary", {}, title), h("pre", { tabindex: "0" }, prettyJson(text)));
}

/**
 * A redrive restarts from the unsuccessful state (docs/ARCHITECTURE.md §4). When that is a Fail state, as for every
 * job whose failure the state machine caught and recorded, it runs that state again and fails at once, as on AWS.
 */
function failStateNote(definition: ExecutionDetail["definition"], outcomes: Record<string, StateOutcome>): string {
  const states = (definition as unknown as AslDefinition).States;
  const failed = Object.entries(outcomes).find(
    ([name, outcome]) => outcome.status === "failed" && states[name]?.Type === "Fail",
  );
  if (!failed) return "";
  return `This job's failure was recorded and it ended in its Fail state (${failed[0]}): a redrive runs ${failed[0]} again and fails at once, as on AWS. Start it again as a new job instead.`;
}
