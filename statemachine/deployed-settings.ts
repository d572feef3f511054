/**
 * How the deployed state machine is configured by default: infra (CONFIG_DEFAULTS, ImageWorkflow) builds it with these,
 * and the local Step Functions endpoint describes its state machine with them, so DescribeStateMachine answers what
 * a default deployment's would. `-c stateMachineLogLevel` / `-c stateMachineLogExecutionData` change the deployed ones.
 */
export const DEPLOYED_STATE_MACHINE = {
  type: "STANDARD",
  logLevel: "ERROR",
  includeExecutionData: false,
  tracingEnabled: true,
} as const;
