import { Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import {
  AccessLogField,
  AccessLogFormat,
  ApiKey,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  type Method,
  Period,
  RestApi,
  type UsagePlan,
} from "aws-cdk-lib/aws-apigateway";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import type { StateMachine } from "aws-cdk-lib/aws-stepfunctions";
import { Construct, type IConstruct } from "constructs";
import type { ModelChoice } from "../../functions/shared/image-request";
import { modelChoiceEnvironment } from "../../functions/shared/model-choice-env";
import { CONFIG_DEFAULTS } from "../config";
import { LambdaFunction } from "./lambda-function";
import { redrivenQueue } from "./redriven-queue";
import type { ImageStorage } from "./storage";

export interface JobIngressProps {
  /** The image pipeline the entry paths start executions of. */
  readonly stateMachine: StateMachine;
  readonly storage: ImageStorage;
  /** The deployment's models: start-job checks each request against its model's limits before starting it. */
  readonly models: ModelChoice;
  /** Whether API callers must send an API key (`x-api-key`), tied to a usage plan. */
  readonly apiKeyRequired: boolean;
  /** Stage (and usage plan) steady-state rate limit, requests per second. */
  readonly throttlingRateLimit: number;
  /** Stage (and usage plan) burst limit, requests. */
  readonly throttlingBurstLimit: number;
  /**
   * Most requests each API key may make per day, `GET /jobs` polls included: the usage plan's quota, so only with
   * `apiKeyRequired` (an open API has no usage plan). It bounds what a leaked key can spend on Bedrock.
   * @default 5000 - with apiKeyRequired; none without
   */
  readonly dailyRequestQuota?: number;
  /**
   * API stage name, the first path segment of every URL.
   * @default "v1"
   */
  readonly stageName?: string;
  /**
   * Most concurrent SQS start-job invocations, bounding the StartExecution rate a backlog can cause.
   * @default 5
   */
  readonly queueMaxConcurrency?: number;
  /**
   * How long access logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * The ways jobs come in and are looked up: the REST API (`POST /generate-image` → start-job, `GET /jobs/{jobId}` →
 * job-status) and the SQS queue (+ DLQ) feeding start-job's SQS adapter. Both start-job adapters share one core;
 * each runs as its own function, so each has only its own trigger's permissions and its own metrics.
 */
export class JobIngress extends Construct {
  public readonly api: RestApi;
  public readonly apiKey: ApiKey | undefined;
  public readonly usagePlan: UsagePlan | undefined;
  public readonly generateImageMethod: Method;
  public readonly jobStatusMethod: Method;
  public readonly accessLogGroup: LogGroup;
  public readonly startJobApi: LambdaFunction;
  public readonly jobStatus: LambdaFunction;
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;
  public readonly startJobQueue: LambdaFunction;

  constructor(scope: Construct, id: string, props: JobIngressProps) {
    super(scope, id);
    const queueMaxConcurrency = props.queueMaxConcurrency ?? 5;
    if (!Number.isInteger(queueMaxConcurrency) || queueMaxConcurrency < 2 || queueMaxConcurrency > 1000) {
      throw new Error(
        `queueMaxConcurrency must be a whole number from 2 to 1000 (SQS event source limit), got ${queueMaxConcurrency}`,
      );
    }
    if (
      !(props.throttlingRateLimit > 0) ||
      !Number.isInteger(props.throttlingBurstLimit) ||
      props.throttlingBurstLimit < 1
    ) {
      throw new Error(
        `throttlingRateLimit must be above 0 and throttlingBurstLimit a whole number of at least 1, got ` +
          `${props.throttlingRateLimit} and ${props.throttlingBurstLimit}`,
      );
    }
    if (props.dailyRequestQuota !== undefined) {
      if (!props.apiKeyRequired) {
        throw new Error(
          "dailyRequestQuota needs apiKeyRequired: true (the quota lives in the API keys' usage plan); omit it for an open API",
        );
      }
      if (!Number.isInteger(props.dailyRequestQuota) || props.dailyRequestQuota < 1) {
        throw new Error(
          `dailyRequestQuota must be a whole number of requests, at least 1, got ${props.dailyRequestQuota}`,
        );
      }
    }

    // --- start-job, API adapter, and job-status ---
    this.startJobApi = new LambdaFunction(this, "StartJobApi", {
      source: "start-job",
      handler: "apiHandler",
      description: "POST /generate-image: validates the request and starts an execution named after the jobId",
      timeout: Duration.seconds(10),
      environment: modelChoiceEnvironment(props.models),
    });
    // DescribeExecution: a replayed Idempotency-Key is checked against the execution it already started.
    this.startJobApi.bindStateMachine(props.stateMachine, { start: true });

    this.jobStatus = new LambdaFunction(this, "JobStatus", {
      source: "job-status",
      description: "GET /jobs/{jobId}: status record, or QUEUED from the execution, and a presigned image URL",
      timeout: Duration.seconds(10),
    });
    this.jobStatus.bindStatusTable(props.storage.jobStatusTable, ["dynamodb:GetItem"]);
    this.jobStatus.bindStateMachine(props.stateMachine, { start: false });
    // Presigned URLs carry the signer's permissions: GetObject on final images only.
    this.jobStatus.bindImageBucket(props.storage, [
      { actions: ["s3:GetObject"], keyPatterns: props.storage.imageKeys },
    ]);

    // --- REST API ---
    this.accessLogGroup = new LogGroup(this, "ApiAccessLogs", {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.api = new RestApi(this, "Api", {
      // API Gateway's metrics are keyed by this name (ApiName): a name of its own keeps another deployment's API in
      // the same account out of this one's alarms and dashboard.
      restApiName: `${Stack.of(this).stackName}-api`,
      description: "couch-imagegen: POST /generate-image, GET /jobs/{jobId}",
      endpointTypes: [EndpointType.REGIONAL],
      // The account-wide API Gateway CloudWatch role is not this stack's to change (see the APIG6 acknowledgement).
      cloudWatchRole: false,
      deployOptions: {
        stageName: props.stageName ?? "v1",
        tracingEnabled: true,
        metricsEnabled: true,
        throttlingRateLimit: props.throttlingRateLimit,
        throttlingBurstLimit: props.throttlingBurstLimit,
        accessLogDestination: new LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: AccessLogFormat.custom(
          JSON.stringify({
            requestId: AccessLogField.contextRequestId(),
            extendedRequestId: AccessLogField.contextExtendedRequestId(),
            requestTime: AccessLogField.contextRequestTime(),
            httpMethod: AccessLogField.contextHttpMethod(),
            resourcePath: AccessLogField.contextResourcePath(),
            path: AccessLogField.contextPath(),
            status: AccessLogField.contextStatus(),
            responseLength: AccessLogField.contextResponseLength(),
            responseLatency: AccessLogField.contextResponseLatency(),
            integrationLatency: AccessLogField.contextIntegrationLatency(),
            integrationStatus: AccessLogField.contextIntegrationStatus(),
            integrationError: AccessLogField.contextIntegrationErrorMessage(),
            errorMessage: AccessLogField.contextErrorMessage(),
            errorType: AccessLogField.contextErrorResponseType(),
            apiKeyId: AccessLogField.contextIdentityApiKeyId(),
            sourceIp: AccessLogField.contextIdentitySourceIp(),
            userAgent: AccessLogField.contextIdentityUserAgent(),
            xrayTraceId: AccessLogField.contextXrayTraceId(),
          }),
        ),
      },
      defaultMethodOptions: { apiKeyRequired: props.apiKeyRequired },
    });
    // The stack outputs the URL as ApiUrl; RestApi's own "Endpoint" output would only repeat it.
    this.api.node.tryRemoveChild("Endpoint");

    // No request validator: start-job checks every body and answers a 4xx naming the field and what the chosen model
    // accepts; an API Gateway model would answer a generic "Invalid request body" first (docs/ARCHITECTURE.md §1.2).
    this.generateImageMethod = this.api.root
      .addResource("generate-image")
      .addMethod("POST", new LambdaIntegration(this.startJobApi.function, { allowTestInvoke: false }), {
        requestParameters: { "method.request.header.Idempotency-Key": false },
      });
    this.jobStatusMethod = this.api.root
      .addResource("jobs")
      .addResource("{jobId}")
      .addMethod("GET", new LambdaIntegration(this.jobStatus.function, { allowTestInvoke: false }), {
        requestParameters: { "method.request.path.jobId": true },
      });

    if (props.apiKeyRequired) {
      const dailyRequestQuota = props.dailyRequestQuota ?? CONFIG_DEFAULTS.dailyRequestQuota;
      this.apiKey = new ApiKey(this, "ApiKey", { description: "couch-imagegen API callers (x-api-key header)" });
      this.usagePlan = this.api.addUsagePlan("UsagePlan", {
        description: `Throttles each API key like the stage; at most ${dailyRequestQuota} requests a day per key`,
        throttle: { rateLimit: props.throttlingRateLimit, burstLimit: props.throttlingBurstLimit },
        quota: { limit: dailyRequestQuota, period: Period.DAY },
        apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
      });
      this.usagePlan.addApiKey(this.apiKey);
    } else {
      this.apiKey = undefined;
      this.usagePlan = undefined;
    }
    acknowledgeApiFindings(this.api, props.apiKeyRequired);

    // --- SQS queue → start-job, SQS adapter ---
    const startJobQueueTimeout = Duration.seconds(30);
    const maxBatchingWindow = Duration.seconds(1);
    this.startJobQueue = new LambdaFunction(this, "StartJobQueue", {
      source: "start-job",
      handler: "sqsHandler",
      description: "SQS image requests: starts one execution per message, reports partial batch failures",
      timeout: startJobQueueTimeout,
      environment: modelChoiceEnvironment(props.models),
    });
    // DescribeExecution: a redelivered message finds the execution it already started.
    this.startJobQueue.bindStateMachine(props.stateMachine, { start: true });

    ({ queue: this.queue, deadLetterQueue: this.deadLetterQueue } = redrivenQueue(this, {
      // Lambda's guidance: at least six times the function timeout, plus the batching window.
      visibilityTimeout: Duration.seconds(6 * startJobQueueTimeout.toSeconds() + maxBatchingWindow.toSeconds()),
      maxReceiveCount: 3,
    }));
    this.startJobQueue.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: 10,
        maxBatchingWindow,
        reportBatchItemFailures: true,
        maxConcurrency: queueMaxConcurrency,
      }),
    );
  }
}

function acknowledgeApiFindings(api: RestApi, apiKeyRequired: boolean): void {
  const callers = apiKeyRequired
    ? "Callers are backend services (docs/ARCHITECTURE.md: a mobile/web backend, batch producers), not end users, and each " +
      "method requires an API key bound to a usage plan with throttling and a daily quota"
    : "The API is open by deploy-time choice (-c apiKeyRequired=false) and bounded by stage throttling only " +
      "(deploy without that flag to require API keys)";
  for (const method of api.methods) {
    for (const id of ["AwsSolutions-APIG4", "AwsSolutions-COG4"]) {
      Validations.of(method).acknowledge({
        id,
        reason: `${callers}; there is no end-user identity for an authorizer.`,
      });
    }
  }
  // APIG2 is satisfied only by a validator that checks bodies and parameters; this API wants neither (see above).
  Validations.of(api.node.defaultChild as IConstruct).acknowledge({
    id: "AwsSolutions-APIG2",
    reason:
      "No API Gateway request validator: start-job checks every body (JSON, 80 KB, the chosen model's limits) and " +
      "answers a 4xx naming the field and what is accepted, which a model validator's generic 'Invalid request " +
      "body' would pre-empt; the only required parameter is the {jobId} path segment, present whenever the route matches.",
  });
  Validations.of(api.deploymentStage).acknowledge({
    id: "AwsSolutions-APIG3",
    reason: `No WAF web ACL: ${callers}; add a web ACL if the API is ever exposed to browsers.`,
  });
  Validations.of(api.deploymentStage).acknowledge({
    id: "AwsSolutions-APIG6",
    reason:
      "Execution logging needs the account-wide API Gateway CloudWatch role, an account setting this stack must not " +
      "change in a shared account; JSON access logs (status, latency, integration error) cover each request.",
  });
}
