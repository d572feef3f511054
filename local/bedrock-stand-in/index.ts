export { STAND_IN_SOFTWARE } from "./draw-image";
export { DEFAULT_FAULTS, type FaultSettings } from "./faults";
export { LIFECYCLE_STATUSES } from "./model-lifecycle";
export { seededRandom } from "./seeded-random";
export {
  type BedrockStandIn,
  type BedrockStandInOptions,
  type BedrockStandInStats,
  FAULT_HEADER,
  LOG_PREFIX,
  STAND_IN_HEADER,
  type StandInLifecycleStatus,
  startBedrockStandIn,
} from "./server";
