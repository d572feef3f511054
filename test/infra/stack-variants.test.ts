// Verifies how deploy parameters change the synthesized template: an existing bucket with a key prefix (no bucket
// created, every S3 grant scoped to that bucket and prefix), and an open API with other model, region, limits,
// retention, Bedrock concurrency and alarm thresholds (no API key, usage plan or quota; the values, lifecycle prefixes
// and the waiting room's concurrency included, reach the resources that use them), and more allowed models (IAM on
// exactly those models, two throttle-rate alarms for each, one per side of the region condition, a synth warning for a
// legacy one), and execution logs at ALL with a throttle-rate alarm threshold of its own.
// It cannot verify that the existing bucket exists or that its own policy lets this account write to it.
import { Annotations, Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import type { LambdaFunction } from "../../infra/constructs/lambda-function";
import type { CouchImagegenStack } from "../../infra/stack";
import { grantsOf, logicalId, sortResources, synthStack } from "./synth";

const objects = (keys: string) => `arn:aws:s3:::pgr301-couch-explorers/candidates/alice/${keys}`;

describe("existing bucket with a key prefix (-c bucketName=... -c keyPrefix=...)", () => {
  let stack: CouchImagegenStack;
  let template: Template;
  beforeAll(() => {
    ({ stack, template } = synthStack({ bucketName: "pgr301-couch-explorers", keyPrefix: "candidates/alice/" }));
  });

  it("creates no bucket and no bucket policy: the bucket is someone else's", () => {
    template.resourceCountIs("AWS::S3::Bucket", 0);
    template.resourceCountIs("AWS::S3::BucketPolicy", 0);
  });

  it("scopes every S3 grant to that bucket under the prefix", () => {
    const role = (fn: LambdaFunction) => logicalId(stack, fn.role);
    const { workflow, ingress } = stack;
    const staged = sortResources([objects("staging/*.png"), objects("staging/*.jpg")]);
    const final = sortResources([objects("generated_images/*.png"), objects("generated_images/*.jpg")]);
    expect(grantsOf(template, role(workflow.generateImage))).toMatchObject({
      "s3:PutObject": staged,
      "s3:GetObject": staged,
    });
    expect(grantsOf(template, role(workflow.storeImage))).toMatchObject({
      "s3:GetObject": sortResources([...staged, ...final]),
      "s3:DeleteObject": staged,
      "s3:PutObject": final,
    });
    expect(grantsOf(template, role(ingress.jobStatus))["s3:GetObject"]).toEqual(final);

    const s3Resources = Object.values(template.findResources("AWS::IAM::Policy")).flatMap((policy) =>
      policy.Properties.PolicyDocument.Statement.filter((statement: { Action: string | string[] }) =>
        [statement.Action].flat().some((action) => action.startsWith("s3:")),
      ).flatMap((statement: { Resource: unknown }) => [statement.Resource].flat()),
    );
    expect(s3Resources.length).toBeGreaterThan(0);
    for (const resource of s3Resources) {
      expect(resource).toMatch(
        /^arn:aws:s3:::pgr301-couch-explorers\/candidates\/alice\/(staging|generated_images)\/\*\.(png|jpg)$/,
      );
    }
  });

  it("tells the functions the bucket name and the normalized prefix", () => {
    for (const fn of [stack.workflow.generateImage, stack.workflow.storeImage, stack.ingress.jobStatus]) {
      template.hasResourceProperties("AWS::Lambda::Function", {
        Role: { "Fn::GetAtt": [logicalId(stack, fn.role), "Arn"] },
        Environment: { Variables: { IMAGE_BUCKET: "pgr301-couch-explorers", KEY_PREFIX: "candidates/alice" } },
      });
    }
  });

  it("outputs the existing bucket's name", () => {
    expect(template.findOutputs("ImageBucketName").ImageBucketName?.Value).toBe("pgr301-couch-explorers");
  });
});

describe("open API, other model, region, limits and threshold, created bucket with a prefix", () => {
  let stack: CouchImagegenStack;
  let template: Template;
  beforeAll(() => {
    ({ stack, template } = synthStack({
      apiKeyRequired: "false",
      keyPrefix: "team/a",
      modelId: "amazon.titan-image-generator-v2:0",
      bedrockRegion: "us-west-2",
      bedrockConcurrency: "2",
      queueAgeAlarmSeconds: "300",
      waitingRoomAgeAlarmSeconds: "900",
      throttlingRateLimit: "3",
      throttlingBurstLimit: "6",
      statusRetentionDays: "7",
    }));
  });

  it("has no API key, usage plan (so no quota) or key output, and its methods need no key", () => {
    for (const type of ["AWS::ApiGateway::ApiKey", "AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::UsagePlanKey"]) {
      template.resourceCountIs(type, 0);
    }
    template.resourcePropertiesCountIs("AWS::ApiGateway::Method", { ApiKeyRequired: false }, 2);
    expect(Object.keys(template.findOutputs("ApiKeyId"))).toEqual([]);
    expect(Object.keys(template.findOutputs("UsagePlanId"))).toEqual([]);
    expect(stack.ingress.apiKey).toBeUndefined();
    expect(stack.ingress.usagePlan).toBeUndefined();
  });

  it("throttles the stage at the configured rate and burst", () => {
    template.hasResourceProperties("AWS::ApiGateway::Stage", {
      MethodSettings: [{ HttpMethod: "*", ResourcePath: "/*", ThrottlingRateLimit: 3, ThrottlingBurstLimit: 6 }],
    });
  });

  it("grants bedrock:InvokeModel on the configured model in the configured region only", () => {
    const grants = grantsOf(template, logicalId(stack, stack.workflow.generateImage.role));
    expect(grants["bedrock:InvokeModel"]).toEqual([
      "arn:aws:bedrock:us-west-2::foundation-model/amazon.titan-image-generator-v2:0",
    ]);
    template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: { Variables: { BEDROCK_REGION: "us-west-2", KEY_PREFIX: "team/a" } },
    });
  });

  it("runs at most bedrockConcurrency generators: the waiting room's event source, no reserved concurrency", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: { "Fn::GetAtt": [logicalId(stack, stack.workflow.waitingRoom.queue), "Arn"] },
      FunctionName: { Ref: logicalId(stack, stack.workflow.generateImage.function) },
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    template.resourcePropertiesCountIs("AWS::Lambda::Function", { ReservedConcurrentExecutions: Match.anyValue() }, 0);
  });

  it("passes the model and the retention to ValidatePrompt", () => {
    template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: {
        Variables: {
          MODEL_ID: "amazon.titan-image-generator-v2:0",
          ALLOWED_MODEL_IDS: "amazon.titan-image-generator-v2:0",
          STATUS_RETENTION_DAYS: "7",
        },
      },
    });
  });

  it("alarms on the request queue and the waiting room at their configured ages", () => {
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      AlarmName: "CouchImagegen-QueueBacklog",
      MetricName: "ApproximateAgeOfOldestMessage",
      Threshold: 300,
    });
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      AlarmName: "CouchImagegen-WaitingRoomBacklog",
      MetricName: "ApproximateAgeOfOldestMessage",
      Threshold: 900,
    });
  });

  it("expires staged images, and generated images a week after their status record (7 + 7 days), under the prefix", () => {
    template.hasResourceProperties("AWS::S3::Bucket", {
      LifecycleConfiguration: {
        Rules: [
          { Id: "ExpireStagedImages", Prefix: "team/a/staging/", ExpirationInDays: 1, Status: "Enabled" },
          { Id: "ExpireGeneratedImages", Prefix: "team/a/generated_images/", ExpirationInDays: 14, Status: "Enabled" },
          { Id: "AbortIncompleteUploads", AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
        ],
      },
    });
  });
});

