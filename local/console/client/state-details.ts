/// <reference lib="dom" />
// The selected state: what happened to it, its retries, and its input, output, error and cause.
import type { HistoryEventJson } from "../api-types";
import { STATE_STATUS_LABELS, type StateOutcome } from "../graph";
import { h, prettyJson } from "./dom";
import { formatClock, formatDuration } from "./format";
import { bedrockCallsLine, failedAttempts } from "./history-facts";

/** The waiting room's task: the status record's waiting-room fields and Bedrock calls belong to it. */
export const WAITING_ROOM_STATE = "GenerateImage";

export function stateDetails(
  state: string | undefined,
  outcome: StateOutcome | undefined,
  history: readonly HistoryEventJson[],
  job: Record<string, unknown> | undefined,
): HTMLElement {
  const section = h("section", {
    class: "state-details",
    "aria-labelledby": "state-details-title",
    "aria-live": "polite",
  });
  if (!state || !outcome) {
    section.append(
      h("h3", { id: "state-details-title" }, "No state selected"),
      h("p", {}, "Select a state in the graph to see what happened to it."),
    );
    return section;
  }
  const attempts = failedAttempts(history, state);
  const facts: [string, string | Node][] = [["Status", STATE_STATUS_LABELS[outcome.status]]];
  if (outcome.retries > 0) {
    facts.push([
      "Retried",
      `${outcome.retries} time${outcome.retries === 1 ? "" : "s"} by the state machine (its Retry)`,
    ]);
  }
  if (outcome.enteredAt !== undefined) facts.push(["Entered", formatClock(outcome.enteredAt)]);
  if (outcome.exitedAt !== undefined) facts.push(["Exited", formatClock(outcome.exitedAt)]);
  if (outcome.enteredAt !== undefined) {
    const end = outcome.exitedAt ?? Date.now();
    facts.push([
      "Took",
      `${formatDuration(end - outcome.enteredAt)}${outcome.exitedAt === undefined ? " so far" : ""}`,
    ]);
  }
  if (outcome.caughtBy) facts.push(["Caught, went to", outcome.caughtBy]);
  if (state === WAITING_ROOM_STATE && job) {
    if (typeof job.waitingSince === "string") facts.push(["In the waiting room since", job.waitingSince]);
    if (typeof job.waitedSeconds === "number") facts.push(["Waited for a Bedrock slot", `${job.waitedSeconds} s`]);
    const calls = bedrockCallsLine(job.bedrockCalls, history, state, outcome.status !== "in-progress");
    if (calls) facts.push(["Bedrock", calls]);
  }
  section.append(
    h("h3", { id: "state-details-title" }, `State ${state}`),
    h(
      "dl",
      { class: "facts" },
      facts.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
    ),
  );
  if (outcome.error !== undefined || outcome.cause !== undefined) {
    section.append(
      h(
        "div",
        { class: `state-error state-error--${outcome.status}` },
        h("h4", {}, outcome.status === "caught" ? "Error (caught)" : "Error"),
        h("p", { class: "state-error__name" }, outcome.error ?? "(none)"),
        h("h4", {}, "Cause"),
        h("pre", { class: "state-error__cause" }, prettyJson(outcome.cause) || "(none)"),
      ),
    );
  }
  if (attempts.length > 1 || (attempts.length === 1 && outcome.retries > 0)) {
    // The cause is shown once above when every attempt had the same one.
    const oneCause = attempts.every((attempt) => attempt.cause === outcome.cause);
    section.append(
      h("h4", {}, `Failed attempts (${attempts.length})`),
      h(
        "ol",
        { class: "attempts" },
        attempts.map((attempt) =>
          h(
            "li",
            {},
            h("strong", {}, attempt.error),
            ` at ${formatClock(Date.parse(attempt.at))}`,
            attempt.cause && !oneCause ? `: ${attempt.cause}` : "",
          ),
        ),
      ),
    );
  }
  section.append(jsonBlock("Input", outcome.input), jsonBlock("Output", outcome.output));
  return section;
}

function jsonBlock(title: string, text: string | undefined): HTMLElement {
  return h(
    "details",
    { class: "json-block", open: text !== undefined },
    h("summary", {}, title),
    text === undefined ? h("p", { class: "muted" }, "None recorded.") : h("pre", { tabindex: "0" }, prettyJson(text)),
  );
}
