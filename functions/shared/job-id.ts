/** A jobId is a Step Functions execution name we choose: 1–80 of `[A-Za-z0-9_-]`. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;

export function isValidJobId(value: string): boolean {
  return JOB_ID_PATTERN.test(value);
}

/** The execution ARN follows from the state machine ARN and the execution name. */
export function executionArnFor(stateMachineArn: string, jobId: string): string {
  const parts = stateMachineArn.split(":");
  if (parts.length !== 7 || parts[5] !== "stateMachine") {
    throw new Error(`Not a state machine ARN: ${stateMachineArn}`);
  }
  return [...parts.slice(0, 5), "execution", parts[6], jobId].join(":");
}
