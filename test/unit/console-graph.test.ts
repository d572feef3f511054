// Verifies the local console's execution graph (local/console/graph): the layout of our real ASL file (every state a
// node, every Next, Choice and Catch an edge, no two nodes overlapping); each state's outcome and timeline read from
// histories written as Step Functions writes them, one per path of our pipeline (succeeded, InvalidPrompt caught,
// GenerateImage retried then caught, in progress, aborted, timed out, heartbeat timeout, redriven), with unknown event
// types and the three timestamp forms; the SVG's escaping, words, classes and aria-labels, and the legend's contrast.
// It cannot verify how the SVG looks in a browser or what axe-core says of the page: the console's e2e tests do.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  type AslDefinition,
  type ExecutionHistoryEvent,
  GRAPH_CSS,
  layoutGraph,
  renderGraphSvg,
  STATE_STATUS_LEGEND,
  type StateOutcome,
  stateOutcomes,
  stateTimeline,
} from "../../local/console/graph";

const pipeline: AslDefinition = JSON.parse(
  readFileSync(fileURLToPath(new URL("../../statemachine/image-pipeline.asl.json", import.meta.url)), "utf8"),
);

const START_MS = Date.UTC(2026, 0, 15, 9, 30, 0, 123);

type Stamp = (epochMs: number) => ExecutionHistoryEvent["timestamp"];
const asEpochSeconds: Stamp = (ms) => ms / 1000;
const asIsoString: Stamp = (ms) => new Date(ms).toISOString();
const asDate: Stamp = (ms) => new Date(ms);

interface TaskResource {
  resourceType: string;
  resource: string;
}
const LAMBDA: TaskResource = { resourceType: "lambda", resource: "invoke" };
const DYNAMODB: TaskResource = { resourceType: "dynamodb", resource: "updateItem" };
const SQS_CALLBACK: TaskResource = { resourceType: "sqs", resource: "sendMessage.waitForTaskToken" };

/**
 * Writes a history as Step Functions does: ids from 1, each event `afterMs` after the one before, details under
 * `<type>EventDetails` (`stateEnteredEventDetails` / `stateExitedEventDetails` for states).
 */
class HistoryWriter {
  readonly events: ExecutionHistoryEvent[] = [];
  now = START_MS;

  constructor(private readonly stamp: Stamp = asEpochSeconds) {}

  event(type: string, detailsKey: string, details: Record<string, unknown>, afterMs = 5): this {
    this.now += afterMs;
    const id = this.events.length + 1;
    this.events.push({ id, previousEventId: id - 1, timestamp: this.stamp(this.now), type, [detailsKey]: details });
    return this;
  }

  executionStarted(): this {
    const input = JSON.stringify({ prompt: "a red couch on the moon", pipeline: { caller: "start-job" } });
    return this.event("ExecutionStarted", "executionStartedEventDetails", {
      input,
      roleArn: "arn:aws:iam::123456789012:role/ImagePipelineRole",
    });
  }

  executionEnded(
    type: "ExecutionSucceeded" | "ExecutionFailed" | "ExecutionAborted" | "ExecutionTimedOut",
    details: Record<string, unknown>,
    afterMs = 5,
  ): this {
    return this.event(type, `${type.charAt(0).toLowerCase()}${type.slice(1)}EventDetails`, details, afterMs);
  }

  entered(name: string, type = "Task", afterMs = 5): this {
    return this.event(`${type}StateEntered`, "stateEnteredEventDetails", { name, input: `{"at":"${name}"}` }, afterMs);
  }

  exited(name: string, type = "Task"): this {
    return this.event(`${type}StateExited`, "stateExitedEventDetails", { name, output: `{"after":"${name}"}` });
  }

  /** TaskScheduled then TaskStarted; a retry's TaskScheduled comes `afterMs` (the retry interval) after the failure. */
  attempt(resource: TaskResource, afterMs = 5): this {
    return this.event(
      "TaskScheduled",
      "taskScheduledEventDetails",
      { ...resource, region: "eu-west-1", parameters: "{}", timeoutInSeconds: 30 },
      afterMs,
    ).event("TaskStarted", "taskStartedEventDetails", { ...resource });
  }

  /** A callback task's message is on the queue: the waiting room starts. */
  submitted(resource: TaskResource): this {
    return this.event("TaskSubmitted", "taskSubmittedEventDetails", { ...resource, output: '{"MessageId":"m-1"}' });
  }

