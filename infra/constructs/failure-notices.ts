import { Duration, Validations } from "aws-cdk-lib";
import { EventField, Rule, RuleTargetInput } from "aws-cdk-lib/aws-events";
import { SqsQueue } from "aws-cdk-lib/aws-events-targets";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import type { IStateMachine } from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import {
  FAILED_EXECUTION_STATUSES,
  FAILURE_NOTICE_BATCH_SIZE,
  FAILURE_NOTICE_MAX_CONCURRENCY,
  FAILURE_NOTICE_MAX_RECEIVES,
  FAILURE_NOTICE_VISIBILITY_TIMEOUT_SECONDS,
  FAILURE_NOTICE_WINDOW_SECONDS,
  FAILURE_NOTIFIER_ENV,
  FAILURE_NOTIFIER_TIMEOUT_SECONDS,
} from "../../functions/shared/failure-notices";
import type { PipelineDashboard } from "./dashboard";
import { LambdaFunction } from "./lambda-function";
import { redrivenQueue } from "./redriven-queue";

export interface FailureNoticesProps {
  /** The state machine whose failed, timed-out and aborted executions are noticed. */
  readonly stateMachine: IStateMachine;
}

/**
 * Failure notices, summarised: an EventBridge rule puts every failed, timed-out or aborted execution of the state
 * machine on the notice queue (and its DLQ), and the failure-notifier function takes them one batching window at a
 * time, publishing one notice per status and error kind per batch, not one per job (functions/shared/failure-notices.ts
 * has the numbers). `bindAlertTopic` names the topic the notices go to and grants the publish; the stack must call it.
 */
export class FailureNotices extends Construct {
  public readonly rule: Rule;
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;
  public readonly notifier: LambdaFunction;
  private alertTopicBound = false;

  constructor(scope: Construct, id: string, props: FailureNoticesProps) {
    super(scope, id);
    this.node.addValidation({
      validate: () =>
        this.alertTopicBound
          ? []
          : [`${this.node.path}: call bindAlertTopic(topic) with the alert topic: the notices have nowhere to go`],
    });

    ({ queue: this.queue, deadLetterQueue: this.deadLetterQueue } = redrivenQueue(this, {
      visibilityTimeout: Duration.seconds(FAILURE_NOTICE_VISIBILITY_TIMEOUT_SECONDS),
      maxReceiveCount: FAILURE_NOTICE_MAX_RECEIVES,
    }));

    this.rule = new Rule(this, "FailedExecutionRule", {
      description: "Queues every image pipeline execution that failed, timed out or was aborted for a failure notice",
      eventPattern: {
        source: ["aws.states"],
        detailType: ["Step Functions Execution Status Change"],
        detail: { status: [...FAILED_EXECUTION_STATUSES], stateMachineArn: [props.stateMachine.stateMachineArn] },
      },
    });
    // Only what a notice names: the event's detail also holds the execution's input and output (users' prompts),
    // which have no business in this queue. functions/failure-notifier/sqs-adapter.ts reads exactly this shape.
    const detail = (field: string) => EventField.fromPath(`$.detail.${field}`);
    // SqsQueue's grant lets events.amazonaws.com send only with aws:SourceArn = this rule (an SSE-SQS queue).
    this.rule.addTarget(
      new SqsQueue(this.queue, {
        message: RuleTargetInput.fromObject({
          region: EventField.region,
          time: EventField.time,
          detail: {
            name: detail("name"),
            status: detail("status"),
            error: detail("error"),
            cause: detail("cause"),
            executionArn: detail("executionArn"),
            stopDate: detail("stopDate"),
          },
        }),
      }),
    );

    this.notifier = new LambdaFunction(this, "Notifier", {
      source: "failure-notifier",
      description: "Failure notices: one email per status and error kind per batch of failed executions",
      timeout: Duration.seconds(FAILURE_NOTIFIER_TIMEOUT_SECONDS),
    });
    this.notifier.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: FAILURE_NOTICE_BATCH_SIZE,
        maxBatchingWindow: Duration.seconds(FAILURE_NOTICE_WINDOW_SECONDS),
        maxConcurrency: FAILURE_NOTICE_MAX_CONCURRENCY,
        reportBatchItemFailures: true,
      }),
    );
  }

  /** Sets the notifier's `TOPIC_ARN` and grants it `sns:Publish` there (and the use of the topic's key, if any). */
  bindAlertTopic(topic: ITopic): void {
    this.notifier.function.addEnvironment(FAILURE_NOTIFIER_ENV.topicArn, topic.topicArn);
    topic.grantPublish(this.notifier.role);
    if (topic.masterKey) {
      Validations.of(this.notifier.role).acknowledge({
        id: "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        reason:
          "topic.grantPublish grants kms:GenerateDataKey* with kms:Decrypt on the topic's key, the pair SNS documents " +
          "for publishers to an encrypted topic; the wildcard covers only the GenerateDataKey variants, on that one " +
          "key's ARN, which encrypts nothing but the alert topic.",
      });
    }
    this.alertTopicBound = true;
  }

  /** Sets the notifier's `DASHBOARD_NAME`, so every notice links the pipeline's dashboard. */
  bindDashboard(dashboard: PipelineDashboard): void {
    this.notifier.function.addEnvironment(FAILURE_NOTIFIER_ENV.dashboardName, dashboard.dashboardName);
  }
}
