import { Duration } from "aws-cdk-lib";
import { MathExpression, Metric, Stats } from "aws-cdk-lib/aws-cloudwatch";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import {
  PIPELINE_METRIC_DIMENSIONS,
  PIPELINE_METRICS,
  PIPELINE_METRICS_NAMESPACE,
  PIPELINE_METRICS_SERVICE,
} from "../../functions/shared/metric-names";

// What the pipeline's health is measured by, shared by its alarms (monitoring.ts) and its dashboard (dashboard.ts).

/** The pipeline's Lambda functions by role: each gets an errors and a throttles alarm (and dashboard lines). */
/** The pipeline's queues, as monitoring alarms on them and the dashboard graphs them. */
export interface PipelineQueues {
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  /** The waiting room: jobs GenerateImage queued for the generator. */
  readonly generateQueue: IQueue;
  readonly generateDeadLetterQueue: IQueue;
  /** The failure notices' DLQ: failed-execution events the notifier could not notice. */
  readonly failureNoticeDeadLetterQueue: IQueue;
}

export interface PipelineFunctions {
  readonly startJobApi: IFunction;
  readonly startJobQueue: IFunction;
  readonly jobStatus: IFunction;
  readonly validatePrompt: IFunction;
  readonly generateImage: IFunction;
  readonly storeImage: IFunction;
  readonly failureNotifier: IFunction;
}

/**
 * How each function reports an outcome, and so what its Errors mean. `count`: no expected outcome is an error (the
 * adapters answer with an HTTP status or a batch item failure; the generator answers the state machine through the
 * task token and puts a throttled job back; StoreImage fails only when S3 does; the failure notifier returns the
 * notices SNS refused as batch item failures), so a few errors are a fault. `rate`: the function reports business
 * outcomes as errors the state machine catches (InvalidPrompt), so only a high share of failed invocations is.
 */
export const FUNCTION_ALARMS: Record<keyof PipelineFunctions, FunctionAlarmPolicy> = {
  startJobApi: {
    id: "StartJobApi",
    label: "start-job (API)",
    errors: "count",
    whatAnErrorIs: "a 502 to a POST /generate-image caller (start-job answers 4xx and 503 itself)",
  },
  startJobQueue: {
    id: "StartJobQueue",
    label: "start-job (SQS)",
    errors: "count",
    whatAnErrorIs: "a whole batch returned to the queue (failed messages are reported item by item, not as errors)",
  },
  jobStatus: {
    id: "JobStatus",
    label: "job-status",
    errors: "count",
    whatAnErrorIs: "a 502 to a GET /jobs poller (throttling is answered as 503, not an error)",
  },
  validatePrompt: {
    id: "ValidatePrompt",
    label: "ValidatePrompt",
    errors: "rate",
    whatAnErrorIs: "InvalidPrompt (a rejected request, expected for bad SQS messages) or a crash",
  },
  generateImage: {
    id: "GenerateImage",
    label: "GenerateImage",
    errors: "count",
    whatAnErrorIs:
      "a crash or timeout with a waiting-room job, which comes back after the generate queue's visibility " +
      "timeout (Bedrock's errors, ContentBlocked included, are answered to the state machine, and a throttle puts " +
      "the job back)",
  },
  storeImage: {
    id: "StoreImage",
    label: "StoreImage",
    errors: "count",
    whatAnErrorIs: "S3TransientError (retried) or S3Error / StagedImageMissing (the job ends FAILED)",
  },
  failureNotifier: {
    id: "FailureNotifier",
    label: "failure-notifier",
    errors: "count",
    // It runs once per batching window, at most FAILURE_NOTICE_MAX_CONCURRENCY at once: 3 errors in 5 minutes would
    // hardly ever add up, and each one holds back a batch of notices.
    errorThreshold: 1,
    whatAnErrorIs:
      "a crash or timeout: its whole batch of failed executions returns to the notice queue unnoticed (a notice SNS " +
      "refused comes back item by item, not as an error)",
  },
};

/**
 * Percent of one model's Bedrock calls throttled over 5 minutes, 0 below 10 calls. Bedrock counts a throttled call in
 * InvocationThrottles and not in Invocations (Bedrock User Guide, "Monitor bedrock-runtime inference using CloudWatch
 * metrics"), so the calls are the two together. GenerateImage's client makes one attempt per call (maxAttempts: 1),
 * so each throttled attempt is counted once. `region` is for a dashboard; an alarm passes none, as it can only watch
 * its own region's metrics. `key` keeps the metric ids apart when several rates share one graph.
 */
export function bedrockThrottleRate(
  modelId: string,
  options: { readonly region?: string; readonly key?: string } = {},
): MathExpression {
  const { region, key = "" } = options;
  const bedrockMetric = (metricName: string) =>
    new Metric({
      namespace: "AWS/Bedrock",
      metricName,
      dimensionsMap: { ModelId: modelId },
      statistic: Stats.SUM,
      ...(region === undefined ? {} : { region }),
    });
  const throttled = `throttled${key}`;
  const accepted = `accepted${key}`;
  return new MathExpression({
    expression: `IF(FILL(${throttled}, 0) + FILL(${accepted}, 0) >= 10, 100 * FILL(${throttled}, 0) / (FILL(${throttled}, 0) + FILL(${accepted}, 0)), 0)`,
    usingMetrics: { [throttled]: bedrockMetric("InvocationThrottles"), [accepted]: bedrockMetric("Invocations") },
    period: Duration.minutes(5),
    label: `${modelId} throttled, % of calls`,
  });
}

/**
 * Percent of one model's Bedrock calls throttled over 5 minutes, 0 below 10 calls, from the pipeline's own metrics,
 * which GenerateImage publishes in the stack's region: `BedrockLatency` has one data point per InvokeModel call,
 * throttled or not, so its SampleCount is the calls, and `BedrockThrottles` counts the throttled ones. Unlike
 * AWS/Bedrock's metrics, only this stack's calls count.
 */
export function pipelineBedrockThrottleRate(modelId: string): MathExpression {
  const pipelineMetric = (metricName: string, statistic: string) =>
    new Metric({
      namespace: PIPELINE_METRICS_NAMESPACE,
      metricName,
      // Powertools adds `service` to every metric: a metric is found only with its whole dimension set.
      dimensionsMap: { service: PIPELINE_METRICS_SERVICE, [PIPELINE_METRIC_DIMENSIONS.modelId]: modelId },
      statistic,
    });
  return new MathExpression({
    expression: "IF(calls >= 10, 100 * FILL(throttled, 0) / calls, 0)",
    usingMetrics: {
      throttled: pipelineMetric(PIPELINE_METRICS.bedrockThrottles.name, Stats.SUM),
      calls: pipelineMetric(PIPELINE_METRICS.bedrockLatency.name, Stats.SAMPLE_COUNT),
    },
    period: Duration.minutes(5),
    label: `${modelId} throttled, % of GenerateImage's calls`,
  });
}

/** What a function's failed invocation is, and so whether its errors alarm on a count or on a rate. */
export interface FunctionAlarmPolicy {
  /** Prefix of its alarms' names, e.g. `GenerateImage` for GenerateImageErrors. */
  readonly id: string;
  /** Its name in alarm texts and on the dashboard. */
  readonly label: string;
  readonly errors: "count" | "rate";
  /** Errors in 5 minutes that raise a `count` alarm. @default 3 */
  readonly errorThreshold?: number;
  readonly whatAnErrorIs: string;
}
