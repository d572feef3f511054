import { ArnFormat, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import { Alarm, ComparisonOperator, type Metric, Stats, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { EventField, Rule, RuleTargetInput } from "aws-cdk-lib/aws-events";
import { PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Key } from "aws-cdk-lib/aws-kms";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import type { StateMachine } from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";

export interface PipelineMonitoringProps {
  /** Receives every alarm and OK notice and every failed-execution notice. */
  readonly alertEmail: string;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  readonly stateMachine: StateMachine;
  /** Age of the oldest queued message, in seconds, that raises the queue alarm. */
  readonly queueAgeAlarmSeconds: number;
}

/** Execution statuses that end a job without an image and get their own notice. */
export const FAILED_EXECUTION_STATUSES = ["FAILED", "TIMED_OUT", "ABORTED"] as const;

/**
 * Tells the team when something needs a look: alarms on the queue backlog, the DLQ and failed, timed-out or
 * aborted executions, and one notice per failed execution (naming the job and linking the execution), all sent to
 * one encrypted SNS topic with an email subscription.
 */
export class PipelineMonitoring extends Construct {
  public readonly topic: Topic;
  public readonly topicKey: Key;
  public readonly queueAgeAlarm: Alarm;
  public readonly deadLetterQueueAlarm: Alarm;
  public readonly executionsFailedAlarm: Alarm;
  public readonly executionsTimedOutAlarm: Alarm;
  public readonly executionsAbortedAlarm: Alarm;
  public readonly failedExecutionRule: Rule;

  constructor(scope: Construct, id: string, props: PipelineMonitoringProps) {
    super(scope, id);
    if (!Number.isInteger(props.queueAgeAlarmSeconds) || props.queueAgeAlarmSeconds < 1) {
      throw new Error(`queueAgeAlarmSeconds must be a whole number of seconds, got ${props.queueAgeAlarmSeconds}`);
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
    const notify = new SnsAction(this.topic);
    const alarm = (alarmId: string, metric: Metric, settings: AlarmSettings): Alarm => {
      const created = new Alarm(this, alarmId, {
        metric,
        alarmName: `${stack.stackName}-${alarmId}`,
        alarmDescription: settings.description,
        threshold: settings.threshold,
        comparisonOperator: settings.comparisonOperator,
        evaluationPeriods: 1,
        // No data means an idle queue or no executions: nothing is wrong.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(notify);
      created.addOkAction(notify);
      return created;
    };

    const oneMinute = Duration.minutes(1);
    this.queueAgeAlarm = alarm(
      "QueueBacklog",
      props.queue.metricApproximateAgeOfOldestMessage({ period: oneMinute, statistic: Stats.MAXIMUM }),
      {
        threshold: props.queueAgeAlarmSeconds,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        description:
          `The oldest image request has waited ${props.queueAgeAlarmSeconds} s or more in the queue: check the ` +
          "start-job SQS function's errors and throttles.",
      },
    );
    this.deadLetterQueueAlarm = alarm(
      "DeadLetterQueueNotEmpty",
      props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: oneMinute, statistic: Stats.MAXIMUM }),
      {
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        description:
          "Image requests failed three deliveries and are in the dead-letter queue: read them, fix the cause, " +
          "then redrive them to the queue.",
      },
    );
    const executionsAlarm = (alarmId: string, metric: Metric, what: string) =>
      alarm(alarmId, metric, {
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        description:
          `One or more image pipeline executions ${what} in the last minute: ` +
          "open the state machine's failed executions.",
      });
    const sum = { period: oneMinute, statistic: Stats.SUM };
    this.executionsFailedAlarm = executionsAlarm("ExecutionsFailed", props.stateMachine.metricFailed(sum), "failed");
    this.executionsTimedOutAlarm = executionsAlarm(
      "ExecutionsTimedOut",
      props.stateMachine.metricTimedOut(sum),
      "timed out",
    );
    this.executionsAbortedAlarm = executionsAlarm(
      "ExecutionsAborted",
      props.stateMachine.metricAborted(sum),
      "were aborted",
    );

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
  readonly comparisonOperator: ComparisonOperator;
  readonly description: string;
}
