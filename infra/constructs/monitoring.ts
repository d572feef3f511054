import { ArnFormat, Aws, CfnCondition, type CfnResource, Duration, Fn, RemovalPolicy, Stack } from "aws-cdk-lib";
import type { Stage } from "aws-cdk-lib/aws-apigateway";
import {
  Alarm,
  AlarmRule,
  AlarmState,
  ComparisonOperator,
  CompositeAlarm,
  type IAlarm,
  type IMetric,
  MathExpression,
  Stats,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Key } from "aws-cdk-lib/aws-kms";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { StateMachine } from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import { FAILURE_NOTICE_MAX_RECEIVES } from "../../functions/shared/failure-notices";
import { GENERATE_MAX_RECEIVES } from "../../functions/shared/waiting-room";
import { GENERATE_TASK_SECONDS } from "../config";
import {
  bedrockThrottleRate,
  FUNCTION_ALARMS,
  type FunctionAlarmPolicy,
  type PipelineFunctions,
  type PipelineQueues,
  pipelineBedrockThrottleRate,
} from "./health-metrics";

export interface PipelineMonitoringProps extends PipelineQueues {
  /** Receives the pipeline-unhealthy alarm's ALARM and OK notices (and the failure notices, FailureNotices). */
  readonly alertEmail: string;
  /** The REST API stage whose 5XX rate is watched. */
  readonly apiStage: Stage;
  readonly stateMachine: StateMachine;
  readonly functions: PipelineFunctions;
  /** Age of the oldest queued message, in seconds, that raises the queue alarm. */
  readonly queueAgeAlarmSeconds: number;
  /** Age of the oldest job in the waiting room, in seconds, that raises the waiting-room alarm. */
  readonly waitingRoomAgeAlarmSeconds: number;
  /** Every model GenerateImage may invoke (`allowedModelIds`): one Bedrock throttle-rate alarm each. */
  readonly modelIds: readonly string[];
  /**
   * Region Bedrock is called in. Its metrics are published there, and an alarm can only watch its own region's
   * metrics, so the throttle-rate alarms read them only when the stack is deployed in this region, and the pipeline's
   * own metrics elsewhere (CloudFormation conditions).
   */
  readonly bedrockRegion: string;
  /**
   * Percent of a model's Bedrock calls throttled in each of two 5-minute periods that raises its alarm.
   * @default 20
   */
  readonly bedrockThrottleAlarmPercent?: number;
}

const RUNBOOK = "docs/RUNBOOK.md";

/**
 * Tells the team when something needs a look. Metric alarms watch the API, every function, the executions, the
 * queues and Bedrock, with no actions of their own; one composite alarm, PipelineUnhealthy, is ALARM while any of them
 * is and is the only alarm that emails, so an incident that trips several alarms sends one notice, not a storm. It
 * goes to one encrypted SNS topic with an email subscription, which the failure notices (FailureNotices) publish to
 * as well.
 */
export class PipelineMonitoring extends Construct {
  public readonly topic: Topic;
  public readonly topicKey: Key;
  public readonly apiServerErrorAlarm: Alarm;
  public readonly functionErrorAlarms: Record<keyof PipelineFunctions, Alarm>;
  public readonly functionThrottleAlarms: Record<keyof PipelineFunctions, Alarm>;
  public readonly queueAgeAlarm: Alarm;
  public readonly deadLetterQueueAlarm: Alarm;
  /** Age of the oldest job in the waiting room that raises `waitingRoomAgeAlarm`, in seconds. */
  public readonly waitingRoomAgeAlarmSeconds: number;
  public readonly waitingRoomAgeAlarm: Alarm;
  public readonly generateDeadLetterQueueAlarm: Alarm;
  public readonly failureNoticeDeadLetterQueueAlarm: Alarm;
  public readonly executionsFailedAlarm: Alarm;
  public readonly executionsTimedOutAlarm: Alarm;
  public readonly executionsAbortedAlarm: Alarm;
  public readonly executionsThrottledAlarm: Alarm;
  /** Percent of a model's Bedrock calls throttled that raises its alarm. */
  public readonly bedrockThrottleAlarmPercent: number;
  /** One per allowed model, on AWS/Bedrock's metrics; created only where `bedrockInStackRegion` holds. */
  public readonly bedrockThrottleAlarms: readonly Alarm[];
  /** One per allowed model, on the pipeline's own metrics; created only where `bedrockOutsideStackRegion` holds. */
  public readonly pipelineBedrockThrottleAlarms: readonly Alarm[];
  /**
   * One per allowed model, in `modelIds` order: whichever of its two throttle-rate alarms this deployment has (an
   * Fn::If on `bedrockInStackRegion`), for what shows every alarm wherever the stack runs.
   */
  public readonly modelThrottleAlarms: readonly IAlarm[];
  /** True when the stack is deployed in the Bedrock region, the only place the AWS/Bedrock alarms can watch from. */
  public readonly bedrockInStackRegion: CfnCondition;
  /** The opposite of `bedrockInStackRegion`: the throttle-rate alarms read the pipeline's own metrics. */
  public readonly bedrockOutsideStackRegion: CfnCondition;
  /** Every metric alarm created in every region: what the composite and the dashboard show unconditionally. */
  public readonly alarms: readonly Alarm[];
  public readonly pipelineUnhealthyAlarm: CompositeAlarm;

