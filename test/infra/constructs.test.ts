// Verifies that each construct rejects props it cannot build correctly, before building anything, with a message
// naming the prop and the accepted values (loadConfig catches these for the app; other callers get this guard).
// It cannot verify anything about the resources themselves: stack.test.ts does.
import { Stack } from "aws-cdk-lib";
import { beforeAll, describe, expect, it } from "vitest";
import { JobIngress, type JobIngressProps } from "../../infra/constructs/ingress";
import { PipelineMonitoring } from "../../infra/constructs/monitoring";
import { ImageStorage } from "../../infra/constructs/storage";
import { ImageWorkflow, type ImageWorkflowProps } from "../../infra/constructs/workflow";
import { testApp } from "./synth";

let stack: Stack;
let storage: ImageStorage;
let workflow: ImageWorkflow;
let workflowProps: ImageWorkflowProps;
let ingressProps: JobIngressProps;
let ingress: JobIngress;

beforeAll(() => {
  stack = new Stack(testApp(), "Constructs");
  storage = new ImageStorage(stack, "Storage");
  workflowProps = {
    storage,
    modelId: "amazon.nova-canvas-v1:0",
    bedrockRegion: "us-east-1",
    generateConcurrency: 5,
    statusRetentionDays: 30,
  };
  workflow = new ImageWorkflow(stack, "Workflow", workflowProps);
  ingressProps = {
    stateMachine: workflow.stateMachine,
    storage,
    modelId: "amazon.nova-canvas-v1:0",
    apiKeyRequired: true,
    throttlingRateLimit: 10,
    throttlingBurstLimit: 20,
  };
  ingress = new JobIngress(stack, "Ingress", ingressProps);
});

describe("construct props validation", () => {
  it.each(["/images", "images/", "team/*", "team/$x", "a?b"])("ImageStorage rejects keyPrefix %j", (keyPrefix) => {
    expect(() => new ImageStorage(stack, `Storage-${keyPrefix}`, { keyPrefix })).toThrow(
      /keyPrefix ".*" must have no leading or trailing '\/' and no '\*', '\?' or '\$'/,
    );
  });

  it.each([0, 1.5])("ImageWorkflow rejects generateConcurrency %j", (generateConcurrency) => {
    expect(
      () => new ImageWorkflow(stack, `Workflow-${generateConcurrency}`, { ...workflowProps, generateConcurrency }),
    ).toThrow(/generateConcurrency must be a whole number of at least 1/);
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

  it.each([0, 90.5])("PipelineMonitoring rejects queueAgeAlarmSeconds %j", (queueAgeAlarmSeconds) => {
    expect(
      () =>
        new PipelineMonitoring(stack, `Monitoring-${queueAgeAlarmSeconds}`, {
          alertEmail: "ops@example.com",
          queue: ingress.queue,
          deadLetterQueue: ingress.deadLetterQueue,
          stateMachine: workflow.stateMachine,
          queueAgeAlarmSeconds,
        }),
    ).toThrow(/queueAgeAlarmSeconds must be a whole number of seconds/);
  });
});