  taskSucceeded(resource: TaskResource, afterMs = 5): this {
    return this.event("TaskSucceeded", "taskSucceededEventDetails", { ...resource, output: "{}" }, afterMs);
  }

  taskFailed(resource: TaskResource, error: string, cause: string, afterMs = 5): this {
    return this.event("TaskFailed", "taskFailedEventDetails", { ...resource, error, cause }, afterMs);
  }

  /** A Task state whose first attempt succeeds. */
  task(name: string, resource: TaskResource): this {
    return this.entered(name).attempt(resource).taskSucceeded(resource).exited(name);
  }

  succeedState(name: string): this {
    return this.entered(name, "Succeed").exited(name, "Succeed");
  }
}

/** ValidatePrompt and RecordRunning done; GenerateImage's message is in the waiting room. */
function waitingAtGenerateImage(writer = new HistoryWriter()): HistoryWriter {
  return writer
    .executionStarted()
    .task("ValidatePrompt", LAMBDA)
    .task("RecordRunning", DYNAMODB)
    .entered("GenerateImage")
    .attempt(SQS_CALLBACK)
    .submitted(SQS_CALLBACK);
}

function succeededEndToEnd(writer = new HistoryWriter()): HistoryWriter {
  return waitingAtGenerateImage(writer)
    .taskSucceeded(SQS_CALLBACK, 4000)
    .exited("GenerateImage")
    .task("StoreImage", LAMBDA)
    .task("RecordSucceeded", DYNAMODB)
    .succeedState("Succeeded")
    .executionEnded("ExecutionSucceeded", { output: '{"status":"SUCCEEDED"}' });
}

const MODEL_TIMEOUT_CAUSE = "Bedrock did not answer within 60 s";

/** GenerateImage's ModelTimeoutException retried twice (after 2.5 s, then 5 s), failing a third time: caught. */
function generateImageRetriedThenCaught(writer = new HistoryWriter()): HistoryWriter {
  return waitingAtGenerateImage(writer)
    .taskFailed(SQS_CALLBACK, "ModelTimeoutException", MODEL_TIMEOUT_CAUSE, 3000)
    .attempt(SQS_CALLBACK, 2500)
    .submitted(SQS_CALLBACK)
    .taskFailed(SQS_CALLBACK, "ModelTimeoutException", MODEL_TIMEOUT_CAUSE, 3000)
    .attempt(SQS_CALLBACK, 5000)
    .submitted(SQS_CALLBACK)
    .taskFailed(SQS_CALLBACK, "ModelTimeoutException", MODEL_TIMEOUT_CAUSE, 3000)
    .exited("GenerateImage")
    .task("RecordFailed", DYNAMODB)
    .entered("Failed", "Fail")
    .executionEnded("ExecutionFailed", { error: "ModelTimeoutException", cause: MODEL_TIMEOUT_CAUSE });
}

const statesOf = (definition: AslDefinition) => Object.keys(definition.States);

/** Each state's status, for states not listed: `otherwise`. */
function expectStatuses(
  outcomes: Record<string, StateOutcome>,
  listed: Record<string, StateOutcome["status"]>,
  otherwise: StateOutcome["status"] = "not-reached",
): void {
  const expected = Object.fromEntries(statesOf(pipeline).map((name) => [name, listed[name] ?? otherwise]));
  expect(Object.fromEntries(Object.entries(outcomes).map(([name, outcome]) => [name, outcome.status]))).toEqual(
    expected,
  );
}

