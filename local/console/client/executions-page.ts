/// <reference lib="dom" />
// The executions list: newest first, a status filter, a search over jobIds and prompts, pages; refreshed every 2 s.
import type { ConsoleConfig, ExecutionPage, ExecutionRow } from "../api-types";
import { getJson } from "./api";
import { h, replaceChildren, statusBadge } from "./dom";
import { formatDateTime, formatDuration } from "./format";
import type { View, ViewContext } from "./main";

const STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"];
const REFRESH_MS = 2000;
const PROMPT_CHARACTERS = 90;

export function executionsView(context: ViewContext): View {
  const query = new URLSearchParams(location.search);
  const state = { status: query.get("status") ?? "", q: query.get("q") ?? "", page: Number(query.get("page")) || 1 };
  let timer: number | undefined;
  let searchTimer: number | undefined;
  let lastAnswer = "";
  let disposed = false;
  const summary = h("p", { class: "list-summary", role: "status" }, "Reading the executions…");
  const body = h("tbody");
  const pager = h("nav", { class: "pager", "aria-label": "Pages of executions" });

  const load = async () => {
    window.clearTimeout(timer);
    const params = new URLSearchParams();
    if (state.status) params.set("status", state.status);
    if (state.q) params.set("q", state.q);
    if (state.page > 1) params.set("page", String(state.page));
    const search = params.toString();
    history.replaceState(null, "", search ? `/?${search}` : "/");
    try {
      const page = await getJson<ExecutionPage>(`/api/executions?${search}`);
      if (disposed) return;
      const answer = JSON.stringify(page);
      if (answer !== lastAnswer) {
        lastAnswer = answer;
        render(page);
      }
    } catch (error) {
      summary.textContent = `Could not read the executions: ${String(error)}`;
    }
    if (!disposed) timer = window.setTimeout(() => void load(), REFRESH_MS);
  };

  const render = (page: ExecutionPage) => {
    state.page = page.page;
    const first = page.total === 0 ? 0 : (page.page - 1) * page.pageSize + 1;
    const last = Math.min(page.total, page.page * page.pageSize);
    const more = page.complete ? "" : "+";
    const partial = !page.complete
      ? " Still listing the executions."
      : page.indexed < page.executions
        ? ` Prompts read for ${page.indexed} of ${page.executions}; a search covers those.`
        : "";
    const all = page.total !== page.executions ? ` (${page.executions.toLocaleString("en")}${more} in all)` : "";
    summary.textContent =
      page.total === 0
        ? `No execution matches.${partial}`
        : `Showing ${first}–${last} of ${page.total.toLocaleString("en")}${more} execution${page.total === 1 ? "" : "s"}${all}.${partial}`;
    const focused = (document.activeElement as HTMLElement | null)?.dataset.focusKey;
    replaceChildren(
      body,
      page.items.map((row) => executionRow(row, context.config)),
    );
    const pageCount = Math.max(1, Math.ceil(page.total / page.pageSize));
    replaceChildren(
      pager,
      h(
        "button",
        { type: "button", "data-focus-key": "previous", disabled: page.page <= 1, onclick: () => go(page.page - 1) },
        "Previous",
      ),
      h("span", {}, ` Page ${page.page} of ${pageCount} `),
      h(
        "button",
        {
          type: "button",
          "data-focus-key": "next",
          disabled: page.page >= pageCount,
          onclick: () => go(page.page + 1),
        },
        "Next",
      ),
    );
    if (focused) document.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
  };
  const go = (page: number) => {
    state.page = page;
    void load();
  };

  return {
    title: "Executions",
    nav: "executions",
    mount(main) {
      const searchBox = h("input", { id: "search", type: "search", value: state.q, autocomplete: "off" });
      searchBox.addEventListener("input", () => {
        window.clearTimeout(searchTimer);
        searchTimer = window.setTimeout(() => {
          state.q = searchBox.value.trim();
          state.page = 1;
          void load();
        }, 250);
      });
      const statusBox = h(
        "select",
        { id: "status-filter" },
        h("option", { value: "" }, "All statuses"),
        STATUSES.map((status) => h("option", { value: status, selected: status === state.status }, status)),
      );
      statusBox.addEventListener("change", () => {
        state.status = statusBox.value;
        state.page = 1;
        void load();
      });
      replaceChildren(
        main,
        h("h1", {}, "Executions"),
        h(
          "form",
          { class: "filters", role: "search", onsubmit: (event: Event) => event.preventDefault() },
          h("label", { for: "search" }, "Search by jobId or prompt"),
          searchBox,
          h("label", { for: "status-filter" }, "Status"),
          statusBox,
        ),
        summary,
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "executions" },
            h("caption", { class: "visually-hidden" }, "Executions of the state machine, newest first"),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["Status", "Job ID", "Source", "Prompt", "Model", "Started", "Duration"].map((label) =>
                  h("th", { scope: "col" }, label),
                ),
              ),
            ),
            body,
          ),
        ),
        pager,
      );
      void load();
    },
    dispose() {
      disposed = true;
      window.clearTimeout(timer);
      window.clearTimeout(searchTimer);
    },
  };
}

function executionRow(row: ExecutionRow, config: ConsoleConfig): HTMLTableRowElement {
  const facts = row.facts;
  const prompt = facts?.prompt ?? "";
  const shortPrompt = prompt.length > PROMPT_CHARACTERS ? `${prompt.slice(0, PROMPT_CHARACTERS)}…` : prompt;
  const modelName = facts ? (config.models.find((model) => model.id === facts.model)?.name ?? facts.model) : "";
  const ended = row.stopDate ?? Date.now();
  return h(
    "tr",
    {},
    h("td", {}, statusBadge(row.status)),
    h(
      "td",
      {},
      h("a", { href: `/executions/${encodeURIComponent(row.name)}`, "data-focus-key": `row-${row.name}` }, row.name),
    ),
    h("td", {}, facts?.source ?? ""),
    h(
      "td",
      { class: "prompt", title: prompt.length > PROMPT_CHARACTERS ? prompt : undefined },
      facts ? shortPrompt : "…",
    ),
    h("td", {}, modelName, facts?.modelIsDefault ? h("span", { class: "muted" }, " (default)") : ""),
    h("td", {}, h("time", { datetime: new Date(row.startDate).toISOString() }, formatDateTime(row.startDate))),
    h("td", {}, formatDuration(ended - row.startDate), row.stopDate ? "" : h("span", { class: "muted" }, " so far")),
  );
}
