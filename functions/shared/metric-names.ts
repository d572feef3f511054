/**
 * The pipeline's own CloudWatch metrics, published by the functions as CloudWatch embedded metric format (Powertools
 * Metrics) and graphed by infra/constructs/dashboard.ts: the one place both sides take the names from.
 *
 * A function emits into `PIPELINE_METRICS_NAMESPACE` with Powertools' `serviceName` set to `PIPELINE_METRICS_SERVICE`
 * (Powertools adds it to every metric as the `service` dimension), plus the dimensions each metric lists below. The
 * dashboard finds them with SEARCH by namespace and metric name, so a metric appears there as soon as it is emitted.
 * Plain constants: no CDK or Powertools import, so a handler can import this file.
 */
export const PIPELINE_METRICS_NAMESPACE = "CouchImagegen";

/** Powertools Metrics `serviceName`, which becomes the `service` dimension of every metric. */
export const PIPELINE_METRICS_SERVICE = "couch-imagegen";

/** Dimension names, as the functions set them with `addDimension`. */
export const PIPELINE_METRIC_DIMENSIONS = {
  /** The model the job ran on, as the request named it (a foundation model or an inference profile id). */
  modelId: "ModelId",
  /** Where the request came in: `api`, `sqs` or `direct` (the status record's `source`). */
  source: "Source",
} as const;

/** Powertools `MetricUnit` values the metrics below use. */
type Unit = "Count" | "Milliseconds" | "None";

interface PipelineMetric {
  readonly name: string;
  readonly unit: Unit;
  /** Dimensions besides `service`. */
  readonly dimensions: readonly (typeof PIPELINE_METRIC_DIMENSIONS)[keyof typeof PIPELINE_METRIC_DIMENSIONS][];
  /** What one data point counts or measures, and which function emits it. */
  readonly meaning: string;
}

export const PIPELINE_METRICS = {
  imagesGenerated: {
    name: "ImagesGenerated",
    unit: "Count",
    dimensions: [PIPELINE_METRIC_DIMENSIONS.modelId],
    // Counted by GenerateImage: StoreImage's payload does not carry the model (statemachine/image-pipeline.asl.json).
    meaning: "1 per image GenerateImage staged for StoreImage to promote to generated_images/ (GenerateImage)",
  },
  rejections: {
    name: "Rejections",
    unit: "Count",
    dimensions: [PIPELINE_METRIC_DIMENSIONS.source],
    meaning: "1 per request refused as invalid: a 4xx from start-job (api) or InvalidPrompt from ValidatePrompt",
  },
  contentFilterRefusals: {
    name: "ContentFilterRefusals",
    unit: "Count",
    dimensions: [PIPELINE_METRIC_DIMENSIONS.modelId],
    meaning: "1 per job Bedrock's content filter refused, prompt or image (GenerateImage, ContentBlocked)",
  },
  bedrockLatency: {
    name: "BedrockLatency",
    unit: "Milliseconds",
    dimensions: [PIPELINE_METRIC_DIMENSIONS.modelId],
    meaning: "the InvokeModel call's duration as GenerateImage measured it, one point per call",
  },
  bedrockThrottles: {
    name: "BedrockThrottles",
    unit: "Count",
    dimensions: [PIPELINE_METRIC_DIMENSIONS.modelId],
    meaning:
      "1 per InvokeModel call Bedrock answered with ThrottlingException (GenerateImage): published in the stack's " +
      "region, where an alarm can watch it; AWS/Bedrock's InvocationThrottles are in bedrockRegion",
  },
  estimatedSpend: {
    name: "EstimatedSpendUsd",
    unit: "None",
    dimensions: [PIPELINE_METRIC_DIMENSIONS.modelId],
    meaning:
      "US dollars one image Bedrock returned cost at the catalog's price for its model, quality and size " +
      "(functions/shared/models/catalog.ts; GenerateImage)",
  },
} as const satisfies Record<string, PipelineMetric>;
