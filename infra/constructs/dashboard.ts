import { Duration, Stack, Token } from "aws-cdk-lib";
import type { Stage } from "aws-cdk-lib/aws-apigateway";
import {
  AlarmStatusWidget,
  Color,
  Dashboard,
  GraphWidget,
  type IMetric,
  type IWidget,
  Metric,
  SearchExpression,
  Stats,
  TextWidget,
} from "aws-cdk-lib/aws-cloudwatch";
import type { StateMachine } from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import {
  PIPELINE_METRICS,
  PIPELINE_METRICS_NAMESPACE,
  PIPELINE_METRICS_SERVICE,
} from "../../functions/shared/metric-names";
import { bedrockThrottleRate, FUNCTION_ALARMS, type PipelineFunctions, type PipelineQueues } from "./health-metrics";
import type { PipelineMonitoring } from "./monitoring";

export interface PipelineDashboardProps extends PipelineQueues {
  /** The alarms shown in the status widget. */
  readonly monitoring: PipelineMonitoring;
  readonly apiStage: Stage;
  readonly stateMachine: StateMachine;
  readonly functions: PipelineFunctions;
  /** Every model GenerateImage may invoke: one line each on the Bedrock graphs. */
  readonly modelIds: readonly string[];
  /** Region Bedrock is called in, where its metrics are published; the Bedrock graphs read them there. */
  readonly bedrockRegion: string;
  /**
   * The dashboard's name in the CloudWatch console.
   * @default `${stackName}-pipeline`
   */
  readonly dashboardName?: string;
}

const FIVE_MINUTES = Duration.minutes(5);

/**
 * The pipeline's health on one CloudWatch dashboard: the alarms, the API, executions, the waiting room and the other
 * queues, each function, Bedrock per model (read in the Bedrock region) and the pipeline's own metrics
 * (functions/shared/metric-names.ts), which appear once the functions publish them.
 */
export class PipelineDashboard extends Construct {
  public readonly dashboard: Dashboard;
  /** The name itself, not a reference: the failure notices link the dashboard that graphs them (no cycle). */
  public readonly dashboardName: string;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const dashboardName = props.dashboardName ?? `${Stack.of(this).stackName}-pipeline`;
    this.dashboardName = dashboardName;
    if (!Token.isUnresolved(dashboardName) && !/^[A-Za-z0-9_-]{1,255}$/.test(dashboardName)) {
      throw new Error(
        `dashboardName "${dashboardName}" is not a CloudWatch dashboard name: use 1-255 letters, digits, '-' and '_'`,
      );
    }
    if (props.modelIds.length === 0) {
      throw new Error("modelIds must name every model GenerateImage may invoke (at least one), got none");
    }
    const { monitoring, apiStage, stateMachine, functions } = props;
    const functionEntries = Object.entries(FUNCTION_ALARMS) as [keyof PipelineFunctions, { label: string }][];
    const perFunction = (metric: (role: keyof PipelineFunctions) => IMetric) =>
      functionEntries.map(([role]) => metric(role));

