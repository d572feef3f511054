// Verifies the CloudWatch dashboard of the default stack: its name, the alarm status widget (the composite, every
// alarm created in every region, and each model's throttle-rate alarm as the one the deployment's region has), and
// that it graphs what the pipeline's health is read from: the API stage's requests, errors and latency, the executions
// (throttled included), the waiting room (waiting, in flight, oldest age against its alarm threshold), the request
// queue and the three DLQs (requests, waiting room, failure notices), each function's errors, throttles and duration
// (the failure notifier's too), Bedrock per model read in bedrockRegion, and the pipeline's own metrics under the
// names functions/shared/metric-names.ts gives them.
// It cannot verify how the dashboard looks, or that the pipeline's own metrics appear: only deployed functions publish
// them, and the SEARCH expressions only find what has been published.
import { Match, type Template } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import { PIPELINE_METRICS } from "../../functions/shared/metric-names";
import type { CouchImagegenStack } from "../../infra/stack";
import { logicalId, synthStack } from "./synth";

interface Widget {
  readonly type: string;
  readonly properties: {
    readonly title?: string;
    readonly region?: string;
    readonly alarms?: string[];
    readonly markdown?: string;
    readonly metrics?: unknown[][];
    readonly annotations?: { horizontal?: { value: number }[] };
  };
}

let stack: CouchImagegenStack;
let template: Template;
let widgets: Widget[];

/**
 * The dashboard body as JSON, with each CloudFormation reference written as REF(logicalId), GETATT(logicalId.attr) or
 * IF(condition,whenTrue,whenFalse): they all sit inside JSON strings, so the result parses.
 */
function dashboardBody(): { start: string; widgets: Widget[] } {
  const dashboards = Object.values(template.findResources("AWS::CloudWatch::Dashboard"));
  expect(dashboards).toHaveLength(1);
  const body = dashboards[0]!.Properties.DashboardBody as string | { "Fn::Join": [string, unknown[]] };
  const parts = typeof body === "string" ? [body] : body["Fn::Join"][1];
  const written = (part: unknown): string => {
    if (typeof part === "string") return part;
    const {
      Ref,
      "Fn::GetAtt": getAtt,
      "Fn::If": ifThen,
    } = part as { Ref?: string; "Fn::GetAtt"?: [string, string]; "Fn::If"?: [string, unknown, unknown] };
    if (Ref) return `REF(${Ref})`;
    if (getAtt) return `GETATT(${getAtt.join(".")})`;
    if (ifThen) return `IF(${ifThen[0]},${written(ifThen[1])},${written(ifThen[2])})`;
    throw new Error(`unexpected part ${JSON.stringify(part)}`);
  };
  return JSON.parse(parts.map(written).join(""));
}

beforeAll(() => {
  ({ stack, template } = synthStack());
  widgets = dashboardBody().widgets;
});

const titled = (title: string) => {
  const found = widgets.find((widget) => widget.properties.title === title);
  if (!found) throw new Error(`no widget titled ${title}: ${widgets.map((w) => w.properties.title).join(", ")}`);
  return found;
};
/** A graph's metrics as [namespace, metric name, ...dimension name/value pairs], options and expressions left out. */
const metricsOf = (widget: Widget) =>
  (widget.properties.metrics ?? []).map((row) => row.filter((cell) => typeof cell === "string"));
/** A graph's per-metric options (label, stat, region, id), by position. */
const optionsOf = (widget: Widget) =>
  (widget.properties.metrics ?? []).map(
    (row) => row.find((cell) => typeof cell === "object") as Record<string, unknown>,
  );

