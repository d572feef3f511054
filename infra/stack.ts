import { Annotations, Aws, CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import { LogLevel } from "aws-cdk-lib/aws-stepfunctions";
import type { Construct } from "constructs";
import { FAILURE_NOTICE_MAX_RECEIVES } from "../functions/shared/failure-notices";
import { resolveModel } from "../functions/shared/models/catalog";
import { GENERATE_MAX_RECEIVES } from "../functions/shared/waiting-room";
import type { ImagegenConfig } from "./config";
import { PipelineDashboard } from "./constructs/dashboard";
import { FailureNotices } from "./constructs/failure-notices";
import type { PipelineFunctions } from "./constructs/health-metrics";
import { JobIngress } from "./constructs/ingress";
import { PipelineMonitoring } from "./constructs/monitoring";
import { ImageStorage } from "./constructs/storage";
import { ImageWorkflow } from "./constructs/workflow";

export interface CouchImagegenStackProps extends StackProps {
  /** Validated deploy parameters (`loadConfig`). */
  readonly config: ImagegenConfig;
}

/**
 * couch-imagegen on AWS: API Gateway and SQS start a Step Functions pipeline that calls Bedrock and stores PNGs
 * in S3. Wires the constructs through their public fields.
 */
export class CouchImagegenStack extends Stack {
  public readonly storage: ImageStorage;
  public readonly workflow: ImageWorkflow;
  public readonly ingress: JobIngress;
  public readonly failureNotices: FailureNotices;
  public readonly monitoring: PipelineMonitoring;
  public readonly dashboard: PipelineDashboard;

  constructor(scope: Construct, id: string, props: CouchImagegenStackProps) {
    super(scope, id, props);
    const { config } = props;

    const models = { defaultModelId: config.modelId, allowedModelIds: config.allowedModelIds };
    warnAboutModels(this, config.allowedModelIds, config.bedrockRegion);
    this.storage = new ImageStorage(this, "Storage", {
      bucketName: config.bucketName,
      keyPrefix: config.keyPrefix,
      imageRetentionDays: config.imageRetentionDays,
    });
    this.workflow = new ImageWorkflow(this, "Workflow", {
      storage: this.storage,
      models,
      bedrockRegion: config.bedrockRegion,
      bedrockConcurrency: config.bedrockConcurrency,
      statusRetentionDays: config.statusRetentionDays,
      logLevel: LogLevel[config.stateMachineLogLevel],
      logExecutionData: config.stateMachineLogExecutionData,
    });
    this.ingress = new JobIngress(this, "Ingress", {
      stateMachine: this.workflow.stateMachine,
      storage: this.storage,
      models,
      apiKeyRequired: config.apiKeyRequired,
      throttlingRateLimit: config.throttlingRateLimit,
      throttlingBurstLimit: config.throttlingBurstLimit,
      dailyRequestQuota: config.dailyRequestQuota,
    });
    this.failureNotices = new FailureNotices(this, "FailureNotices", { stateMachine: this.workflow.stateMachine });
    const functions: PipelineFunctions = {
      startJobApi: this.ingress.startJobApi.function,
      startJobQueue: this.ingress.startJobQueue.function,
      jobStatus: this.ingress.jobStatus.function,
      validatePrompt: this.workflow.validatePrompt.function,
      generateImage: this.workflow.generateImage.function,
      storeImage: this.workflow.storeImage.function,
      failureNotifier: this.failureNotices.notifier.function,
    };
    const watched = {
      apiStage: this.ingress.api.deploymentStage,
      queue: this.ingress.queue,
      deadLetterQueue: this.ingress.deadLetterQueue,
      generateQueue: this.workflow.waitingRoom.queue,
      generateDeadLetterQueue: this.workflow.waitingRoom.deadLetterQueue,
      failureNoticeDeadLetterQueue: this.failureNotices.deadLetterQueue,
      stateMachine: this.workflow.stateMachine,
      functions,
      modelIds: config.allowedModelIds,
      bedrockRegion: config.bedrockRegion,
    };
    this.monitoring = new PipelineMonitoring(this, "Monitoring", {
      ...watched,
      alertEmail: config.alertEmail,
      queueAgeAlarmSeconds: config.queueAgeAlarmSeconds,
      waitingRoomAgeAlarmSeconds: config.waitingRoomAgeAlarmSeconds,
      bedrockThrottleAlarmPercent: config.bedrockThrottleAlarmPercent,
    });
    this.dashboard = new PipelineDashboard(this, "Dashboard", { ...watched, monitoring: this.monitoring });
    this.failureNotices.bindAlertTopic(this.monitoring.topic);
    this.failureNotices.bindDashboard(this.dashboard);

    const stateMachineArn = this.workflow.stateMachine.stateMachineArn;
    const outputs: Record<string, { value: string; description: string }> = {
      ApiUrl: {
        value: this.ingress.api.url,
        description: "Base URL: POST {ApiUrl}generate-image, GET {ApiUrl}jobs/{jobId}",
      },
      QueueUrl: {
        value: this.ingress.queue.queueUrl,
        description:
          'Image request queue: aws sqs send-message --queue-url <QueueUrl> --message-body \'{"prompt":"..."}\'',
      },
      DeadLetterQueueUrl: {
        value: this.ingress.deadLetterQueue.queueUrl,
        description: "Requests that failed three deliveries",
      },
      GenerateQueueUrl: {
        value: this.workflow.waitingRoom.queue.queueUrl,
        description:
          "The waiting room: jobs waiting for a Bedrock slot (GenerateImage's task tokens; not for producers)",
      },
      GenerateDeadLetterQueueUrl: {
        value: this.workflow.waitingRoom.deadLetterQueue.queueUrl,
        description:
          `Waiting-room jobs received ${GENERATE_MAX_RECEIVES} times without an answer (docs/RUNBOOK.md, ` +
          "GenerateDeadLetterQueueNotEmpty)",
      },
      FailureNoticeDeadLetterQueueUrl: {
        value: this.failureNotices.deadLetterQueue.queueUrl,
        description:
          `Failed-execution events received ${FAILURE_NOTICE_MAX_RECEIVES} times without a notice (docs/RUNBOOK.md, ` +
          "FailureNoticeDeadLetterQueueNotEmpty)",
      },
      StateMachineArn: { value: stateMachineArn, description: "Image pipeline state machine" },
      StateMachineConsoleUrl: {
        value: `https://${Aws.REGION}.console.aws.amazon.com/states/home?region=${Aws.REGION}#/v2/statemachines/view/${stateMachineArn}`,
        description: "The state machine's executions in the Step Functions console",
      },
      ImageBucketName: {
        value: this.storage.bucket.bucketName,
        description: `Generated images: s3://<bucket>/${this.storage.imageKeys.join(" or ")}`,
      },
      JobStatusTableName: { value: this.storage.jobStatusTable.tableName, description: "Job status records" },
      DashboardUrl: {
        value: `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards/dashboard/${this.dashboard.dashboard.dashboardName}`,
        description: "The pipeline's health: alarms, API, executions, queues, functions, Bedrock (docs/RUNBOOK.md)",
      },
    };
    if (this.ingress.apiKey) {
      outputs.ApiKeyId = {
        value: this.ingress.apiKey.keyId,
        description: "API key id: aws apigateway get-api-key --include-value --api-key <ApiKeyId>",
      };
    }
    if (this.ingress.usagePlan) {
      outputs.UsagePlanId = {
        value: this.ingress.usagePlan.usagePlanId,
        description:
          "Usage plan (daily quota): aws apigateway get-usage --usage-plan-id <UsagePlanId> --start-date ... --end-date ...",
      };
    }
    for (const [outputId, output] of Object.entries(outputs)) new CfnOutput(this, outputId, output);
  }
}

/**
 * Synth warnings for models that would fail every job: a legacy one (named with its end of life and replacement:
 * Bedrock refuses every request after that date), and one the catalog does not list in `bedrockRegion`.
 */
function warnAboutModels(stack: Stack, modelIds: readonly string[], bedrockRegion: string): void {
  for (const id of modelIds) {
    const { model, profileGeography } = resolveModel(id);
    if (model.lifecycle.status === "LEGACY") {
      const endOfLife = model.lifecycle.endOfLife
        ? `end of life ${model.lifecycle.endOfLife}`
        : "end of life announced";
      Annotations.of(stack).addWarningV2(
        "couch-imagegen:legacy-model",
        `${id} (${model.name}) is a legacy Bedrock model, ${endOfLife}: after that date every job using it fails. ` +
          `Move to ${model.replacement ?? "a current model"} (-c modelId=${model.replacement ?? "..."}); ` +
          "`npx couchgen models --check` shows each model's status.",
      );
    }
    const regions = profileGeography === undefined ? model.regions : (model.profiles[profileGeography] ?? []);
    if (!regions.includes(bedrockRegion)) {
      Annotations.of(stack).addWarningV2(
        "couch-imagegen:model-region",
        `${id} is not listed in ${bedrockRegion} (docs/MODELS.md lists ${regions.join(", ")}): pass ` +
          `-c bedrockRegion=${regions[0] ?? "..."}, or check with \`npx couchgen models --region ${bedrockRegion}\`.`,
      );
    }
  }
}
