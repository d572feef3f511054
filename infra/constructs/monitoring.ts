import { ArnFormat, Aws, CfnCondition, type CfnResource, Duration, Fn, RemovalPolicy, Stack } from "aws-cdk-lib";
import type { Stage } from "aws-cdk-lib/aws-apigateway";
import {
  Alarm,
  AlarmRule,
  AlarmState,
  ComparisonOperator,
  CompositeAlarm,
  type IMetric,
  MathExpression,
  Stats,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { EventField, Rule, RuleTargetInput } from "aws-cdk-lib/aws-events";
import { PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Key } from "aws-cdk-lib/aws-kms";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import type { StateMachine } from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import {
  bedrockThrottleRate,
  FUNCTION_ALARMS,
  type FunctionAlarmPolicy,
  GENERATE_THROTTLE_MINUTES,
  type PipelineFunctions,
} from "./health-metrics";

export interface PipelineMonitoringProps {
  /** Receives the pipeline-unhealthy alarm's ALARM and OK notices and one notice per failed execution. */
  readonly alertEmail: string;
  /** The REST API stage whose 5XX rate is watched. */
  readonly apiStage: Stage;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  readonly stateMachine: StateMachine;
  readonly functions: PipelineFunctions;
  /** Age of the oldest queued message, in seconds, that raises the queue alarm. */
  readonly queueAgeAlarmSeconds: number;
  /** Every model GenerateImage may invoke (`allowedModelIds`): one Bedrock throttle-rate alarm each. */
  readonly modelIds: readonly string[];
  /**
   * Region Bedrock is called in. Its metrics are published there, and an alarm can only watch its own region's
   * metrics, so the Bedrock alarms exist only when the stack is deployed in this region (a CloudFormation condition).
   */
  readonly bedrockRegion: string;
  /**
   * Percent of a model's Bedrock calls throttled in each of two 5-minute periods that raises its alarm.
   * @default 20
   */
  readonly bedrockThrottleAlarmPercent?: number;
}

/** Execution statuses that end a job without an image and get their own notice. */
export const FAILED_EXECUTION_STATUSES = ["FAILED", "TIMED_OUT", "ABORTED"] as const;

const RUNBOOK = "docs/RUNBOOK.md";

/**
 * Tells the team when something needs a look. Metric alarms watch the API, every function, the executions, the
 * queues and Bedrock, with no actions of their own; one composite alarm, PipelineUnhealthy, is ALARM while any of them
 * is and is the only alarm that emails, so an incident that trips several alarms sends one notice, not a storm. An
 * EventBridge rule also sends one notice per failed, timed-out or aborted execution (naming the job and linking the
 * execution). Both go to one encrypted SNS topic with an email subscription.
 */
export class PipelineMonitoring extends Construct {
  public readonly topic: Topic;
  public readonly topicKey: Key;
  public readonly apiServerErrorAlarm: Alarm;
  public readonly functionErrorAlarms: Record<keyof PipelineFunctions, Alarm>;
  public readonly functionThrottleAlarms: Record<keyof PipelineFunctions, Alarm>;
  public readonly queueAgeAlarm: Alarm;
  public readonly deadLetterQueueAlarm: Alarm;
  public readonly executionsFailedAlarm: Alarm;
  public readonly executionsTimedOutAlarm: Alarm;
  public readonly executionsAbortedAlarm: Alarm;
  public readonly executionsThrottledAlarm: Alarm;
  /** Percent of a model's Bedrock calls throttled that raises its alarm. */
  public readonly bedrockThrottleAlarmPercent: number;
  /** One per allowed model; created only where `bedrockInStackRegion` holds. */
  public readonly bedrockThrottleAlarms: readonly Alarm[];
  /** True when the stack is deployed in the Bedrock region, the only place the Bedrock alarms can watch from. */
  public readonly bedrockInStackRegion: CfnCondition;
  /** Every metric alarm that exists in any region: what the composite and the dashboard show unconditionally. */
  public readonly alarms: readonly Alarm[];
  public readonly pipelineUnhealthyAlarm: CompositeAlarm;
  public readonly failedExecutionRule: Rule;

  constructor(scope: Construct, id: string, props: PipelineMonitoringProps) {
    super(scope, id);
    const bedrockThrottleAlarmPercent = props.bedrockThrottleAlarmPercent ?? 20;
    this.bedrockThrottleAlarmPercent = bedrockThrottleAlarmPercent;
    if (!Number.isInteger(props.queueAgeAlarmSeconds) || props.queueAgeAlarmSeconds < 1) {
      throw new Error(`queueAgeAlarmSeconds must be a whole number of seconds, got ${props.queueAgeAlarmSeconds}`);
    }
    if (!(bedrockThrottleAlarmPercent > 0 && bedrockThrottleAlarmPercent <= 100)) {
      throw new Error(
        `bedrockThrottleAlarmPercent must be a percentage above 0 and at most 100, got ${bedrockThrottleAlarmPercent}`,
      );
    }
    if (props.modelIds.length === 0) {
      throw new Error("modelIds must name every model GenerateImage may invoke (at least one), got none");
    }
    const stack = Stack.of(this);

    // A customer managed key, not alias/aws/sns: CloudWatch and EventBridge can only publish to an encrypted topic
    // when the key policy lets them use the key, and the AWS managed key's policy cannot be changed.
    this.topicKey = new Key(this, "AlertTopicKey", {
      description: "Encrypts the couch-imagegen alert topic",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    this.topicKey.addToResourcePolicy(
      new PolicyStatement({
        sid: "AllowAlarmActionsToUseTheKey",
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
        resources: ["*"],
      }),
    );

    this.topic = new Topic(this, "AlertTopic", {
      displayName: "couch-imagegen alerts",
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    this.topic.addSubscription(new EmailSubscription(props.alertEmail));
    // The topic policy replaces SNS's default one, so alarm actions need their own statement.
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: "AllowThisAccountsAlarmsToPublish",
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [this.topic.topicArn],
        conditions: {
          ArnLike: {
            "aws:SourceArn": stack.formatArn({
              service: "cloudwatch",
              resource: "alarm",
              resourceName: "*",
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
          StringEquals: { "aws:SourceAccount": stack.account },
        },
      }),
    );

    // Metric alarms have no actions: CloudWatch's guidance for composite alarms is to act only at the composite level,
    // which then notifies once per incident however many of them fire (CloudWatch User Guide, "Composite alarms").
    const alarm = (alarmId: string, metric: IMetric, settings: AlarmSettings): Alarm =>
      new Alarm(this, alarmId, {
        metric,
        alarmName: `${stack.stackName}-${alarmId}`,
        alarmDescription: `${settings.description} Runbook: ${RUNBOOK}#${settings.runbookSection ?? alarmId.toLowerCase()}`,
        threshold: settings.threshold,
        comparisonOperator: settings.comparisonOperator ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: settings.evaluationPeriods ?? 1,
        datapointsToAlarm: settings.evaluationPeriods,
        // No data means no traffic, no executions or an idle queue: nothing is wrong.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    const oneMinute = Duration.minutes(1);
    const fiveMinutes = Duration.minutes(5);

    // --- API ---
    // A rate with a floor of 5 errors: a few 503s under throttling (answered on purpose, with Retry-After) or one 502
    // in a quiet hour do not page; 5 % of a busy stage's requests does.
    this.apiServerErrorAlarm = alarm(
      "ApiServerErrorRate",
      new MathExpression({
        expression: "IF(errors >= 5, 100 * errors / requests, 0)",
        usingMetrics: {
          errors: props.apiStage.metricServerError({ statistic: Stats.SUM }),
          requests: props.apiStage.metricCount({ statistic: Stats.SAMPLE_COUNT }),
        },
        period: fiveMinutes,
        label: "5XX responses, % of requests",
      }),
      {
        threshold: 5,
        description:
          "5 % or more of the API's responses were 5XX over 5 minutes (at least 5 of them). Check first: the access " +
          "log's 5XX lines (integrationError says whether start-job or job-status failed) and those functions' Errors " +
          "alarms; 503s mean StartExecution or DynamoDB is throttled.",
      },
    );

    // --- Lambda functions ---
    const functionEntries = Object.entries(FUNCTION_ALARMS) as [keyof PipelineFunctions, FunctionAlarmPolicy][];
    const errorAlarms: Partial<Record<keyof PipelineFunctions, Alarm>> = {};
    const throttleAlarms: Partial<Record<keyof PipelineFunctions, Alarm>> = {};
    for (const [role, policy] of functionEntries) {
      const fn = props.functions[role];
      errorAlarms[role] =
        policy.errors === "count"
          ? alarm(`${policy.id}Errors`, fn.metricErrors({ period: fiveMinutes, statistic: Stats.SUM }), {
              threshold: 3,
              description:
                `${policy.label} failed 3 or more times in 5 minutes; each error is ${policy.whatAnErrorIs}. Check ` +
                "first: its log's ERROR lines (errorType, and 'Task timed out') and whether a deploy just happened.",
            })
          : alarm(
              `${policy.id}ErrorRate`,
              new MathExpression({
                expression: "IF(errors >= 5, 100 * errors / invocations, 0)",
                usingMetrics: {
                  errors: fn.metricErrors({ statistic: Stats.SUM }),
                  invocations: fn.metricInvocations({ statistic: Stats.SUM }),
                },
                period: fiveMinutes,
                label: `${policy.label} errors, % of invocations`,
              }),
              {
                threshold: 50,
                description:
                  `Half or more of ${policy.label}'s invocations failed over 5 minutes (at least 5). An error is ` +
                  `${policy.whatAnErrorIs}. Check first: the errorType of its log's ERROR lines; a business outcome ` +
                  "(InvalidPrompt, ContentBlocked) points at a producer, anything else at the function or Bedrock.",
              },
            );
      throttleAlarms[role] =
        role === "generateImage"
          ? // Reserved concurrency throttles every burst on purpose and the state machine retries: only throttling that
            // outlasts a job's average retry budget is a problem.
            alarm("GenerateImageSustainedThrottles", fn.metricThrottles({ period: oneMinute, statistic: Stats.SUM }), {
              threshold: 1,
              evaluationPeriods: GENERATE_THROTTLE_MINUTES,
              description:
                `GenerateImage was throttled in each of the last ${GENERATE_THROTTLE_MINUTES} minutes: more jobs want ` +
                "Bedrock than generateConcurrency allows, for longer than a job's average retry wait, so jobs are " +
                "about to fail with Lambda.TooManyRequestsException. Check first: where the load comes from " +
                "(ExecutionsStarted, queue depth) and the Bedrock throttle rate, before raising generateConcurrency.",
            })
          : alarm(`${policy.id}Throttles`, fn.metricThrottles({ period: fiveMinutes, statistic: Stats.SUM }), {
              threshold: 1,
              description:
                `${policy.label} was throttled. It has no reserved concurrency, so the account's unreserved ` +
                "concurrency in this region ran out. Check first: the account's ConcurrentExecutions and which " +
                "function in the account grew.",
            });
    }
    this.functionErrorAlarms = errorAlarms as Record<keyof PipelineFunctions, Alarm>;
    this.functionThrottleAlarms = throttleAlarms as Record<keyof PipelineFunctions, Alarm>;

    // --- Executions and queues ---
    this.queueAgeAlarm = alarm(
      "QueueBacklog",
      props.queue.metricApproximateAgeOfOldestMessage({ period: oneMinute, statistic: Stats.MAXIMUM }),
      {
        threshold: props.queueAgeAlarmSeconds,
        description:
          `The oldest image request has waited ${props.queueAgeAlarmSeconds} s or more in the queue. Check first: ` +
          "the start-job SQS function's errors and throttles, and its event source mapping's state.",
      },
    );
    this.deadLetterQueueAlarm = alarm(
      "DeadLetterQueueNotEmpty",
      props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: oneMinute, statistic: Stats.MAXIMUM }),
      {
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        description:
          "Image requests failed three deliveries and are in the dead-letter queue. Check first: read them (without " +
          "deleting) and the start-job SQS function's log; fix the cause, then redrive them to the queue.",
      },
    );
    const executionsAlarm = (alarmId: string, metric: IMetric, what: string, checkFirst: string) =>
      alarm(alarmId, metric, {
        threshold: 1,
        description: `One or more image pipeline executions ${what} in the last minute. Check first: ${checkFirst}`,
      });
    const sum = { period: oneMinute, statistic: Stats.SUM };
    this.executionsFailedAlarm = executionsAlarm(
      "ExecutionsFailed",
      props.stateMachine.metricFailed(sum),
      "failed",
      "the failure emails' Error and Cause, or the state machine's FAILED executions (REJECTED jobs end FAILED too).",
    );
    this.executionsTimedOutAlarm = executionsAlarm(
      "ExecutionsTimedOut",
      props.stateMachine.metricTimedOut(sum),
      "timed out",
      "the TIMED_OUT executions' last state: an hour of throttle waits and Bedrock retries.",
    );
    this.executionsAbortedAlarm = executionsAlarm(
      "ExecutionsAborted",
      props.stateMachine.metricAborted(sum),
      "were aborted",
      "who called StopExecution (CloudTrail).",
    );
    this.executionsThrottledAlarm = executionsAlarm(
      "ExecutionsThrottled",
      props.stateMachine.metricThrottled(sum),
      "had state transitions throttled",
      "Step Functions' state transition and StartExecution quotas in this region and what else uses them.",
    );

    // --- Bedrock ---
    this.bedrockInStackRegion = new CfnCondition(this, "BedrockInStackRegion", {
      expression: Fn.conditionEquals(Aws.REGION, props.bedrockRegion),
    });
    this.bedrockThrottleAlarms = props.modelIds.map((modelId) => {
      const created = alarm(
        `BedrockThrottleRate-${modelId.replace(/[^A-Za-z0-9-]/g, "-")}`,
        bedrockThrottleRate(modelId),
        {
          threshold: bedrockThrottleAlarmPercent,
          evaluationPeriods: 2,
          runbookSection: "bedrockthrottlerate",
          description:
            `${bedrockThrottleAlarmPercent} % or more of the Bedrock calls to ${modelId} were throttled in each of two ` +
            "5-minute periods (at least 10 calls each): GenerateImage asks for more than the account's quota for this " +
            "model. Check first: the model's InvokeModel quota in Service Quotas against generateConcurrency.",
        },
      );
      (created.node.defaultChild as CfnResource).cfnOptions.condition = this.bedrockInStackRegion;
      return created;
    });

    this.alarms = [
      this.apiServerErrorAlarm,
      ...Object.values(this.functionErrorAlarms),
      ...Object.values(this.functionThrottleAlarms),
      this.executionsFailedAlarm,
      this.executionsTimedOutAlarm,
      this.executionsAbortedAlarm,
      this.executionsThrottledAlarm,
      this.queueAgeAlarm,
      this.deadLetterQueueAlarm,
    ];

    // --- The one alarm that emails ---
    const anyAlarm = AlarmRule.anyOf(...this.alarms.map((child) => AlarmRule.fromAlarm(child, AlarmState.ALARM)));
    const withBedrock = AlarmRule.anyOf(
      anyAlarm,
      ...this.bedrockThrottleAlarms.map((child) => AlarmRule.fromAlarm(child, AlarmState.ALARM)),
    );
    this.pipelineUnhealthyAlarm = new CompositeAlarm(this, "PipelineUnhealthy", {
      compositeAlarmName: `${stack.stackName}-PipelineUnhealthy`,
      alarmDescription:
        "couch-imagegen needs a look: at least one of its alarms is in ALARM; this email is sent once per incident, " +
        "however many of them fire. Check first: which alarms the state reason names (or aws cloudwatch " +
        `describe-alarms --state-value ALARM --alarm-name-prefix ${stack.stackName}-), then each one's description ` +
        `and section in the runbook. Runbook: ${RUNBOOK}#pipelineunhealthy`,
      // The Bedrock alarms exist only in the Bedrock region; elsewhere the rule must not name them.
      alarmRule: AlarmRule.fromString(
        Fn.conditionIf(
          this.bedrockInStackRegion.logicalId,
          withBedrock.renderAlarmRule(),
          anyAlarm.renderAlarmRule(),
        ).toString(),
      ),
    });
    const notify = new SnsAction(this.topic);
    this.pipelineUnhealthyAlarm.addAlarmAction(notify);
    this.pipelineUnhealthyAlarm.addOkAction(notify);

    // --- One notice per failed execution ---
    this.failedExecutionRule = new Rule(this, "FailedExecutionRule", {
      description: "One notice per image pipeline execution that failed, timed out or was aborted",
      eventPattern: {
        source: ["aws.states"],
        detailType: ["Step Functions Execution Status Change"],
        detail: {
          status: [...FAILED_EXECUTION_STATUSES],
          stateMachineArn: [props.stateMachine.stateMachineArn],
        },
      },
    });
    const region = EventField.fromPath("$.region");
    const executionArn = EventField.fromPath("$.detail.executionArn");
    // Input transformer: EventBridge escapes the values it inserts into this string (cause may hold JSON);
    // error and cause read "null" for aborted executions, which have neither.
    const message = RuleTargetInput.fromText(
      [
        `Image job ${EventField.fromPath("$.detail.name")} ended with status ${EventField.fromPath("$.detail.status")}.`,
        `Error: ${EventField.fromPath("$.detail.error")}`,
        `Cause: ${EventField.fromPath("$.detail.cause")}`,
        `Execution: https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`,
      ].join("\n"),
    );
    // Not events-targets' SnsTopic: it grants events.amazonaws.com Publish with no condition. This target only
    // names the topic; the two grants below say which rule may publish.
    this.failedExecutionRule.addTarget({
      bind: () => ({ arn: this.topic.topicArn, input: message, targetResource: this.topic }),
    });
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: "AllowFailedExecutionRuleToPublish",
        principals: [new ServicePrincipal("events.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [this.topic.topicArn],
        conditions: {
          ArnEquals: { "aws:SourceArn": this.failedExecutionRule.ruleArn },
          StringEquals: { "aws:SourceAccount": stack.account },
        },
      }),
    );
    // No aws:SourceArn / aws:SourceAccount here: SNS does not support them in a key policy "for EventBridge-to-
    // encrypted topics", and with them every failure email would be dropped (docs/ARCHITECTURE.md §4).
    this.topicKey.addToResourcePolicy(
      new PolicyStatement({
        sid: "AllowEventBridgeToUseTheKey",
        principals: [new ServicePrincipal("events.amazonaws.com")],
        actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
        resources: ["*"],
      }),
    );
  }
}

interface AlarmSettings {
  readonly threshold: number;
  /** @default ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD */
  readonly comparisonOperator?: ComparisonOperator;
  /** Periods in a row that must breach, all of them. @default 1 */
  readonly evaluationPeriods?: number;
  /** What the alarm means and what to check first; the runbook link is appended. */
  readonly description: string;
  /** The runbook section's anchor. @default the alarm id, lower-cased */
  readonly runbookSection?: string;
}