describe("dashboard", () => {
  it("is named CouchImagegen-pipeline and opens on the last 3 hours", () => {
    template.hasResourceProperties("AWS::CloudWatch::Dashboard", { DashboardName: "CouchImagegen-pipeline" });
    expect(dashboardBody().start).toBe("-PT3H");
  });

  it("shows the state of the composite first, then of every other alarm, each model's throttle rate as it exists", () => {
    const status = widgets.filter((widget) => widget.type === "alarm");
    expect(status).toHaveLength(1);
    const { monitoring } = stack;
    const arn = (alarm: IConstruct) => `GETATT(${logicalId(stack, alarm)}.Arn)`;
    // The alarm on AWS/Bedrock's metrics in bedrockRegion, the one on the pipeline's own elsewhere: never both.
    const throttleRate = `IF(${stack.getLogicalId(monitoring.bedrockInStackRegion)},${arn(
      monitoring.bedrockThrottleAlarms[0]!,
    )},${arn(monitoring.pipelineBedrockThrottleAlarms[0]!)})`;
    expect(status[0]!.properties.alarms).toEqual([
      ...[monitoring.pipelineUnhealthyAlarm, ...monitoring.alarms].map(arn),
      throttleRate,
    ]);
    expect(monitoring.alarms).toHaveLength(24);
  });

  it("graphs the API stage's requests, 4XX and 5XX, and its latency", () => {
    const stage = [
      "ApiName",
      "CouchImagegen-api",
      "Stage",
      `REF(${logicalId(stack, stack.ingress.api.deploymentStage)})`,
    ];
    expect(metricsOf(titled("API requests and errors"))).toEqual([
      ["AWS/ApiGateway", "Count", ...stage],
      ["AWS/ApiGateway", "4XXError", ...stage],
      ["AWS/ApiGateway", "5XXError", ...stage],
    ]);
    expect(optionsOf(titled("API requests and errors")).map((options) => options.stat)).toEqual([
      "SampleCount",
      "Sum",
      "Sum",
    ]);
    expect(metricsOf(titled("API latency (ms)")).map((metric) => metric[1])).toEqual([
      "Latency",
      "Latency",
      "IntegrationLatency",
    ]);
  });

  it("graphs executions started, succeeded, failed, timed out, aborted and throttled", () => {
    const machine = ["StateMachineArn", `REF(${logicalId(stack, stack.workflow.stateMachine)})`];
    expect(metricsOf(titled("Executions"))).toEqual(
      [
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
        "ExecutionThrottled",
      ].map((name) => ["AWS/States", name, ...machine]),
    );
  });

  const queue = (construct: typeof stack.ingress.queue) => [
    "QueueName",
    `GETATT(${logicalId(stack, construct)}.QueueName)`,
  ];

  it("graphs the request queue's depth and age and each dead-letter queue's depth", () => {
    expect(metricsOf(titled("Queue"))).toEqual([
      ["AWS/SQS", "ApproximateNumberOfMessagesVisible", ...queue(stack.ingress.queue)],
      ["AWS/SQS", "ApproximateAgeOfOldestMessage", ...queue(stack.ingress.queue)],
    ]);
    expect(metricsOf(titled("Dead-letter queues"))).toEqual([
      ["AWS/SQS", "ApproximateNumberOfMessagesVisible", ...queue(stack.ingress.deadLetterQueue)],
      ["AWS/SQS", "ApproximateNumberOfMessagesVisible", ...queue(stack.workflow.waitingRoom.deadLetterQueue)],
      ["AWS/SQS", "ApproximateNumberOfMessagesVisible", ...queue(stack.failureNotices.deadLetterQueue)],
    ]);
  });

  it("graphs the waiting room: jobs waiting and in flight, and the oldest one's age against its alarm threshold", () => {
    const waitingRoom = titled("Waiting room (generate queue)");
    const generateQueue = queue(stack.workflow.waitingRoom.queue);
    expect(metricsOf(waitingRoom)).toEqual([
      ["AWS/SQS", "ApproximateNumberOfMessagesVisible", ...generateQueue],
      ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", ...generateQueue],
      ["AWS/SQS", "ApproximateAgeOfOldestMessage", ...generateQueue],
    ]);
    expect(optionsOf(waitingRoom).map((options) => [options.stat, options.yAxis ?? "left"])).toEqual([
      ["Maximum", "left"],
      ["Maximum", "left"],
      ["Maximum", "right"],
    ]);
    expect(waitingRoom.properties.annotations?.horizontal).toEqual([
      expect.objectContaining({ value: 300, yAxis: "right" }),
    ]);
  });

  it.each([
    ["Function errors", "Errors", "Sum"],
    ["Function throttles", "Throttles", "Sum"],
    ["Function duration p99 (ms)", "Duration", "p99"],
  ])("graphs %s for each of the seven functions", (title, metricName, stat) => {
    const { ingress, workflow, failureNotices } = stack;
    const functions = [
      ingress.startJobApi,
      ingress.startJobQueue,
      ingress.jobStatus,
      workflow.validatePrompt,
      workflow.generateImage,
      workflow.storeImage,
      failureNotices.notifier,
    ];
    expect(metricsOf(titled(title))).toEqual(
      functions.map((fn) => ["AWS/Lambda", metricName, "FunctionName", `REF(${logicalId(stack, fn.function)})`]),
    );
    expect(optionsOf(titled(title)).map((options) => options.stat)).toEqual(functions.map(() => stat));
  });

  it("graphs Bedrock calls, throttles and latency per model, read in bedrockRegion", () => {
    const model = ["ModelId", "stability.stable-image-core-v1:1"];
    const calls = titled("Bedrock calls (us-west-2)");
    expect(calls.properties.region).toBe("us-west-2");
    expect(metricsOf(calls)).toEqual([
      ["AWS/Bedrock", "Invocations", ...model],
      ["AWS/Bedrock", "InvocationThrottles", ...model],
    ]);
    const latency = titled("Bedrock latency (us-west-2, ms)");
    expect(latency.properties.region).toBe("us-west-2");
    expect(metricsOf(latency)).toEqual([
      ["AWS/Bedrock", "InvocationLatency", ...model],
      ["AWS/Bedrock", "InvocationLatency", ...model],
    ]);
    const rate = titled("Bedrock throttled, % of calls (us-west-2)");
    expect(rate.properties.region).toBe("us-west-2");
    expect(rate.properties.metrics?.[0]).toEqual([
      expect.objectContaining({
        expression:
          "IF(FILL(throttledm0, 0) + FILL(acceptedm0, 0) >= 10, 100 * FILL(throttledm0, 0) / (FILL(throttledm0, 0) + FILL(acceptedm0, 0)), 0)",
      }),
    ]);
    // The alarm's threshold, drawn on the graph.
    expect(rate.properties.annotations?.horizontal).toEqual([expect.objectContaining({ value: 20 })]);
  });

  it("graphs each of the pipeline's own metrics under the namespace and dimensions metric-names.ts gives", () => {
    const expressions = widgets.flatMap((widget) =>
      (widget.properties.metrics ?? []).flatMap((row) =>
        row.flatMap((cell) => {
          const expression = (cell as { expression?: string }).expression;
          return expression?.startsWith("SEARCH(") ? [expression] : [];
        }),
      ),
    );
    expect(expressions).toContain(`SEARCH('{CouchImagegen,service,ModelId} MetricName="ImagesGenerated"', 'Sum', 300)`);
    expect(expressions).toContain(`SEARCH('{CouchImagegen,service,Source} MetricName="Rejections"', 'Sum', 300)`);
    for (const metric of Object.values(PIPELINE_METRICS)) {
      expect(
        expressions.some((expression) => expression.includes(`MetricName="${metric.name}"`)),
        metric.name,
      ).toBe(true);
    }
  });
});

describe("dashboard with several models", () => {
  it("draws a Bedrock line per allowed model", () => {
    const { template: several } = synthStack({
      allowedModelIds: "stability.stable-image-ultra-v1:1,stability.sd3-5-large-v1:0",
    });
    several.hasResourceProperties("AWS::CloudWatch::Dashboard", {
      DashboardBody: Match.objectLike({
        "Fn::Join": ["", Match.arrayWith([Match.stringLikeRegexp('"ModelId","stability.sd3-5-large-v1:0"')])],
      }),
    });
  });
});
