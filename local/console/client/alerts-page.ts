/// <reference lib="dom" />
// Every failure notice the alerts topic sent, as the team's email shows it: subject, body, and the executions it
// names as links. Read from the console's own subscription; refreshed every 2 s.
import type { ConsoleAlert } from "../api-types";
import { getJson } from "./api";
import { h, replaceChildren } from "./dom";
import { formatDateTime, plural } from "./format";
import type { View } from "./main";

const REFRESH_MS = 2000;

export function alertsView(): View {
  let timer: number | undefined;
  let disposed = false;
  let shown = "";
  const list = h("div", { class: "alerts" });
  const summary = h("p", { role: "status" }, "Reading the alerts…");

  const load = async () => {
    try {
      const { alerts } = await getJson<{ alerts: ConsoleAlert[] }>("/api/alerts");
      if (disposed) return;
      const answer = JSON.stringify(alerts);
      if (answer !== shown) {
        shown = answer;
        summary.textContent =
          alerts.length === 0 ? "No failure notice yet." : `${plural(alerts.length, "notice")}, newest first.`;
        replaceChildren(list, alerts.map(alertCard));
      }
    } catch (error) {
      summary.textContent = `Could not read the alerts: ${String(error)}`;
    }
    if (!disposed) timer = window.setTimeout(() => void load(), REFRESH_MS);
  };

  return {
    title: "Alerts",
    nav: "alerts",
    mount(main) {
      replaceChildren(
        main,
        h("h1", {}, "Alerts"),
        h(
          "p",
          {},
          "Failure notices published to the alerts topic, as the team's email shows them. The console reads them from a queue of its own on the topic; the inbox queue the banner prints is left for the AWS CLI.",
        ),
        summary,
        list,
      );
      void load();
    },
    dispose() {
      disposed = true;
      window.clearTimeout(timer);
    },
  };
}

function alertCard(alert: ConsoleAlert, index: number): HTMLElement {
  const titleId = `alert-${index}`;
  return h(
    "article",
    { class: "alert", "aria-labelledby": titleId },
    h("h2", { id: titleId, class: "alert__subject" }, alert.subject),
    h(
      "p",
      { class: "muted" },
      "Sent ",
      h("time", { datetime: alert.sentAt }, formatDateTime(Date.parse(alert.sentAt))),
    ),
    h("pre", { class: "alert__body", tabindex: "0" }, alert.message),
    alert.executions.length > 0
      ? h(
          "p",
          { class: "alert__links" },
          "Open in the console: ",
          alert.executions.map((execution, position) => [
            position > 0 ? ", " : "",
            h("a", { href: `/executions/${encodeURIComponent(execution.name)}` }, `execution ${execution.name}`),
          ]),
        )
      : "",
  );
}
