// Verifies that each construct (storage, workflow, waiting room, ingress, monitoring, dashboard) rejects props it
// cannot build correctly, before building anything, with a message naming the prop and the accepted values (loadConfig
// catches these for the app; other callers get this guard), and that failure notices without an alert topic fail
// synthesis, saying which bind call is missing.
// Also the Bedrock grant for an inference profile, which no deploy parameter can reach today.
// It cannot verify anything else about the resources themselves: stack.test.ts does.
import { Duration, Stack } from "aws-cdk-lib";
import type { Policy } from "aws-cdk-lib/aws-iam";
import { LogLevel } from "aws-cdk-lib/aws-stepfunctions";
import { beforeAll, describe, expect, it } from "vitest";
import { findModel, MODEL_CATALOG, type ResolvedModel } from "../../functions/shared/models/catalog";
import { PipelineDashboard } from "../../infra/constructs/dashboard";
import { FailureNotices } from "../../infra/constructs/failure-notices";
import type { PipelineFunctions } from "../../infra/constructs/health-metrics";
import { JobIngress, type JobIngressProps } from "../../infra/constructs/ingress";
import { LambdaFunction } from "../../infra/constructs/lambda-function";
import { PipelineMonitoring, type PipelineMonitoringProps } from "../../infra/constructs/monitoring";
import { ImageStorage } from "../../infra/constructs/storage";
import { WaitingRoom } from "../../infra/constructs/waiting-room";
import { ImageWorkflow, type ImageWorkflowProps } from "../../infra/constructs/workflow";
import { sortResources, TEST_ENV, testApp } from "./synth";

let stack: Stack;
let storage: ImageStorage;
let workflow: ImageWorkflow;
let workflowProps: ImageWorkflowProps;
let ingressProps: JobIngressProps;
let ingress: JobIngress;
let failureNotices: FailureNotices;
let monitoringProps: PipelineMonitoringProps;

beforeAll(() => {
  stack = new Stack(testApp(), "Constructs");
  storage = new ImageStorage(stack, "Storage");
  workflowProps = {
    storage,
    models: {
      defaultModelId: "stability.stable-image-core-v1:1",
      allowedModelIds: ["stability.stable-image-core-v1:1"],
    },
    bedrockRegion: "us-west-2",
    bedrockConcurrency: 5,
    statusRetentionDays: 30,
  };
  workflow = new ImageWorkflow(stack, "Workflow", workflowProps);
  ingressProps = {
    stateMachine: workflow.stateMachine,
    storage,
    models: workflowProps.models,
    apiKeyRequired: true,
    throttlingRateLimit: 10,
    throttlingBurstLimit: 20,
  };
  ingress = new JobIngress(stack, "Ingress", ingressProps);
  failureNotices = new FailureNotices(stack, "FailureNotices", { stateMachine: workflow.stateMachine });
  const functions: PipelineFunctions = {
    startJobApi: ingress.startJobApi.function,
    startJobQueue: ingress.startJobQueue.function,
    jobStatus: ingress.jobStatus.function,
    validatePrompt: workflow.validatePrompt.function,
    generateImage: workflow.generateImage.function,
    storeImage: workflow.storeImage.function,
    failureNotifier: failureNotices.notifier.function,
  };
  monitoringProps = {
    alertEmail: "ops@example.com",
    apiStage: ingress.api.deploymentStage,
    queue: ingress.queue,
    deadLetterQueue: ingress.deadLetterQueue,
    generateQueue: workflow.waitingRoom.queue,
    generateDeadLetterQueue: workflow.waitingRoom.deadLetterQueue,
    failureNoticeDeadLetterQueue: failureNotices.deadLetterQueue,
    stateMachine: workflow.stateMachine,
    functions,
    queueAgeAlarmSeconds: 120,
    waitingRoomAgeAlarmSeconds: 300,
    modelIds: ["stability.stable-image-core-v1:1"],
    bedrockRegion: "us-west-2",
  };
});