  constructor(scope: Construct, id: string, props: PipelineMonitoringProps) {
    super(scope, id);
    const bedrockThrottleAlarmPercent = props.bedrockThrottleAlarmPercent ?? 20;
    this.bedrockThrottleAlarmPercent = bedrockThrottleAlarmPercent;
    for (const [name, seconds] of [
      ["queueAgeAlarmSeconds", props.queueAgeAlarmSeconds],
      ["waitingRoomAgeAlarmSeconds", props.waitingRoomAgeAlarmSeconds],
    ] as const) {
      if (!Number.isInteger(seconds) || seconds < 1) {
        throw new Error(`${name} must be a whole number of seconds, got ${seconds}`);
      }
    }
    this.waitingRoomAgeAlarmSeconds = props.waitingRoomAgeAlarmSeconds;
    if (!(bedrockThrottleAlarmPercent > 0 && bedrockThrottleAlarmPercent <= 100)) {
      throw new Error(
        `bedrockThrottleAlarmPercent must be a percentage above 0 and at most 100, got ${bedrockThrottleAlarmPercent}`,
      );
    }
    if (props.modelIds.length === 0) {
      throw new Error("modelIds must name every model GenerateImage may invoke (at least one), got none");
    }
    const stack = Stack.of(this);

    // A customer managed key, not alias/aws/sns: CloudWatch can only publish to an encrypted topic when the key policy
    // lets it use the key, and the AWS managed key's policy cannot be changed.
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
      const errorCount = policy.errorThreshold ?? 3;
      errorAlarms[role] =
        policy.errors === "count"
          ? alarm(`${policy.id}Errors`, fn.metricErrors({ period: fiveMinutes, statistic: Stats.SUM }), {
              threshold: errorCount,
              description:
                `${policy.label} failed ${errorCount === 1 ? "once or more" : `${errorCount} or more times`} in 5 ` +
                `minutes; each error is ${policy.whatAnErrorIs}. Check first: its log's ERROR lines (errorType, and ` +
                "'Task timed out') and whether a deploy just happened.",
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
                  "(InvalidPrompt) points at a producer, anything else at the function.",
              },
            );
      // No function has reserved concurrency (the waiting room bounds GenerateImage instead), so any throttle means
      // the account's unreserved concurrency ran out.
      throttleAlarms[role] = alarm(
        `${policy.id}Throttles`,
        fn.metricThrottles({ period: fiveMinutes, statistic: Stats.SUM }),
        {
          threshold: 1,
          description:
            `${policy.label} was throttled. It has no reserved concurrency, so the account's unreserved ` +
            "concurrency in this region ran out. Check first: the account's ConcurrentExecutions and which " +
            "function in the account grew.",
        },
      );
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
    this.waitingRoomAgeAlarm = alarm(
      "WaitingRoomBacklog",
      props.generateQueue.metricApproximateAgeOfOldestMessage({ period: oneMinute, statistic: Stats.MAXIMUM }),
      {
        threshold: props.waitingRoomAgeAlarmSeconds,
        description:
          `A job has waited ${props.waitingRoomAgeAlarmSeconds} s or more in the waiting room (the generate queue) ` +
          "for one of the bedrockConcurrency Bedrock slots; one no generator takes within " +
          `${GENERATE_TASK_SECONDS.heartbeat} s fails (GenerateImage's HeartbeatSeconds). Check first: the ` +
          "generator's errors and its event source mapping's state, then the Bedrock throttle rate against the " +
          "model's quota before raising bedrockConcurrency.",
      },
    );
    this.generateDeadLetterQueueAlarm = alarm(
      "GenerateDeadLetterQueueNotEmpty",
      props.generateDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: oneMinute,
        statistic: Stats.MAXIMUM,
      }),
      {
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        description:
          `A waiting-room job was received ${GENERATE_MAX_RECEIVES} times without the generator answering or ` +
          "dropping it and is in the generate dead-letter queue: the generator cannot reach Step Functions or S3 " +
          "before it can act, every time; its job has failed or fails when GenerateImage's heartbeat runs out. " +
          "Check first: the generator's 'Could not ...' warnings (AccessDenied: its role was changed).",
      },
    );
    this.failureNoticeDeadLetterQueueAlarm = alarm(
      "FailureNoticeDeadLetterQueueNotEmpty",
      props.failureNoticeDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: oneMinute,
        statistic: Stats.MAXIMUM,
      }),
      {
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        description:
          `A failed execution's event was received ${FAILURE_NOTICE_MAX_RECEIVES} times without its failure notice ` +
          "going out and is in the failure-notice dead-letter queue: nobody was told of that failure. Check first: " +
          "the failure-notifier's ERROR lines ('Could not publish a failure notice': SNS or the topic's key refused " +
          "it; 'Not a failed execution's status-change event': the rule's input no longer matches the notifier).",
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
    // An alarm can only watch its own region's metrics (CDK refuses otherwise, aws-cdk issue #30483): AWS/Bedrock's
    // where the stack runs in bedrockRegion, the pipeline's own, which GenerateImage publishes here, everywhere else.
    this.bedrockInStackRegion = new CfnCondition(this, "BedrockInStackRegion", {
      expression: Fn.conditionEquals(Aws.REGION, props.bedrockRegion),
    });
    this.bedrockOutsideStackRegion = new CfnCondition(this, "BedrockOutsideStackRegion", {
      expression: Fn.conditionNot(this.bedrockInStackRegion),
    });
    const throttleRateAlarm = (
      alarmId: string,
      modelId: string,
      rate: MathExpression,
      calls: string,
      condition: CfnCondition,
    ): Alarm => {
      const created = alarm(`${alarmId}-${modelId.replace(/[^A-Za-z0-9-]/g, "-")}`, rate, {
        threshold: bedrockThrottleAlarmPercent,
        evaluationPeriods: 2,
        runbookSection: alarmId.toLowerCase(),
        description:
          `${bedrockThrottleAlarmPercent} % or more of ${calls} were throttled in each of two 5-minute periods (at ` +
          "least 10 calls each). Throttles delay jobs rather than fail them: the generator puts a throttled job back " +
          "in the waiting room. bedrockConcurrency asks for more than the model's quota carries, or another workload " +
          "uses the same quota. Check first: the model's InvokeModel quota in Service Quotas " +
          `(${props.bedrockRegion}) against bedrockConcurrency, then what else in the account calls ${modelId}.`,
      });
      (created.node.defaultChild as CfnResource).cfnOptions.condition = condition;
      return created;
    };
    this.bedrockThrottleAlarms = props.modelIds.map((modelId) =>
      throttleRateAlarm(
        "BedrockThrottleRate",
        modelId,
        bedrockThrottleRate(modelId),
        `the Bedrock calls to ${modelId} (AWS/Bedrock: every caller in the account)`,
        this.bedrockInStackRegion,
      ),
    );
    this.pipelineBedrockThrottleAlarms = props.modelIds.map((modelId) =>
      throttleRateAlarm(
        "PipelineBedrockThrottleRate",
        modelId,
        pipelineBedrockThrottleRate(modelId),
        `GenerateImage's Bedrock calls to ${modelId} (its BedrockThrottles and BedrockLatency: this stack's calls only)`,
        this.bedrockOutsideStackRegion,
      ),
    );
    this.modelThrottleAlarms = props.modelIds.map((_, index) =>
      Alarm.fromAlarmArn(
        this,
        `ThrottleRateAlarmOfModel${index}`,
        Fn.conditionIf(
          this.bedrockInStackRegion.logicalId,
          this.bedrockThrottleAlarms[index]!.alarmArn,
          this.pipelineBedrockThrottleAlarms[index]!.alarmArn,
        ).toString(),
      ),
    );

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
      this.waitingRoomAgeAlarm,
      this.generateDeadLetterQueueAlarm,
      this.failureNoticeDeadLetterQueueAlarm,
    ];

    // --- The one alarm that emails ---
    const anyAlarm = AlarmRule.anyOf(...this.alarms.map((child) => AlarmRule.fromAlarm(child, AlarmState.ALARM)));
    const withThrottleRates = (throttleAlarms: readonly Alarm[]) =>
      AlarmRule.anyOf(anyAlarm, ...throttleAlarms.map((child) => AlarmRule.fromAlarm(child, AlarmState.ALARM)));
    this.pipelineUnhealthyAlarm = new CompositeAlarm(this, "PipelineUnhealthy", {
      compositeAlarmName: `${stack.stackName}-PipelineUnhealthy`,
      alarmDescription:
        "couch-imagegen needs a look: at least one of its alarms is in ALARM; this email is sent once per incident, " +
        "however many of them fire. Check first: which alarms the state reason names (or aws cloudwatch " +
        `describe-alarms --state-value ALARM --alarm-name-prefix ${stack.stackName}-), then each one's description ` +
        `and section in the runbook. Runbook: ${RUNBOOK}#pipelineunhealthy`,
      // Each kind of throttle-rate alarm exists on one side of the condition only, and a rule must name no other.
      alarmRule: AlarmRule.fromString(
        Fn.conditionIf(
          this.bedrockInStackRegion.logicalId,
          withThrottleRates(this.bedrockThrottleAlarms).renderAlarmRule(),
          withThrottleRates(this.pipelineBedrockThrottleAlarms).renderAlarmRule(),
        ).toString(),
      ),
    });
    const notify = new SnsAction(this.topic);
    this.pipelineUnhealthyAlarm.addAlarmAction(notify);
    this.pipelineUnhealthyAlarm.addOkAction(notify);
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
