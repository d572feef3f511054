// The execution graph of the local console: pure functions, bundled for the browser and imported by Node tests.
export {
  type ExecutionHistoryEvent,
  type StateOutcome,
  type StateStatus,
  stateOutcomes,
  stateTimeline,
  type TimelineEntry,
  type TimelinePhase,
} from "./execution-history";
export {
  type AslCatcher,
  type AslChoiceRule,
  type AslDefinition,
  type AslState,
  type GraphEdge,
  type GraphEdgeKind,
  type GraphLayout,
  type GraphNode,
  layoutGraph,
} from "./layout";
export {
  describeOutcome,
  GRAPH_CSS,
  STATE_STATUS_LABELS,
  STATE_STATUS_LEGEND,
  type StatusSwatch,
} from "./status-style";
export { type RenderGraphOptions, renderGraphSvg } from "./svg";