describe("construct props validation", () => {
  it.each(["/images", "images/", "team/*", "team/$x", "a?b"])("ImageStorage rejects keyPrefix %j", (keyPrefix) => {
    expect(() => new ImageStorage(stack, `Storage-${keyPrefix}`, { keyPrefix })).toThrow(
      /keyPrefix ".*" must have no leading or trailing '\/' and no '\*', '\?' or '\$'/,
    );
  });

  it.each([0, 2.5])("ImageStorage rejects imageRetentionDays %j", (imageRetentionDays) => {
    expect(() => new ImageStorage(stack, `Storage-days-${imageRetentionDays}`, { imageRetentionDays })).toThrow(
      /imageRetentionDays must be a whole number of days, at least 1/,
    );
  });

  it("ImageStorage rejects imageRetentionDays for an existing bucket, which gets no lifecycle rules", () => {
    expect(
      () =>
        new ImageStorage(stack, "Storage-imported", { bucketName: "pgr301-couch-explorers", imageRetentionDays: 30 }),
    ).toThrow(/imageRetentionDays applies only to a bucket this construct creates: omit it with bucketName/);
  });

  it.each([0, 2.5])("JobIngress rejects dailyRequestQuota %j", (dailyRequestQuota) => {
    expect(
      () => new JobIngress(stack, `Ingress-quota-${dailyRequestQuota}`, { ...ingressProps, dailyRequestQuota }),
    ).toThrow(/dailyRequestQuota must be a whole number of requests, at least 1/);
  });

  it("JobIngress rejects dailyRequestQuota without API keys, which have no usage plan to carry it", () => {
    expect(
      () =>
        new JobIngress(stack, "Ingress-open-quota", { ...ingressProps, apiKeyRequired: false, dailyRequestQuota: 100 }),
    ).toThrow(/dailyRequestQuota needs apiKeyRequired: true/);
  });

  it.each([1, 1001, 2.5])("ImageWorkflow rejects bedrockConcurrency %j", (bedrockConcurrency) => {
    expect(
      () => new ImageWorkflow(stack, `Workflow-${bedrockConcurrency}`, { ...workflowProps, bedrockConcurrency }),
    ).toThrow(/bedrockConcurrency must be a whole number from 2 to 1000 \(an SQS event source's MaximumConcurrency\)/);
  });

  it("WaitingRoom rejects a generator whose timeout is more than a sixth of the generate queue's visibility timeout", () => {
    const slow = new LambdaFunction(stack, "SlowGenerator", {
      source: "generate-image",
      description: "test",
      timeout: Duration.seconds(101),
    });
    expect(() => new WaitingRoom(stack, "WaitingRoom-slow", { generator: slow, bedrockConcurrency: 5 })).toThrow(
      /the generator's timeout \(101 s\) must be at most a sixth of the generate queue's visibility timeout \(600 s\)/,
    );
  });

  it.each([
    { defaultModelId: "stability.stable-image-core-v1:1", allowedModelIds: ["stability.sd3-5-large-v1:0"] },
    { defaultModelId: "nope", allowedModelIds: ["nope"] },
  ])("ImageWorkflow rejects models %j", (models) => {
    expect(() => new ImageWorkflow(stack, `Workflow-${models.defaultModelId}`, { ...workflowProps, models })).toThrow(
      /models\.allowedModelIds must include models\.defaultModelId and only supported models \(stability\./,
    );
  });

  it.each([1, 1001, 2.5])("JobIngress rejects queueMaxConcurrency %j", (queueMaxConcurrency) => {
    expect(
      () => new JobIngress(stack, `Ingress-${queueMaxConcurrency}`, { ...ingressProps, queueMaxConcurrency }),
    ).toThrow(/queueMaxConcurrency must be a whole number from 2 to 1000/);
  });

  it.each([
    [0, 20],
    [10, 0],
    [10, 2.5],
  ])("JobIngress rejects throttling rate %j, burst %j", (throttlingRateLimit, throttlingBurstLimit) => {
    expect(
      () =>
        new JobIngress(stack, `Ingress-${throttlingRateLimit}-${throttlingBurstLimit}`, {
          ...ingressProps,
          throttlingRateLimit,
          throttlingBurstLimit,
        }),
    ).toThrow(/throttlingRateLimit must be above 0 and throttlingBurstLimit a whole number of at least 1/);
  });

  it("ImageWorkflow rejects execution data with logging OFF, which would log nothing", () => {
    expect(
      () =>
        new ImageWorkflow(stack, "Workflow-off-with-data", {
          ...workflowProps,
          logLevel: LogLevel.OFF,
          logExecutionData: true,
        }),
    ).toThrow(/logExecutionData needs a logLevel other than OFF/);
  });

  it.each([0, 90.5])("PipelineMonitoring rejects queueAgeAlarmSeconds %j", (queueAgeAlarmSeconds) => {
    expect(
      () =>
        new PipelineMonitoring(stack, `Monitoring-${queueAgeAlarmSeconds}`, {
          ...monitoringProps,
          queueAgeAlarmSeconds,
        }),
    ).toThrow(/queueAgeAlarmSeconds must be a whole number of seconds/);
  });

  it.each([0, 90.5])("PipelineMonitoring rejects waitingRoomAgeAlarmSeconds %j", (waitingRoomAgeAlarmSeconds) => {
    expect(
      () =>
        new PipelineMonitoring(stack, `Monitoring-waiting-${waitingRoomAgeAlarmSeconds}`, {
          ...monitoringProps,
          waitingRoomAgeAlarmSeconds,
        }),
    ).toThrow(/waitingRoomAgeAlarmSeconds must be a whole number of seconds/);
  });

  it.each([0, 100.5, Number.NaN])("PipelineMonitoring rejects bedrockThrottleAlarmPercent %j", (percent) => {
    expect(
      () =>
        new PipelineMonitoring(stack, `Monitoring-percent-${percent}`, {
          ...monitoringProps,
          bedrockThrottleAlarmPercent: percent,
        }),
    ).toThrow(/bedrockThrottleAlarmPercent must be a percentage above 0 and at most 100/);
  });

  it("PipelineMonitoring and PipelineDashboard reject an empty model list", () => {
    expect(() => new PipelineMonitoring(stack, "Monitoring-no-models", { ...monitoringProps, modelIds: [] })).toThrow(
      /modelIds must name every model GenerateImage may invoke \(at least one\)/,
    );
    const monitoring = new PipelineMonitoring(stack, "Monitoring-for-dashboard", monitoringProps);
    expect(
      () => new PipelineDashboard(stack, "Dashboard-no-models", { ...monitoringProps, monitoring, modelIds: [] }),
    ).toThrow(/modelIds must name every model GenerateImage may invoke/);
    expect(
      () =>
        new PipelineDashboard(stack, "Dashboard-bad-name", {
          ...monitoringProps,
          monitoring,
          dashboardName: "couch imagegen/health",
        }),
    ).toThrow(/dashboardName "couch imagegen\/health" is not a CloudWatch dashboard name: use 1-255 letters/);
  });
});

describe("FailureNotices", () => {
  it("fails validation until bindAlertTopic names the topic the notices go to", () => {
    // Prepare
    const monitoring = new PipelineMonitoring(stack, "Monitoring-for-notices", monitoringProps);
    const unbound = () => failureNotices.node.validate();
    expect(unbound()).toEqual([
      "Constructs/FailureNotices: call bindAlertTopic(topic) with the alert topic: the notices have nowhere to go",
    ]);

    // Act
    failureNotices.bindAlertTopic(monitoring.topic);

    // Assess
    expect(unbound()).toEqual([]);
  });
});

describe("LambdaFunction.bindBedrockModels", () => {
  it("grants an inference profile's ARN in bedrockRegion and its model's ARN in each region it routes to", () => {
    // Prepare: no current image model has a cross-region profile (docs/MODELS.md), so this row is made up.
    const profiled: ResolvedModel = {
      id: "us.example.image-model-v1:0",
      profileGeography: "us",
      model: { ...MODEL_CATALOG[0]!, id: "example.image-model-v1:0", profiles: { us: ["us-east-1", "us-west-2"] } },
    };
    const bindStack = new Stack(testApp(), "Bind", { env: TEST_ENV });
    const generator = new LambdaFunction(bindStack, "Generator", {
      source: "generate-image",
      description: "test",
      timeout: Duration.seconds(10),
    });

    // Act
    generator.bindBedrockModels([profiled, findModel("stability.stable-image-core-v1:1")!], "us-west-2");

    // Assess
    // The role's policy as CloudFormation will see it (a whole-template synth would hash the Lambda asset: seconds).
    const policy = bindStack.resolve((generator.role.node.findChild("DefaultPolicy") as Policy).document) as {
      Statement: { Action: string | string[]; Resource: string | string[] }[];
    };
    const invoke = policy.Statement.find((statement) => [statement.Action].flat().includes("bedrock:InvokeModel"));
    expect(sortResources([invoke?.Resource ?? []].flat())).toEqual([
      "arn:aws:bedrock:us-east-1::foundation-model/example.image-model-v1:0",
      "arn:aws:bedrock:us-west-2::foundation-model/example.image-model-v1:0",
      "arn:aws:bedrock:us-west-2::foundation-model/stability.stable-image-core-v1:1",
      `arn:aws:bedrock:us-west-2:${TEST_ENV.account}:inference-profile/us.example.image-model-v1:0`,
    ]);
  });
});