describe("layoutGraph", () => {
  const layout = layoutGraph(pipeline);

  it("draws every state of our pipeline, plus Start and End, with no two nodes overlapping", () => {
    expect(layout.nodes.map((node) => node.name).sort()).toEqual([...statesOf(pipeline), "Start", "End"].sort());
    for (const node of layout.nodes.filter((node) => node.type !== "Start" && node.type !== "End")) {
      expect(node.type).toBe(pipeline.States[node.name]!.Type);
    }
    for (const [index, a] of layout.nodes.entries()) {
      for (const b of layout.nodes.slice(index + 1)) {
        const apartX = Math.abs(a.x - b.x) >= (a.width + b.width) / 2;
        const apartY = Math.abs(a.y - b.y) >= (a.height + b.height) / 2;
        expect(apartX || apartY, `${a.name} and ${b.name} overlap`).toBe(true);
      }
    }
    for (const node of layout.nodes) {
      expect(node.x - node.width / 2).toBeGreaterThanOrEqual(0);
      expect(node.x + node.width / 2).toBeLessThanOrEqual(layout.width);
      expect(node.y + node.height / 2).toBeLessThanOrEqual(layout.height);
    }
  });

  it("draws every Next and Catch as an edge, catch edges labelled with their ErrorEquals", () => {
    const drawn = layout.edges.map(({ from, to, kind, label }) => ({ from, to, kind, label }));
    for (const [name, state] of Object.entries(pipeline.States)) {
      if (state.Next) expect(drawn).toContainEqual({ from: name, to: state.Next, kind: "next", label: undefined });
      for (const catcher of state.Catch ?? []) {
        expect(drawn).toContainEqual({
          from: name,
          to: catcher.Next,
          kind: "catch",
          label: catcher.ErrorEquals.join(", "),
        });
      }
    }
    expect(drawn).toContainEqual({
      from: "ValidatePrompt",
      to: "RecordRejected",
      kind: "catch",
      label: "InvalidPrompt",
    });
    expect(drawn).toContainEqual({
      from: "GenerateImage",
      to: "RecordRejected",
      kind: "catch",
      label: "ContentBlocked",
    });
    expect(drawn).toContainEqual({ from: "Start", to: "ValidatePrompt", kind: "next", label: undefined });
    for (const terminal of ["Succeeded", "Rejected", "Failed"]) {
      expect(drawn).toContainEqual({ from: terminal, to: "End", kind: "next", label: undefined });
    }
    const transitions = Object.values(pipeline.States).reduce(
      (count, state) => count + (state.Next ? 1 : 0) + (state.Catch?.length ?? 0),
      0,
    );
    expect(layout.edges).toHaveLength(transitions + 1 + 3);
    for (const edge of layout.edges) {
      expect(edge.points.length).toBeGreaterThanOrEqual(2);
      expect(edge.points.every(({ x, y }) => Number.isFinite(x) && Number.isFinite(y))).toBe(true);
    }
  });

  it("keeps the path a job normally takes in one column", () => {
    const column = ["ValidatePrompt", "RecordRunning", "GenerateImage", "StoreImage", "RecordSucceeded", "Succeeded"];
    const xs = new Set(column.map((name) => layout.nodes.find((node) => node.name === name)!.x));
    expect(xs.size).toBe(1);
  });

  it("draws Choice rules and Default, a Map as one node, and renames Start and End when states take those names", () => {
    const layout = layoutGraph({
      StartAt: "Start",
      States: {
        Start: { Type: "Pass", Next: "Route" },
        Route: {
          Type: "Choice",
          Choices: [
            { Variable: "$.size", NumericGreaterThan: 100, Next: "Each" },
            { Condition: "{% $states.input.fast %}", Next: "End" },
          ],
          Default: "End",
        },
        Each: {
          Type: "Map",
          ItemProcessor: { StartAt: "Inner", States: { Inner: { Type: "Pass", End: true } } },
          Next: "End",
        },
        End: { Type: "Succeed" },
      },
    });
    expect(layout.nodes.map(({ name, type }) => ({ name, type }))).toEqual(
      expect.arrayContaining([
        { name: "Start 2", type: "Start" },
        { name: "End 2", type: "End" },
        { name: "Each", type: "Map" },
      ]),
    );
    expect(layout.nodes.some((node) => node.name === "Inner")).toBe(false);
    expect(layout.edges.map(({ from, to, kind, label }) => ({ from, to, kind, label }))).toEqual([
      { from: "Start 2", to: "Start", kind: "next", label: undefined },
      { from: "Start", to: "Route", kind: "next", label: undefined },
      { from: "Route", to: "Each", kind: "choice", label: "$.size NumericGreaterThan 100" },
      { from: "Route", to: "End", kind: "choice", label: "{% $states.input.fast %}" },
      { from: "Route", to: "End", kind: "default", label: "Default" },
      { from: "Each", to: "End", kind: "next", label: undefined },
      { from: "End", to: "End 2", kind: "next", label: undefined },
    ]);
  });

  it("says which transitions name a state that does not exist", () => {
    expect(() =>
      layoutGraph({ StartAt: "Missing", States: { A: { Type: "Task", Next: "Nowhere", End: false } } }),
    ).toThrow(
      'Cannot draw the state machine: StartAt names "Missing", which is not a state; "A" goes to "Nowhere" (next)',
    );
  });
});

