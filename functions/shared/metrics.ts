import { Metrics } from "@aws-lambda-powertools/metrics";
import { PIPELINE_METRICS, PIPELINE_METRICS_NAMESPACE, PIPELINE_METRICS_SERVICE } from "./metric-names";

export type PipelineMetricKey = keyof typeof PIPELINE_METRICS;

/** The dimensions (besides `service`) a pipeline metric is published with: exactly those metric-names.ts lists. */
export type DimensionsOf<K extends PipelineMetricKey> = Readonly<
  Record<(typeof PIPELINE_METRICS)[K]["dimensions"][number], string>
>;

/** What a core records the pipeline's metrics through; handlers pass `createPipelineMetrics()`. */
export interface PipelineMetrics {
  /** Publishes one data point of `metric` now, with its dimensions. */
  record<K extends PipelineMetricKey>(metric: K, value: number, dimensions: DimensionsOf<K>): void;
}

/** For a core run only for its result (the state machine harness): records nothing. */
export const NO_METRICS: PipelineMetrics = { record() {} };

/**
 * A function's metrics, created at module start: CloudWatch embedded metric format on stdout, in the namespace and
 * with the service the dashboard searches (metric-names.ts). Each data point is its own blob with its own dimensions,
 * so jobs running at once (the local stack runs them in one process) never share a dimension set and nothing waits
 * for a flush. POWERTOOLS_METRICS_DISABLED=true writes nothing (the local stack sets it).
 */
export function createPipelineMetrics(): PipelineMetrics {
  const metrics = new Metrics({ namespace: PIPELINE_METRICS_NAMESPACE, serviceName: PIPELINE_METRICS_SERVICE });
  return {
    record(key, value, dimensions) {
      const { name, unit } = PIPELINE_METRICS[key];
      const point = metrics.singleMetric();
      for (const [dimension, dimensionValue] of Object.entries<string>(dimensions)) {
        point.addDimension(dimension, dimensionValue);
      }
      point.addMetric(name, unit, value);
    },
  };
}