describe("more models a request may name (-c allowedModelIds=...), one of them legacy", () => {
  let stack: CouchImagegenStack;
  let template: Template;
  beforeAll(() => {
    ({ stack, template } = synthStack({
      modelId: "stability.stable-image-ultra-v1:1",
      allowedModelIds: "stability.sd3-5-large-v1:0, amazon.nova-canvas-v1:0",
    }));
  });

  it("grants InvokeModel on exactly those foundation models in bedrockRegion", () => {
    const grants = grantsOf(template, logicalId(stack, stack.workflow.generateImage.role));
    expect(grants["bedrock:InvokeModel"]).toEqual([
      "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-canvas-v1:0",
      "arn:aws:bedrock:us-west-2::foundation-model/stability.sd3-5-large-v1:0",
      "arn:aws:bedrock:us-west-2::foundation-model/stability.stable-image-ultra-v1:1",
    ]);
  });

  it("tells ValidatePrompt and start-job which models a request may name, the default first", () => {
    const allowed = "stability.stable-image-ultra-v1:1,stability.sd3-5-large-v1:0,amazon.nova-canvas-v1:0";
    for (const handler of ["index.handler", "index.apiHandler", "index.sqsHandler"]) {
      const validating = template.findResources("AWS::Lambda::Function", {
        Properties: {
          Handler: handler,
          Environment: { Variables: { MODEL_ID: "stability.stable-image-ultra-v1:1", ALLOWED_MODEL_IDS: allowed } },
        },
      });
      expect(Object.keys(validating).length, handler).toBeGreaterThan(0);
    }
  });

  it("alarms on each model's Bedrock throttle rate, named after the model, only in bedrockRegion", () => {
    const expected: Record<string, string> = {
      "CouchImagegen-BedrockThrottleRate-stability-stable-image-ultra-v1-1": "stability.stable-image-ultra-v1:1",
      "CouchImagegen-BedrockThrottleRate-stability-sd3-5-large-v1-0": "stability.sd3-5-large-v1:0",
      "CouchImagegen-BedrockThrottleRate-amazon-nova-canvas-v1-0": "amazon.nova-canvas-v1:0",
    };
    const bedrock = Object.values(template.findResources("AWS::CloudWatch::Alarm")).filter((alarm) =>
      String(alarm.Properties.AlarmName).includes("-BedrockThrottleRate-"),
    );
    expect(bedrock.map((alarm) => alarm.Properties.AlarmName).sort()).toEqual(Object.keys(expected).sort());
    for (const alarm of bedrock) {
      expect(alarm.Condition).toBe(stack.getLogicalId(stack.monitoring.bedrockInStackRegion));
      const model = [{ Name: "ModelId", Value: expected[alarm.Properties.AlarmName] }];
      expect(alarm.Properties.Metrics).toEqual([
        expect.objectContaining({ ReturnData: true }),
        expect.objectContaining({
          MetricStat: expect.objectContaining({
            Metric: expect.objectContaining({ MetricName: "InvocationThrottles", Dimensions: model }),
          }),
        }),
        expect.objectContaining({
          MetricStat: expect.objectContaining({
            Metric: expect.objectContaining({ MetricName: "Invocations", Dimensions: model }),
          }),
        }),
      ]);
    }
    // The composite names all three where they exist.
    const composite = Object.values(template.findResources("AWS::CloudWatch::CompositeAlarm"))[0]!;
    const [, inBedrockRegion] = composite.Properties.AlarmRule["Fn::If"];
    expect(JSON.stringify(inBedrockRegion).match(/BedrockThrottleRate/g)).toHaveLength(3);
  });

  it("alarms on each model's throttle rate from the pipeline's own metrics everywhere else", () => {
    const expected: Record<string, string> = {
      "CouchImagegen-PipelineBedrockThrottleRate-stability-stable-image-ultra-v1-1":
        "stability.stable-image-ultra-v1:1",
      "CouchImagegen-PipelineBedrockThrottleRate-stability-sd3-5-large-v1-0": "stability.sd3-5-large-v1:0",
      "CouchImagegen-PipelineBedrockThrottleRate-amazon-nova-canvas-v1-0": "amazon.nova-canvas-v1:0",
    };
    const own = Object.values(template.findResources("AWS::CloudWatch::Alarm")).filter((alarm) =>
      String(alarm.Properties.AlarmName).includes("-PipelineBedrockThrottleRate-"),
    );
    expect(own.map((alarm) => alarm.Properties.AlarmName).sort()).toEqual(Object.keys(expected).sort());
    for (const alarm of own) {
      expect(alarm.Condition).toBe(stack.getLogicalId(stack.monitoring.bedrockOutsideStackRegion));
      const dimensions = [
        { Name: "ModelId", Value: expected[alarm.Properties.AlarmName] },
        { Name: "service", Value: "couch-imagegen" },
      ];
      expect(alarm.Properties.Metrics).toEqual([
        expect.objectContaining({ ReturnData: true }),
        ...["BedrockThrottles", "BedrockLatency"].map((MetricName) =>
          expect.objectContaining({
            MetricStat: expect.objectContaining({
              Metric: { Namespace: "CouchImagegen", MetricName, Dimensions: dimensions },
            }),
          }),
        ),
      ]);
    }
    // The composite names these three, and no AWS/Bedrock alarm, where they exist.
    const composite = Object.values(template.findResources("AWS::CloudWatch::CompositeAlarm"))[0]!;
    const [, , elsewhere] = composite.Properties.AlarmRule["Fn::If"];
    expect(JSON.stringify(elsewhere).match(/PipelineBedrockThrottleRate/g)).toHaveLength(3);
    expect(JSON.stringify(elsewhere).match(/BedrockThrottleRate/g)).toHaveLength(3);
  });

  it("warns at synth about the legacy model, naming its end of life and replacement, and about its region", () => {
    const annotations = Annotations.fromStack(stack);
    annotations.hasWarning(
      "*",
      Match.stringLikeRegexp(
        "amazon\\.nova-canvas-v1:0 \\(Amazon Nova Canvas\\) is a legacy Bedrock model, end of life 2026-09-30.*" +
          "Move to stability\\.stable-image-core-v1:1",
      ),
    );
    annotations.hasWarning("*", Match.stringLikeRegexp("amazon\\.nova-canvas-v1:0 is not listed in us-west-2"));
    // Only Nova Canvas is warned about: the current models are ACTIVE and served in us-west-2.
    expect(annotations.findWarning("*", Match.stringLikeRegexp("^stability\\."))).toEqual([]);
  });
});

