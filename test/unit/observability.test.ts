// Verifies the logging and metrics plumbing every handler shares (functions/shared/logger.ts, metrics.ts): one
// invocation's keys stay on its own lines while other invocations of the same module run (as in the local stack), the
// Lambda context's request id and cold start, each pipeline metric published under exactly the namespace, service and
// dimensions metric-names.ts gives (what the dashboard's SEARCH expressions match), the local stack's settings
// (POWERTOOLS_METRICS_DISABLED, a WARN level) silencing what they should, and a real handler module writing its lines.
// It cannot verify that CloudWatch extracts the metrics from Lambda's log stream, or what Lambda's own log-level filter
// does with these lines: that shows only in a deployed function.
import type { Context } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createFunctionLogger, invocationLogger } from "../../functions/shared/logger";
import {
  PIPELINE_METRICS,
  PIPELINE_METRICS_NAMESPACE,
  PIPELINE_METRICS_SERVICE,
} from "../../functions/shared/metric-names";
import { createPipelineMetrics, type DimensionsOf, type PipelineMetricKey } from "../../functions/shared/metrics";
import { type CapturedOutput, captureOutput, lambdaContext } from "./powertools-output";

let output: CapturedOutput;
beforeEach(() => {
  output = captureOutput();
});
afterEach(() => {
  output.restore();
});

describe("invocationLogger", () => {
  it("keeps each invocation's keys on its own lines while invocations of one module overlap", async () => {
    // Prepare
    const logger = createFunctionLogger("generate-image");
    const first = invocationLogger(logger);
    const second = invocationLogger(logger);

    // Act
    first.appendKeys({ jobId: "job-a" });
    second.appendKeys({ jobId: "job-b" });
    await Promise.all([
      (async () => {
        await Promise.resolve();
        first.info("Bedrock call");
      })(),
      (async () => {
        second.info("Bedrock call");
        await Promise.resolve();
        second.info("Image staged");
      })(),
    ]);
    first.info("Image staged");

    // Assess
    expect(output.logs().map((line) => `${line.jobId} ${line.message}`)).toEqual([
      "job-b Bedrock call",
      "job-a Bedrock call",
      "job-b Image staged",
      "job-a Image staged",
    ]);
  });

  it("writes JSON with the level, the service, the function and the Lambda context, cold start only first", () => {
    // Prepare
    vi.stubEnv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
    const logger = createFunctionLogger("store-image");

    // Act
    invocationLogger(logger, lambdaContext("request-1")).warn("first");
    invocationLogger(logger, lambdaContext("request-2")).error("second", { error: "S3Error" });

    // Assess
    expect(output.logs()).toEqual([
      expect.objectContaining({
        level: "WARN",
        message: "first",
        service: PIPELINE_METRICS_SERVICE,
        function: "store-image",
        function_request_id: "request-1",
        cold_start: true,
      }),
      expect.objectContaining({
        level: "ERROR",
        message: "second",
        error: "S3Error",
        function_request_id: "request-2",
        cold_start: false,
      }),
    ]);
    expect(typeof output.logs()[0]?.timestamp).toBe("string");
  });

  it("writes nothing below POWERTOOLS_LOG_LEVEL (the local stack's WARN)", () => {
    // Prepare
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "WARN");
    const log = invocationLogger(createFunctionLogger("validate-prompt"));

    // Act
    log.info("Request valid");
    log.warn("something to look at");

    // Assess
    expect(output.logs().map((line) => line.message)).toEqual(["something to look at"]);
  });
});

describe("createPipelineMetrics", () => {
  const dimensionValues: Record<string, string> = { ModelId: "stability.stable-image-core-v1:1", Source: "sqs" };

  it.each(Object.keys(PIPELINE_METRICS) as PipelineMetricKey[])(
    "publishes %s under the namespace, service and dimensions metric-names.ts gives",
    (key) => {
      // Prepare
      const metric = PIPELINE_METRICS[key];
      const dimensions = Object.fromEntries(metric.dimensions.map((name) => [name, dimensionValues[name]]));

      // Act
      createPipelineMetrics().record(key, 3, dimensions as DimensionsOf<typeof key>);

      // Assess
      expect(output.metrics()).toEqual([
        {
          _aws: {
            Timestamp: expect.any(Number),
            CloudWatchMetrics: [
              {
                Namespace: PIPELINE_METRICS_NAMESPACE,
                Dimensions: [["service", ...metric.dimensions]],
                Metrics: [{ Name: metric.name, Unit: metric.unit }],
              },
            ],
          },
          service: PIPELINE_METRICS_SERVICE,
          ...dimensions,
          [metric.name]: 3,
        },
      ]);
    },
  );

  it("gives each data point its own dimensions, so overlapping jobs never share a set", () => {
    // Prepare
    const metrics = createPipelineMetrics();

    // Act
    metrics.record("imagesGenerated", 1, { ModelId: "model-a" });
    metrics.record("rejections", 1, { Source: "api" });
    metrics.record("imagesGenerated", 1, { ModelId: "model-b" });

    // Assess
    expect(output.metrics().map(({ _aws, ...point }) => point)).toEqual([
      { service: PIPELINE_METRICS_SERVICE, ModelId: "model-a", ImagesGenerated: 1 },
      { service: PIPELINE_METRICS_SERVICE, Source: "api", Rejections: 1 },
      { service: PIPELINE_METRICS_SERVICE, ModelId: "model-b", ImagesGenerated: 1 },
    ]);
  });

  it("writes nothing with POWERTOOLS_METRICS_DISABLED=true (the local stack's setting)", () => {
    // Prepare
    vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");

    // Act
    createPipelineMetrics().record("imagesGenerated", 1, { ModelId: "model-a" });

    // Assess
    expect(output.lines()).toEqual([]);
  });
});

describe("a handler module", () => {
  it("logs through its one Logger with the Lambda request id and counts through its metrics", async () => {
    // Prepare
    vi.stubEnv("MODEL_ID", "stability.stable-image-core-v1:1");
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "INFO");
    vi.resetModules();
    const { handler } = await import("../../functions/validate-prompt/handler");
    const context: Context = lambdaContext("request-7", "CouchImagegen-ValidatePrompt");

    // Act
    await expect(
      handler({ input: { prompt: "", source: "api" }, jobId: "job-7", startedAt: "2026-11-23T12:00:00Z" }, context),
    ).rejects.toMatchObject({ name: "InvalidPrompt" });

    // Assess
    expect(output.logs()).toEqual([
      expect.objectContaining({
        level: "INFO",
        message: "Request rejected",
        service: PIPELINE_METRICS_SERVICE,
        function: "validate-prompt",
        function_name: "CouchImagegen-ValidatePrompt",
        function_request_id: "request-7",
        jobId: "job-7",
        source: "api",
      }),
    ]);
    expect(output.metrics()).toEqual([expect.objectContaining({ Source: "api", Rejections: 1 })]);
  });
});
