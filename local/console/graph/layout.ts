import { layout as dagreLayout, type EdgeLabel, type GraphLabel, graphlib, type NodeLabel } from "@dagrejs/dagre";

/** The parts of an ASL definition the graph reads; the rest of each state is carried along untouched. */
export interface AslDefinition {
  StartAt: string;
  States: Readonly<Record<string, AslState>>;
  Comment?: string;
  TimeoutSeconds?: number;
  [field: string]: unknown;
}

export interface AslState {
  Type: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: readonly AslChoiceRule[];
  Catch?: readonly AslCatcher[];
  Comment?: string;
  [field: string]: unknown;
}

export interface AslChoiceRule {
  Next: string;
  Comment?: string;
  /** JSONata choice rules. */
  Condition?: string;
  /** JSONPath choice rules: the comparison is the rule's one other field (StringEquals, NumericGreaterThan…). */
  Variable?: string;
  [field: string]: unknown;
}

export interface AslCatcher {
  ErrorEquals: readonly string[];
  Next: string;
  [field: string]: unknown;
}

export type GraphEdgeKind = "next" | "choice" | "default" | "catch";

export interface GraphNode {
  name: string;
  /** The state's Type, or "Start" / "End" for the two nodes the graph adds around the states. */
  type: string;
  /** The centre, as dagre places it. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface GraphEdge {
  from: string;
  to: string;
  kind: GraphEdgeKind;
  /** A Catch's ErrorEquals, a Choice rule's condition, or "Default". */
  label?: string;
  /** Where dagre left room for the label: its centre and size. */
  labelBox?: { x: number; y: number; width: number; height: number };
  points: { x: number; y: number }[];
}

export interface GraphLayout {
  nodes: GraphNode[];
  edges: GraphEdge[];
  width: number;
  height: number;
}

const STATE_HEIGHT = 56;
const STATE_MIN_WIDTH = 180;
const TERMINAL_SIZE = { width: 80, height: 32 };
const LABEL_HEIGHT = 16;
const LABEL_MAX_CHARS = 40;
// Rough advance widths of the fonts GRAPH_CSS sets; dagre only needs room, not exact metrics.
const NAME_CHAR_WIDTH = 8.2;
const LABEL_CHAR_WIDTH = 6.4;

/**
 * Lays out a state machine top to bottom with dagre: a node per state, plus Start and End as the AWS console draws
 * them, and an edge per Next, Choice rule, Default and Catch. Only top-level states are drawn: a Map or Parallel
 * state is one node (our pipeline has neither, and the console shows no branches).
 */
export function layoutGraph(definition: AslDefinition): GraphLayout {
  const stateNames = Object.keys(definition.States);
  const start = unusedName("Start", stateNames);
  const end = unusedName("End", stateNames);
  const edges = stateTransitions(definition, start, end);
  const nodeNames = new Set([start, end, ...stateNames]);
  const problems = edges
    .filter((edge) => !nodeNames.has(edge.to))
    .map((edge) =>
      edge.from === start
        ? `StartAt names "${edge.to}", which is not a state`
        : `"${edge.from}" goes to "${edge.to}" (${edge.kind}), which is not a state`,
    );
  if (problems.length > 0) throw new Error(`Cannot draw the state machine: ${problems.join("; ")}.`);

  const graph = new graphlib.Graph<GraphLabel, NodeLabel, EdgeLabel>({ multigraph: true });
  // Aligned up-right, with Next edges heavier than Catch edges, the path a job normally takes is one straight column.
  graph.setGraph({ rankdir: "TB", align: "UR", nodesep: 48, ranksep: 44, edgesep: 16, marginx: 16, marginy: 16 });
  graph.setNode(start, { ...TERMINAL_SIZE });
  for (const name of stateNames) {
    graph.setNode(name, {
      width: Math.max(STATE_MIN_WIDTH, Math.ceil(name.length * NAME_CHAR_WIDTH) + 32),
      height: STATE_HEIGHT,
    });
  }
  graph.setNode(end, { ...TERMINAL_SIZE });
  edges.forEach((edge, index) => {
    const label = edge.label
      ? { width: Math.ceil(edge.label.length * LABEL_CHAR_WIDTH) + 8, height: LABEL_HEIGHT, labelpos: "c" as const }
      : {};
    graph.setEdge(edge.from, edge.to, { ...label, weight: edge.kind === "catch" ? 1 : 4 }, String(index));
  });
  dagreLayout(graph);

  const typeOf = (name: string) => (name === start ? "Start" : name === end ? "End" : definition.States[name]!.Type);
  return {
    nodes: graph.nodes().map((name) => {
      const { x = 0, y = 0, width, height } = graph.node(name);
      return { name, type: typeOf(name), x, y, width, height };
    }),
    edges: edges.map((edge, index) => {
      const placed = graph.edge(edge.from, edge.to, String(index));
      const { x, y, width, height } = placed;
      const labelBox =
        edge.label !== undefined && x !== undefined && y !== undefined && width && height
          ? { labelBox: { x, y, width, height } }
          : {};
      return { ...edge, ...labelBox, points: (placed.points ?? []).map((point) => ({ x: point.x, y: point.y })) };
    }),
    width: graph.graph().width ?? 0,
    height: graph.graph().height ?? 0,
  };
}

function stateTransitions(definition: AslDefinition, start: string, end: string): Omit<GraphEdge, "points">[] {
  const edges: Omit<GraphEdge, "points">[] = [{ from: start, to: definition.StartAt, kind: "next" }];
  for (const [name, state] of Object.entries(definition.States)) {
    state.Choices?.forEach((rule, index) => {
      edges.push({ from: name, to: rule.Next, kind: "choice", label: choiceRuleLabel(rule, index) });
    });
    if (state.Default !== undefined) edges.push({ from: name, to: state.Default, kind: "default", label: "Default" });
    if (state.Next !== undefined) edges.push({ from: name, to: state.Next, kind: "next" });
    for (const catcher of state.Catch ?? []) {
      edges.push({ from: name, to: catcher.Next, kind: "catch", label: catcher.ErrorEquals.join(", ") });
    }
    if (state.End === true || state.Type === "Succeed" || state.Type === "Fail") {
      edges.push({ from: name, to: end, kind: "next" });
    }
  }
  return edges;
}

/** The rule's Comment if it has one, else its condition, shortened to fit beside the arrow. */
function choiceRuleLabel(rule: AslChoiceRule, index: number): string {
  const comparison = Object.entries(rule).find(
    ([field]) => !["Next", "Comment", "Variable", "Assign", "Output"].includes(field),
  );
  const condition =
    rule.Comment ??
    rule.Condition ??
    (rule.Variable !== undefined && comparison
      ? `${rule.Variable} ${comparison[0]} ${JSON.stringify(comparison[1])}`
      : undefined);
  if (condition === undefined) return `Rule ${index + 1}`;
  return condition.length > LABEL_MAX_CHARS ? `${condition.slice(0, LABEL_MAX_CHARS - 1)}…` : condition;
}

/** A state may itself be called "Start" or "End": the added node then takes the next free name. */
function unusedName(base: string, taken: readonly string[]): string {
  let name = base;
  for (let suffix = 2; taken.includes(name); suffix++) name = `${base} ${suffix}`;
  return name;
}
