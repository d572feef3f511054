/// <reference lib="dom" />
// The console's page: one document, a view per path (/, /executions/{name}, /start, /alerts), links handled here.

import type { ConsoleConfig } from "../api-types";
import { alertsView } from "./alerts-page";
import { getJson } from "./api";
import { h, replaceChildren } from "./dom";
import { executionView } from "./execution-page";
import { executionsView } from "./executions-page";
import { startView } from "./start-page";

/** What a path shows: it draws itself into `main` and stops its polling when the page leaves it. */
export interface View {
  title: string;
  /** Which top link is the current page. */
  nav?: "executions" | "start" | "alerts";
  mount(main: HTMLElement): void | Promise<void>;
  dispose?(): void;
}

export interface ViewContext {
  config: ConsoleConfig;
  navigate(path: string): void;
}

const ROUTES: [RegExp, (match: RegExpExecArray, context: ViewContext) => View][] = [
  [/^\/$/, (_match, context) => executionsView(context)],
  [/^\/executions\/([^/]+)$/, (match, context) => executionView(context, decodeURIComponent(match[1] ?? ""))],
  [/^\/start$/, (_match, context) => startView(context)],
  [/^\/alerts$/, () => alertsView()],
];

let current: View | undefined;

async function show(context: ViewContext, focusMain: boolean): Promise<void> {
  current?.dispose?.();
  const main = document.getElementById("main") as HTMLElement;
  const path = location.pathname;
  const route = ROUTES.map(([pattern, view]) => [pattern.exec(path), view] as const).find(([match]) => match);
  const view: View = route
    ? route[1](route[0]!, context)
    : {
        title: "Not found",
        mount: (target) =>
          replaceChildren(
            target,
            h("h1", {}, "Not found"),
            h("p", {}, "No console page here. ", h("a", { href: "/" }, "See the executions.")),
          ),
      };
  current = view;
  document.title = `${view.title} · couch-imagegen local console`;
  for (const link of document.querySelectorAll<HTMLAnchorElement>("[data-nav]")) {
    if (link.dataset.nav === view.nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  replaceChildren(main);
  await view.mount(main);
  // After a link, focus moves to the new page's content, as a full page load would put it at the top.
  if (focusMain) main.focus();
}

async function start(): Promise<void> {
  const config = await getJson<ConsoleConfig>("/api/config");
  const context: ViewContext = {
    config,
    navigate: (path) => {
      history.pushState(null, "", path);
      void show(context, true);
    },
  };
  document.addEventListener("click", (event) => {
    const link = (event.target as Element | null)?.closest?.("a");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey)
      return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith("/api/") || link.target) return;
    event.preventDefault();
    context.navigate(`${url.pathname}${url.search}`);
  });
  window.addEventListener("popstate", () => void show(context, true));
  await show(context, false);
}

void start().catch((error: unknown) => {
  const main = document.getElementById("main");
  if (main) replaceChildren(main, h("p", { role: "alert" }, `The console could not load: ${String(error)}`));
});