    this.dashboard = new Dashboard(this, "Dashboard", {
      dashboardName,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          "# couch-imagegen pipeline\n" +
          `Only **${monitoring.pipelineUnhealthyAlarm.alarmName}** emails; the alarms below feed it. What each one means ` +
          "and what to do: `docs/RUNBOOK.md` in the repository. " +
          `Bedrock graphs read **${props.bedrockRegion}**, where GenerateImage calls it.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new AlarmStatusWidget({
        title: "Alarms",
        alarms: [monitoring.pipelineUnhealthyAlarm, ...monitoring.alarms, ...monitoring.modelThrottleAlarms],
        width: 24,
        height: 5,
      }),
    );

    this.dashboard.addWidgets(
      graph("API requests and errors", [
        apiStage.metricCount({ statistic: Stats.SAMPLE_COUNT, label: "requests" }),
        apiStage.metricClientError({ statistic: Stats.SUM, label: "4XX" }),
        apiStage.metricServerError({ statistic: Stats.SUM, label: "5XX", color: Color.RED }),
      ]),
      graph("API latency (ms)", [
        apiStage.metricLatency({ statistic: Stats.p(50), label: "p50" }),
        apiStage.metricLatency({ statistic: Stats.p(99), label: "p99" }),
        apiStage.metricIntegrationLatency({ statistic: Stats.p(99), label: "integration p99" }),
      ]),
    );
    const executions = { statistic: Stats.SUM };
    this.dashboard.addWidgets(
      graph(
        "Executions",
        [
          stateMachine.metricStarted({ ...executions, label: "started" }),
          stateMachine.metricSucceeded({ ...executions, label: "succeeded", color: Color.GREEN }),
          stateMachine.metricFailed({ ...executions, label: "failed (incl. REJECTED)", color: Color.RED }),
          stateMachine.metricTimedOut({ ...executions, label: "timed out" }),
          stateMachine.metricAborted({ ...executions, label: "aborted" }),
          stateMachine.metricThrottled({ ...executions, label: "throttled" }),
        ],
        12,
      ),
      // Visible: jobs waiting for a Bedrock slot; in flight: jobs a generator holds, or throttled ones put back with a
      // delay. Their age is the wait a user sees before generation starts.
      new GraphWidget({
        title: "Waiting room (generate queue)",
        left: [
          props.generateQueue.metricApproximateNumberOfMessagesVisible({ statistic: Stats.MAXIMUM, label: "waiting" }),
          props.generateQueue.metricApproximateNumberOfMessagesNotVisible({
            statistic: Stats.MAXIMUM,
            label: "in flight (generating or throttled)",
          }),
        ],
        right: [
          props.generateQueue.metricApproximateAgeOfOldestMessage({ statistic: Stats.MAXIMUM, label: "oldest (s)" }),
        ],
        rightAnnotations: [{ value: monitoring.waitingRoomAgeAlarmSeconds, label: "alarm threshold" }],
        period: FIVE_MINUTES,
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Queue",
        left: [props.queue.metricApproximateNumberOfMessagesVisible({ statistic: Stats.MAXIMUM, label: "waiting" })],
        right: [props.queue.metricApproximateAgeOfOldestMessage({ statistic: Stats.MAXIMUM, label: "oldest (s)" })],
        period: FIVE_MINUTES,
        width: 12,
      }),
      graph("Dead-letter queues", [
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          statistic: Stats.MAXIMUM,
          label: "requests",
          color: Color.RED,
        }),
        props.generateDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
          statistic: Stats.MAXIMUM,
          label: "waiting-room jobs",
          color: Color.ORANGE,
        }),
        props.failureNoticeDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
          statistic: Stats.MAXIMUM,
          label: "failure notices",
          color: Color.PURPLE,
        }),
      ]),
    );

    this.dashboard.addWidgets(
      graph(
        "Function errors",
        perFunction((role) =>
          functions[role].metricErrors({ statistic: Stats.SUM, label: FUNCTION_ALARMS[role].label }),
        ),
        8,
      ),
      graph(
        "Function throttles",
        perFunction((role) =>
          functions[role].metricThrottles({ statistic: Stats.SUM, label: FUNCTION_ALARMS[role].label }),
        ),
        8,
      ),
      graph(
        "Function duration p99 (ms)",
        perFunction((role) =>
          functions[role].metricDuration({ statistic: Stats.p(99), label: FUNCTION_ALARMS[role].label }),
        ),
        8,
      ),
    );

    this.dashboard.addWidgets(
      ...bedrockWidgets(props.modelIds, props.bedrockRegion, monitoring.bedrockThrottleAlarmPercent),
    );

    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          `The pipeline's own metrics (namespace **${PIPELINE_METRICS_NAMESPACE}**, service ` +
          `**${PIPELINE_METRICS_SERVICE}**), published by the functions as embedded metric format (Powertools). ` +
          "Names and dimensions: `functions/shared/metric-names.ts`.",
        width: 24,
        height: 1,
      }),
    );
    this.dashboard.addWidgets(
      graph("Images generated", [pipelineMetric(PIPELINE_METRICS.imagesGenerated, Stats.SUM)], 8),
      graph("Rejections by source", [pipelineMetric(PIPELINE_METRICS.rejections, Stats.SUM)], 8),
      graph("Content-filter refusals", [pipelineMetric(PIPELINE_METRICS.contentFilterRefusals, Stats.SUM)], 8),
    );
    this.dashboard.addWidgets(
      graph(
        "Bedrock latency, as GenerateImage measures it (ms, p90)",
        [pipelineMetric(PIPELINE_METRICS.bedrockLatency, Stats.p(90))],
        8,
      ),
      graph(
        "Bedrock throttles, as GenerateImage sees them",
        [pipelineMetric(PIPELINE_METRICS.bedrockThrottles, Stats.SUM)],
        8,
      ),
      graph("Estimated spend (USD per 5 minutes)", [pipelineMetric(PIPELINE_METRICS.estimatedSpend, Stats.SUM)], 8),
    );
  }
}

/** Calls, throttle rate (with the alarm's threshold) and latency per model, read in the Bedrock region. */
function bedrockWidgets(modelIds: readonly string[], region: string, throttleAlarmPercent: number): IWidget[] {
  const metric = (modelId: string, metricName: string, statistic: string, label: string) =>
    new Metric({
      namespace: "AWS/Bedrock",
      metricName,
      dimensionsMap: { ModelId: modelId },
      statistic,
      label: `${modelId} ${label}`,
      region,
    });
  return [
    new GraphWidget({
      title: `Bedrock calls (${region})`,
      left: modelIds.flatMap((modelId) => [
        metric(modelId, "Invocations", Stats.SUM, "accepted"),
        metric(modelId, "InvocationThrottles", Stats.SUM, "throttled"),
      ]),
      region,
      period: FIVE_MINUTES,
      width: 8,
    }),
    new GraphWidget({
      title: `Bedrock throttled, % of calls (${region})`,
      left: modelIds.map((modelId, index) => bedrockThrottleRate(modelId, { region, key: `m${index}` })),
      leftAnnotations: [{ value: throttleAlarmPercent, label: "alarm threshold" }],
      region,
      period: FIVE_MINUTES,
      width: 8,
    }),
    new GraphWidget({
      title: `Bedrock latency (${region}, ms)`,
      left: modelIds.flatMap((modelId) => [
        metric(modelId, "InvocationLatency", Stats.p(50), "p50"),
        metric(modelId, "InvocationLatency", Stats.p(99), "p99"),
      ]),
      region,
      period: FIVE_MINUTES,
      width: 8,
    }),
  ];
}

/** One of the pipeline's own metrics, one line per value of its dimensions (a model, a source). */
function pipelineMetric(metric: PipelineMetric, statistic: string): SearchExpression {
  const schema = [PIPELINE_METRICS_NAMESPACE, "service", ...metric.dimensions].join(",");
  return new SearchExpression({
    expression: `SEARCH('{${schema}} MetricName="${metric.name}"', '${statistic}', ${FIVE_MINUTES.toSeconds()})`,
    label: "",
  });
}

/** A 5-minute graph, half the width unless told. */
function graph(title: string, left: IMetric[], width = 12): GraphWidget {
  return new GraphWidget({ title, left, period: FIVE_MINUTES, width });
}

type PipelineMetric = (typeof PIPELINE_METRICS)[keyof typeof PIPELINE_METRICS];