describe("stateOutcomes and stateTimeline", () => {
  it("an execution that succeeded end to end: the happy path succeeded, the rest not reached", () => {
    const history = succeededEndToEnd().events;
    const outcomes = stateOutcomes(pipeline, history);

    expectStatuses(outcomes, {
      ValidatePrompt: "succeeded",
      RecordRunning: "succeeded",
      GenerateImage: "succeeded",
      StoreImage: "succeeded",
      RecordSucceeded: "succeeded",
      Succeeded: "succeeded",
    });
    expect(outcomes.GenerateImage).toMatchObject({
      retries: 0,
      input: '{"at":"GenerateImage"}',
      output: '{"after":"GenerateImage"}',
      error: undefined,
    });
    const generateImage = stateTimeline(history).find((entry) => entry.state === "GenerateImage")!;
    expect(generateImage.phases.map((phase) => phase.kind)).toEqual(["scheduled", "running", "waiting"]);
    const waiting = generateImage.phases[2]!;
    expect(waiting.endedAt! - waiting.startedAt).toBe(4000);
    expect(outcomes.GenerateImage!.exitedAt! - outcomes.GenerateImage!.enteredAt!).toBe(
      generateImage.endedAt! - generateImage.startedAt,
    );
  });

  it("InvalidPrompt: ValidatePrompt is caught and its Catch goes to RecordRejected, which ends at Rejected", () => {
    const history = new HistoryWriter()
      .executionStarted()
      .entered("ValidatePrompt")
      .attempt(LAMBDA)
      .taskFailed(LAMBDA, "InvalidPrompt", "prompt must be 1 to 512 characters; got 0")
      .exited("ValidatePrompt")
      .task("RecordRejected", DYNAMODB)
      .succeedState("Rejected")
      .executionEnded("ExecutionSucceeded", { output: "{}" }).events;
    const outcomes = stateOutcomes(pipeline, history);

    expectStatuses(outcomes, { ValidatePrompt: "caught", RecordRejected: "succeeded", Rejected: "succeeded" });
    expect(outcomes.ValidatePrompt).toMatchObject({
      retries: 0,
      error: "InvalidPrompt",
      cause: "prompt must be 1 to 512 characters; got 0",
      caughtBy: "RecordRejected",
    });
  });

  it("GenerateImage retried twice on ModelTimeoutException, then caught into RecordFailed and the Fail state", () => {
    const history = generateImageRetriedThenCaught().events;
    const outcomes = stateOutcomes(pipeline, history);

    expectStatuses(outcomes, {
      ValidatePrompt: "succeeded",
      RecordRunning: "succeeded",
      GenerateImage: "caught",
      RecordFailed: "succeeded",
      Failed: "failed",
    });
    expect(outcomes.GenerateImage).toMatchObject({
      retries: 2,
      error: "ModelTimeoutException",
      cause: MODEL_TIMEOUT_CAUSE,
      caughtBy: "RecordFailed",
    });
    expect(outcomes.Failed).toMatchObject({ error: "ModelTimeoutException", cause: MODEL_TIMEOUT_CAUSE });
    expect(outcomes.Failed!.exitedAt).toBeDefined();

    const generateImage = stateTimeline(history).find((entry) => entry.state === "GenerateImage")!;
    expect(generateImage).toMatchObject({ status: "caught", retries: 2 });
    expect(generateImage.phases.map((phase) => phase.kind)).toEqual([
      ...["scheduled", "running", "waiting", "retry-wait"],
      ...["scheduled", "running", "waiting", "retry-wait"],
      ...["scheduled", "running", "waiting"],
    ]);
    const retryWaits = generateImage.phases.filter((phase) => phase.kind === "retry-wait");
    expect(retryWaits.map((phase) => phase.endedAt! - phase.startedAt)).toEqual([2500, 5000]);
    expect(generateImage.phases.every((phase) => phase.endedAt !== undefined)).toBe(true);
  });

  it("an execution in progress at GenerateImage: in progress there, later states not reached", () => {
    const history = waitingAtGenerateImage().events;
    const outcomes = stateOutcomes(pipeline, history);

    expectStatuses(outcomes, { ValidatePrompt: "succeeded", RecordRunning: "succeeded", GenerateImage: "in-progress" });
    expect(outcomes.GenerateImage!.enteredAt).toBeDefined();
    expect(outcomes.GenerateImage!.exitedAt).toBeUndefined();
    const last = stateTimeline(history).at(-1)!;
    expect(last).toMatchObject({ state: "GenerateImage", status: "in-progress", endedAt: undefined });
    expect(last.phases.at(-1)).toEqual({ kind: "waiting", startedAt: expect.any(Number) });
  });

  it("an execution waiting to retry GenerateImage: in progress, in an open retry-wait, not yet counted as a retry", () => {
    const history = waitingAtGenerateImage().taskFailed(
      SQS_CALLBACK,
      "ModelTimeoutException",
      MODEL_TIMEOUT_CAUSE,
      3000,
    ).events;

    expect(stateOutcomes(pipeline, history).GenerateImage).toMatchObject({
      status: "in-progress",
      retries: 0,
      error: "ModelTimeoutException",
    });
    const last = stateTimeline(history).at(-1)!;
    expect(last.phases.at(-1)).toEqual({ kind: "retry-wait", startedAt: expect.any(Number) });
  });

  it.each([
    ["aborted", "ExecutionAborted", { error: "Stopped", cause: "stopped from the console" }],
    ["timed out", "ExecutionTimedOut", { error: "States.Timeout", cause: "The execution ran for 3600 s" }],
  ] as const)(
    "an execution %s while in GenerateImage: cancelled there, later states not reached",
    (_, type, details) => {
      const writer = waitingAtGenerateImage().executionEnded(type, details, 60_000);
      const outcomes = stateOutcomes(pipeline, writer.events);

      expectStatuses(outcomes, { ValidatePrompt: "succeeded", RecordRunning: "succeeded", GenerateImage: "cancelled" });
      expect(outcomes.GenerateImage).toMatchObject({
        exitedAt: writer.now,
        error: details.error,
        cause: details.cause,
      });
      const generateImage = stateTimeline(writer.events).at(-1)!;
      expect(generateImage).toMatchObject({ state: "GenerateImage", status: "cancelled", endedAt: writer.now });
      expect(generateImage.phases.at(-1)).toMatchObject({ kind: "waiting", endedAt: writer.now });
    },
  );

  it("a TaskStateAborted written before ExecutionAborted cancels the state all the same", () => {
    const writer = waitingAtGenerateImage()
      .event("TaskStateAborted", "stateExitedEventDetails", { name: "GenerateImage" }, 60_000)
      .executionEnded("ExecutionAborted", {});

    expect(stateOutcomes(pipeline, writer.events).GenerateImage).toMatchObject({
      status: "cancelled",
      exitedAt: writer.now - 5,
    });
  });

  it("a heartbeat timeout (TaskTimedOut) in GenerateImage is caught into RecordFailed", () => {
    const history = waitingAtGenerateImage()
      .event(
        "TaskTimedOut",
        "taskTimedOutEventDetails",
        { ...SQS_CALLBACK, error: "States.HeartbeatTimeout", cause: "No heartbeat for 1200 s" },
        1_200_000,
      )
      .exited("GenerateImage")
      .task("RecordFailed", DYNAMODB)
      .entered("Failed", "Fail")
      .executionEnded("ExecutionFailed", { error: "States.HeartbeatTimeout", cause: "No heartbeat for 1200 s" }).events;
    const outcomes = stateOutcomes(pipeline, history);

    expectStatuses(outcomes, {
      ValidatePrompt: "succeeded",
      RecordRunning: "succeeded",
      GenerateImage: "caught",
      RecordFailed: "succeeded",
      Failed: "failed",
    });
    expect(outcomes.GenerateImage).toMatchObject({
      retries: 0,
      error: "States.HeartbeatTimeout",
      caughtBy: "RecordFailed",
    });
  });

  it("a redriven execution: the state that failed runs again, its last run wins and its retries are summed", () => {
    const throttled = (writer: HistoryWriter, attempts: number) => {
      for (let attempt = 0; attempt < attempts; attempt++) {
        writer
          .attempt(DYNAMODB, attempt === 0 ? 5 : 1000)
          .taskFailed(DYNAMODB, "DynamoDB.ThrottlingException", "Rate of requests exceeds the allowed throughput");
      }
      return writer;
    };
    const writer = new HistoryWriter()
      .executionStarted()
      .entered("ValidatePrompt")
      .attempt(LAMBDA)
      .taskFailed(LAMBDA, "InvalidPrompt", "prompt is empty")
      .exited("ValidatePrompt")
      .entered("RecordRejected");
    throttled(writer, 6).executionEnded("ExecutionFailed", {
      error: "DynamoDB.ThrottlingException",
      cause: "Rate of requests exceeds the allowed throughput",
    });
    const beforeRedrive = stateOutcomes(pipeline, writer.events);

    expectStatuses(beforeRedrive, { ValidatePrompt: "caught", RecordRejected: "failed" });
    expect(beforeRedrive.RecordRejected).toMatchObject({ retries: 5, error: "DynamoDB.ThrottlingException" });

    writer.event("ExecutionRedriven", "executionRedrivenEventDetails", { redriveCount: 1 }, 600_000);
    const reenteredAt = writer.now + 5;
    throttled(writer.entered("RecordRejected"), 1)
      .attempt(DYNAMODB, 1000)
      .taskSucceeded(DYNAMODB)
      .exited("RecordRejected")
      .succeedState("Rejected")
      .executionEnded("ExecutionSucceeded", { output: "{}" });
    const afterRedrive = stateOutcomes(pipeline, writer.events);

    expectStatuses(afterRedrive, { ValidatePrompt: "caught", RecordRejected: "succeeded", Rejected: "succeeded" });
    expect(afterRedrive.ValidatePrompt!.caughtBy).toBe("RecordRejected");
    expect(afterRedrive.RecordRejected).toMatchObject({ retries: 6, enteredAt: reenteredAt, error: undefined });
    expect(
      stateTimeline(writer.events)
        .filter((entry) => entry.state === "RecordRejected")
        .map(({ status, retries }) => ({ status, retries })),
    ).toEqual([
      { status: "failed", retries: 5 },
      { status: "succeeded", retries: 1 },
    ]);
  });

  it("ignores event types it does not know, with or without details", () => {
    const history = generateImageRetriedThenCaught().events;
    const withUnknown = [...history];
    withUnknown.splice(3, 0, {
      id: 0,
      timestamp: START_MS / 1000,
      type: "MapRunStarted",
      mapRunStartedEventDetails: {},
    });
    withUnknown.splice(9, 0, { id: 0, timestamp: START_MS / 1000, type: "SomethingNewFromAws", somethingNew: [1, 2] });
    const renumbered = withUnknown.map((event, index) => ({ ...event, id: index + 1, previousEventId: index }));

    expect(stateOutcomes(pipeline, renumbered)).toEqual(stateOutcomes(pipeline, history));
    expect(stateTimeline(renumbered)).toEqual(stateTimeline(history));
  });

  it("reads timestamps as epoch seconds, ISO strings or Dates alike, in either order of the history", () => {
    const [seconds, iso, dates] = [asEpochSeconds, asIsoString, asDate].map(
      (stamp) => generateImageRetriedThenCaught(new HistoryWriter(stamp)).events,
    );
    const outcomes = stateOutcomes(pipeline, seconds!);

    expect(outcomes.ValidatePrompt!.enteredAt).toBe(START_MS + 10);
    expect(stateOutcomes(pipeline, iso!)).toEqual(outcomes);
    expect(stateOutcomes(pipeline, dates!)).toEqual(outcomes);
    expect(stateOutcomes(pipeline, [...dates!].reverse())).toEqual(outcomes);
    expect(stateTimeline(iso!)).toEqual(stateTimeline(seconds!));
    expect(() => stateOutcomes(pipeline, [{ id: 1, timestamp: "yesterday", type: "ExecutionStarted" }])).toThrow(
      'History event 1 (ExecutionStarted) has timestamp "yesterday": expected epoch seconds',
    );
  });
});

