import { Logger } from "@aws-lambda-powertools/logger";
import type { LogAttributes } from "@aws-lambda-powertools/logger/types";
import type { Context } from "aws-lambda";
import { errorName } from "./aws-errors";
import { PIPELINE_METRICS_SERVICE } from "./metric-names";
import { excerpt } from "./quoted-text";

/** The functions, as their log lines name them in the `function` key. */
export type PipelineFunction =
  | "start-job"
  | "job-status"
  | "validate-prompt"
  | "generate-image"
  | "store-image"
  | "failure-notifier";

/**
 * What a core logs through: one invocation's lines, each carrying that invocation's keys. Handlers pass
 * `invocationLogger(...)`; tests pass one over a Logger whose output they read.
 */
export interface PipelineLogger {
  debug(message: string, attributes?: LogAttributes): void;
  info(message: string, attributes?: LogAttributes): void;
  warn(message: string, attributes?: LogAttributes): void;
  error(message: string, attributes?: LogAttributes): void;
  /** Adds keys to every later line of this invocation (a jobId learnt while parsing, say). */
  appendKeys(keys: LogAttributes): void;
}

/** For a core run only for its result (the state machine harness): writes nothing. */
export const SILENT_LOGGER: PipelineLogger = { debug() {}, info() {}, warn() {}, error() {}, appendKeys() {} };

/**
 * A function's one Logger, created at module start: JSON lines with service `couch-imagegen` and the function in the
 * `function` key, at POWERTOOLS_LOG_LEVEL (INFO when unset).
 */
export function createFunctionLogger(name: PipelineFunction): Logger {
  return new Logger({ serviceName: PIPELINE_METRICS_SERVICE, persistentKeys: { function: name } });
}

/**
 * One invocation's logger. The Lambda context (request id, cold start) goes on the function's Logger, as Powertools'
 * addContext does; the keys a core appends (jobId, source, correlation_id) go on every line of this invocation only,
 * not on the shared Logger, because one module serves several jobs at once: the local stack runs every invocation in
 * one process, and an SQS batch starts several jobs in one invocation.
 */
export function invocationLogger(logger: Logger, context?: Context): PipelineLogger {
  // The local stack and the tests call handlers with the event only.
  if (context) logger.addContext(context);
  const keys: LogAttributes = {};
  const line =
    (level: "debug" | "info" | "warn" | "error") =>
    (message: string, attributes: LogAttributes = {}) =>
      logger[level](message, { ...keys, ...attributes });
  return {
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
    appendKeys(more) {
      Object.assign(keys, more);
    },
  };
}

/** How a failure appears in a log line: its name, and a short excerpt (a service's message may quote its input). */
export function failureAttributes(error: unknown): { error: string; detail: string } {
  return { error: errorName(error), detail: excerpt(String(error), 200) };
}
