// Helpers for tests that read what the functions log and measure: the real Powertools Logger and Metrics, as the
// handlers create them, writing through their own console to stdout and stderr as in Lambda; the streams are captured.
import type { Context } from "aws-lambda";
import { type MockInstance, vi } from "vitest";
import {
  createFunctionLogger,
  invocationLogger,
  type PipelineFunction,
  type PipelineLogger,
} from "../../functions/shared/logger";
import { createPipelineMetrics, type PipelineMetrics } from "../../functions/shared/metrics";

export type OutputLine = Record<string, unknown>;

export interface CapturedOutput {
  /** Every JSON line written to stdout or stderr since the capture began, parsed. */
  lines(): OutputLine[];
  /** The log lines (those with a level). */
  logs(): OutputLine[];
  /** The embedded-metric-format blobs (those with `_aws`). */
  metrics(): OutputLine[];
  restore(): void;
}

/** Captures stdout and stderr until `restore()`; call it in `afterEach`. Metrics are on meanwhile. */
export function captureOutput(): CapturedOutput {
  // A local stack loaded in the same process turns them off through the environment.
  vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "false");
  const written: string[] = [];
  const capture = ((chunk: string | Uint8Array) => {
    written.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return true;
  }) as typeof process.stdout.write;
  const spies: MockInstance[] = [
    vi.spyOn(process.stdout, "write").mockImplementation(capture),
    vi.spyOn(process.stderr, "write").mockImplementation(capture),
  ];
  const lines = () =>
    written
      .join("")
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as OutputLine);
  return {
    lines,
    logs: () => lines().filter((line) => "level" in line),
    metrics: () => lines().filter((line) => "_aws" in line),
    restore: () => {
      for (const spy of spies) spy.mockRestore();
      vi.unstubAllEnvs();
    },
  };
}

/** A Lambda context as the runtime passes it, with the request id tests look for. */
export function lambdaContext(awsRequestId: string, functionName = "CouchImagegen-Function"): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: "256",
    awsRequestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "2026/01/01/[$LATEST]0123456789abcdef",
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** One invocation's logger and the function's metrics as a handler makes them, at DEBUG so every line shows. */
export function handlerObservability(
  name: PipelineFunction,
  context?: Context,
): { log: PipelineLogger; metrics: PipelineMetrics } {
  const logger = createFunctionLogger(name);
  logger.setLogLevel("DEBUG");
  return { log: invocationLogger(logger, context), metrics: createPipelineMetrics() };
}