/** The attributes of each state's `<g>`, by state name. */
function stateButtons(svg: string): Map<string, Record<string, string>> {
  const buttons = new Map<string, Record<string, string>>();
  for (const [, attributes] of svg.matchAll(/<g ([^>]*role="button"[^>]*)>/g)) {
    const parsed = Object.fromEntries(
      [...attributes!.matchAll(/([\w-]+)="([^"]*)"/g)].map(([, name, value]) => [name!, value!]),
    );
    buttons.set(parsed["data-state"]!, parsed);
  }
  return buttons;
}

describe("renderGraphSvg", () => {
  it("escapes state names and labels", () => {
    const name = 'A<&">B';
    const svg = renderGraphSvg(
      layoutGraph({
        StartAt: name,
        States: {
          [name]: { Type: "Task", Catch: [{ ErrorEquals: ["<Bad & Worse>"], Next: "Done" }], Next: "Done" },
          Done: { Type: "Succeed" },
        },
      }),
      {},
    );

    expect(svg).not.toContain(name);
    expect(svg).not.toContain("<Bad");
    expect(svg).toContain('data-state="A&lt;&amp;&quot;&gt;B"');
    expect(svg).toContain('aria-label="A&lt;&amp;&quot;&gt;B — Not reached"');
    expect(svg).toContain(">A&lt;&amp;&quot;&gt;B</text>");
    expect(svg).toContain(">&lt;Bad &amp; Worse&gt;</text>");
  });

  it("makes every state a focusable button whose aria-label and words say what happened", () => {
    const outcomes = stateOutcomes(pipeline, generateImageRetriedThenCaught().events);
    const svg = renderGraphSvg(layoutGraph(pipeline), outcomes, { selected: "GenerateImage" });
    const buttons = stateButtons(svg);

    expect([...buttons.keys()].sort()).toEqual(statesOf(pipeline).sort());
    for (const button of buttons.values()) expect(button).toMatchObject({ tabindex: "0", role: "button" });
    expect(buttons.get("GenerateImage")).toMatchObject({
      "aria-label": "GenerateImage — Caught, retried 2×",
      "aria-pressed": "true",
      class: "state state--caught state--retried state--selected",
    });
    expect(buttons.get("ValidatePrompt")).toMatchObject({
      "aria-label": "ValidatePrompt — Succeeded",
      "aria-pressed": "false",
      class: "state state--succeeded",
    });
    expect(buttons.get("Failed")).toMatchObject({ "aria-label": "Failed — Failed", class: "state state--failed" });
    expect(buttons.get("StoreImage")).toMatchObject({ "aria-label": "StoreImage — Not reached" });
    expect(svg).toContain(">Caught, retried 2×</text>");
    // Read as text, a node says the words of its aria-label: name, a space, status (WCAG 2.5.3, label in name).
    expect(svg).toContain('>GenerateImage</text> <text class="state__status"');

    const catches = Object.values(pipeline.States).reduce((count, state) => count + (state.Catch?.length ?? 0), 0);
    expect(svg.match(/class="graph-edge graph-edge--catch"/g)).toHaveLength(catches);
    expect(svg.match(/<text [^>]*>InvalidPrompt<\/text>/g)).toHaveLength(1);
  });

  it("says Retried N× and Running in words, and shows each state's type when there is no execution", () => {
    const retried: StateOutcome = { status: "succeeded", retries: 3 };
    const running: StateOutcome = { status: "in-progress", retries: 0 };
    const svg = renderGraphSvg(layoutGraph(pipeline), { StoreImage: retried, RecordSucceeded: running });

    expect(stateButtons(svg).get("StoreImage")!["aria-label"]).toBe("StoreImage — Retried 3×");
    expect(stateButtons(svg).get("RecordSucceeded")!["aria-label"]).toBe("RecordSucceeded — Running");
    const bare = stateButtons(renderGraphSvg(layoutGraph(pipeline)));
    expect(bare.get("Failed")).toMatchObject({ "aria-label": "Failed — Fail", class: "state" });
  });

  it("colours text on each status fill at WCAG AA, outlines at 3:1 on white, and styles every status class", () => {
    for (const { key, className, fill, stroke, text } of STATE_STATUS_LEGEND) {
      expect(contrast(text, fill), `${key} text on fill`).toBeGreaterThanOrEqual(4.5);
      expect(contrast(stroke, "#ffffff"), `${key} outline on white`).toBeGreaterThanOrEqual(3);
      expect(GRAPH_CSS).toContain(className);
    }
    expect(GRAPH_CSS).toMatch(/\.graph-edge--catch \{[^}]*stroke-dasharray/);
  });
});

/** WCAG 2 contrast ratio of two `#rrggbb` colours. */
function contrast(a: string, b: string): number {
  const luminance = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((at) => {
      const channel = Number.parseInt(hex.slice(at, at + 2), 16) / 255;
      return channel <= 0.04045 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light! + 0.05) / (dark! + 0.05);
}
