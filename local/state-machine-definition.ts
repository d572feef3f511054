import { readFileSync } from "node:fs";
import { ASL_PATH, type DefinitionSubstitutions } from "../statemachine/substitutions";

/**
 * The definition as the local stack and the tests run it: task functions named `<functionArnPrefix>:<step>`
 * (validate-prompt, store-image), the given table and generate queue (the waiting room).
 */
export function localDefinition(
  functionArnPrefix: string,
  tableName: string,
  generateQueueUrl: string,
): Record<string, unknown> {
  return loadDefinition({
    ValidatePromptFunctionArn: `${functionArnPrefix}:validate-prompt`,
    GenerateQueueUrl: generateQueueUrl,
    StoreImageFunctionArn: `${functionArnPrefix}:store-image`,
    JobStatusTableName: tableName,
  });
}

/** Reads the ASL file and fills its placeholders, failing on any placeholder left unfilled. */
export function loadDefinition(substitutions: DefinitionSubstitutions): Record<string, unknown> {
  const text = readFileSync(ASL_PATH, "utf8").replace(/\$\{(\w+)\}/g, (placeholder, name: string) => {
    const value = (substitutions as unknown as Record<string, string | undefined>)[name];
    if (value === undefined) throw new Error(`No substitution for ${placeholder} in ${ASL_PATH}`);
    return value;
  });
  return JSON.parse(text) as Record<string, unknown>;
}

/**
 * Multiplies every Retry interval and cap by `scale` (0.01 turns 3 s into 30 ms), keeping the schedule's shape:
 * backoff rate, attempts and jitter stay as written. Used by tests and benchmarks; 1 leaves the file as it is.
 */
export function scaleRetryIntervals(definition: Record<string, unknown>, scale: number): Record<string, unknown> {
  if (scale === 1) return definition;
  const copy = structuredClone(definition) as { States: Record<string, { Retry?: Record<string, number>[] }> };
  for (const state of Object.values(copy.States)) {
    for (const retrier of state.Retry ?? []) {
      retrier.IntervalSeconds = (retrier.IntervalSeconds ?? 1) * scale;
      if (retrier.MaxDelaySeconds !== undefined) retrier.MaxDelaySeconds *= scale;
    }
  }
  return copy as unknown as Record<string, unknown>;
}

/**
 * Sets every task's HeartbeatSeconds that has one (the waiting room's) to `seconds`: tests that let a generator die
 * holding a token use it to see the heartbeat timeout in seconds rather than the real twenty minutes.
 */
export function withHeartbeatSeconds(definition: Record<string, unknown>, seconds: number): Record<string, unknown> {
  const copy = structuredClone(definition) as { States: Record<string, { HeartbeatSeconds?: number }> };
  for (const state of Object.values(copy.States)) {
    if (state.HeartbeatSeconds !== undefined) state.HeartbeatSeconds = seconds;
  }
  return copy as unknown as Record<string, unknown>;
}