describe("execution logs at ALL with execution data, a stricter Bedrock alarm, Bedrock in the stack's region", () => {
  let stack: CouchImagegenStack;
  let template: Template;
  beforeAll(() => {
    ({ stack, template } = synthStack({
      stateMachineLogLevel: "ALL",
      stateMachineLogExecutionData: "true",
      bedrockThrottleAlarmPercent: "5",
      bedrockRegion: "eu-west-1",
    }));
  });

  it("logs every event with its input and output", () => {
    template.hasResourceProperties("AWS::StepFunctions::StateMachine", {
      LoggingConfiguration: Match.objectLike({ Level: "ALL", IncludeExecutionData: true }),
    });
  });

  it("alarms at the configured throttle percentage, under a condition that holds in the stack's region", () => {
    for (const alarmId of ["BedrockThrottleRate", "PipelineBedrockThrottleRate"]) {
      template.hasResourceProperties("AWS::CloudWatch::Alarm", {
        AlarmName: `CouchImagegen-${alarmId}-stability-stable-image-core-v1-1`,
        Threshold: 5,
      });
    }
    const condition = template.toJSON().Conditions[stack.getLogicalId(stack.monitoring.bedrockInStackRegion)];
    expect(condition).toEqual({ "Fn::Equals": [{ Ref: "AWS::Region" }, "eu-west-1"] });
  });
});
