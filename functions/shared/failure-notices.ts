/**
 * Failure notices (functions/failure-notifier): an EventBridge rule puts every failed, timed-out or aborted execution's
 * status-change event on a queue; the notifier takes them in batches, one batching window at a time, and sends one
 * notice per error kind per batch. These are the numbers the infrastructure, the notifier and the local stack share.
 */

/** Execution statuses that end a job without an image and are noticed; a rejection ends in a Succeed state. */
export const FAILED_EXECUTION_STATUSES = ["FAILED", "TIMED_OUT", "ABORTED"] as const;

export type FailedExecutionStatus = (typeof FAILED_EXECUTION_STATUSES)[number];

/**
 * The event source mapping's MaximumBatchingWindowInSeconds: the notifier waits this long after a failure to gather
 * the others of a storm into one batch, so a lone failure's notice is late by at most this. 300 is Lambda's maximum.
 */
export const FAILURE_NOTICE_WINDOW_SECONDS = 300;

/**
 * The event source mapping's BatchSize (up to 10,000 with a batching window): a storm of up to this many failures in
 * one window is one batch. Lambda also cuts a batch at its 6 MB payload, about 170 events at the longest causes.
 */
export const FAILURE_NOTICE_BATCH_SIZE = 1000;

/** The event source mapping's MaximumConcurrency: 2 is its minimum, so at most two batches are noticed at once. */
export const FAILURE_NOTICE_MAX_CONCURRENCY = 2;

/** The notifier's function timeout: a batch is a few SNS publishes. */
export const FAILURE_NOTIFIER_TIMEOUT_SECONDS = 30;

/**
 * The notice queue's visibility timeout: six times the function timeout plus the batching window, as AWS recommends
 * for an SQS event source with a batching window, so no message is handed out again while its batch waits or runs.
 */
export const FAILURE_NOTICE_VISIBILITY_TIMEOUT_SECONDS =
  6 * FAILURE_NOTIFIER_TIMEOUT_SECONDS + FAILURE_NOTICE_WINDOW_SECONDS;

/** Receives of an event whose notice could not be published before SQS moves it to the notice DLQ. */
export const FAILURE_NOTICE_MAX_RECEIVES = 3;

/** The notifier's environment. */
export const FAILURE_NOTIFIER_ENV = {
  /** The alerts topic the notices are published to. */
  topicArn: "TOPIC_ARN",
  /** The pipeline dashboard, linked from every notice; unset, notices link none. */
  dashboardName: "DASHBOARD_NAME",
} as const;

/** Where every notice points for the next steps. */
export const FAILURE_NOTICE_RUNBOOK = "docs/RUNBOOK.md#failed-execution-emails";
