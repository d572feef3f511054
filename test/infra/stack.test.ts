// Verifies the synthesized CloudFormation template of CouchImagegenStack with the default parameters: API routes
// reach the right functions (no request validator in front of start-job), the usage plan's throttling and daily
// quota, every IAM grant (action and resource), the Lambda defaults, the state machine and its definition
// substitutions and its logging, queue/DLQ wiring, encryption, the image bucket's lifecycle, the failed-execution rule
// and who may publish to its topic and use its key, and the outputs. The alarms and the dashboard: alarms.test.ts and
// dashboard.test.ts.
// It cannot verify runtime behaviour (no AWS here: nothing is deployed, Bedrock is never called; whether EventBridge
// really delivers under the key policy, or API Gateway enforces the quota, shows only in a deployed account), and it
// does not bundle the Lambda code (bundling is skipped; cdk-cli.test.ts runs the real `cdk synth`).
import { readFileSync } from "node:fs";
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import type { CouchImagegenStack } from "../../infra/stack";
import { ASL_PATH } from "../../statemachine/substitutions";
import { grantsOf, logicalId, roleStatements, sortResources, synthStack } from "./synth";

let stack: CouchImagegenStack;
let template: Template;
const ids: Record<string, string> = {};

beforeAll(() => {
  ({ stack, template } = synthStack());
  const { storage, workflow, ingress, monitoring } = stack;
  Object.assign(ids, {
    bucket: logicalId(stack, storage.bucket),
    table: logicalId(stack, storage.jobStatusTable),
    stateMachine: logicalId(stack, workflow.stateMachine),
    stateMachineRole: logicalId(stack, workflow.stateMachine.role),
    executionLogs: logicalId(stack, workflow.logGroup),
    api: logicalId(stack, ingress.api),
    queue: logicalId(stack, ingress.queue),
    deadLetterQueue: logicalId(stack, ingress.deadLetterQueue),
    topic: logicalId(stack, monitoring.topic),
    topicKey: logicalId(stack, monitoring.topicKey),
  });
  for (const [name, fn] of Object.entries(lambdaFunctions())) {
    ids[`${name}Function`] = logicalId(stack, fn.function);
    ids[`${name}Role`] = logicalId(stack, fn.role);
    ids[`${name}LogGroup`] = logicalId(stack, fn.logGroup);
  }
});

function lambdaFunctions() {
  const { workflow, ingress } = stack;
  return {
    validatePrompt: workflow.validatePrompt,
    generateImage: workflow.generateImage,
    storeImage: workflow.storeImage,
    startJobApi: ingress.startJobApi,
    startJobQueue: ingress.startJobQueue,
    jobStatus: ingress.jobStatus,
  };
}

const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ "Fn::GetAtt": [id, "Arn"] });
const objectsArn = (bucketId: string, keys: string) => ({ "Fn::Join": ["", [arnOf(bucketId), `/${keys}`]] });
const executionsArn = (stateMachineId: string) => ({
  "Fn::Join": [
    "",
    ["arn:aws:states:eu-west-1:123456789012:execution:", { "Fn::GetAtt": [stateMachineId, "Name"] }, ":*"],
  ],
});

function resource(logicalId: string): { Type: string; Properties: Record<string, unknown> } {
  const found = template.toJSON().Resources[logicalId];
  if (!found) throw new Error(`no resource ${logicalId}`);
  return found;
}

describe("Lambda functions", () => {
  it("all run Node.js 24 on ARM64 with active tracing and JSON logs at INFO in their own log group", () => {
    template.resourceCountIs("AWS::Lambda::Function", 6);
    for (const name of Object.keys(lambdaFunctions())) {
      expect(resource(ids[`${name}Function`]!).Properties).toMatchObject({
        Runtime: "nodejs24.x",
        Architectures: ["arm64"],
        TracingConfig: { Mode: "Active" },
        // INFO, as POWERTOOLS_LOG_LEVEL below: Lambda's filter overrides Powertools' level, and files the metrics'
        // embedded-metric-format lines (no level) as INFO, so a stricter filter would drop them.
        LoggingConfig: { LogFormat: "JSON", ApplicationLogLevel: "INFO", LogGroup: ref(ids[`${name}LogGroup`]!) },
        Role: arnOf(ids[`${name}Role`]!),
      });
      expect(resource(ids[`${name}LogGroup`]!).Properties).toEqual({ RetentionInDays: 30 });
    }
  });

  it("call the handler each file exports", () => {
    const handlers = Object.fromEntries(
      Object.keys(lambdaFunctions()).map((name) => [name, resource(ids[`${name}Function`]!).Properties.Handler]),
    );
    expect(handlers).toEqual({
      validatePrompt: "index.handler",
      generateImage: "index.handler",
      storeImage: "index.handler",
      startJobApi: "index.apiHandler",
      startJobQueue: "index.sqsHandler",
      jobStatus: "index.handler",
    });
  });

  it("get the environment variables their handlers read", () => {
    const environment = (name: string) =>
      (resource(ids[`${name}Function`]!).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    const models = {
      MODEL_ID: "stability.stable-image-core-v1:1",
      ALLOWED_MODEL_IDS: "stability.stable-image-core-v1:1",
    };
    // Powertools' service and namespace are the ones the dashboard searches (functions/shared/metric-names.ts).
    const options = {
      NODE_OPTIONS: "--enable-source-maps",
      POWERTOOLS_SERVICE_NAME: "couch-imagegen",
      POWERTOOLS_METRICS_NAMESPACE: "CouchImagegen",
      POWERTOOLS_LOG_LEVEL: "INFO",
    };
    expect(environment("validatePrompt")).toEqual({ ...options, ...models, STATUS_RETENTION_DAYS: "30" });
    // The request names its model: GenerateImage needs only where Bedrock is and the grant (below).
    expect(environment("generateImage")).toEqual({
      ...options,
      BEDROCK_REGION: "us-west-2",
      IMAGE_BUCKET: ref(ids.bucket!),
      KEY_PREFIX: "",
    });
    expect(environment("storeImage")).toEqual({ ...options, IMAGE_BUCKET: ref(ids.bucket!), KEY_PREFIX: "" });
    for (const startJob of ["startJobApi", "startJobQueue"]) {
      expect(environment(startJob)).toEqual({ ...options, ...models, STATE_MACHINE_ARN: ref(ids.stateMachine!) });
    }
    expect(environment("jobStatus")).toEqual({
      ...options,
      JOB_STATUS_TABLE: ref(ids.table!),
      STATE_MACHINE_ARN: ref(ids.stateMachine!),
      IMAGE_BUCKET: ref(ids.bucket!),
      KEY_PREFIX: "",
    });
  });

  it("reserve GenerateImage's concurrency (bounded Bedrock calls) and only GenerateImage's", () => {
    for (const name of Object.keys(lambdaFunctions())) {
      const reserved = resource(ids[`${name}Function`]!).Properties.ReservedConcurrentExecutions;
      expect(reserved).toBe(name === "generateImage" ? 5 : undefined);
    }
  });

  it("time out before the state machine's task timeouts (30, 120, 60 s)", () => {
    const timeout = (name: string) => resource(ids[`${name}Function`]!).Properties.Timeout as number;
    expect(timeout("validatePrompt")).toBeLessThan(30);
    expect(timeout("generateImage")).toBeLessThan(120);
    expect(timeout("storeImage")).toBeLessThan(60);
  });
});

describe("IAM: each role is allowed exactly what its code calls", () => {
  it("GenerateImage: bedrock:InvokeModel on the default model only, s3:PutObject on staged images only", () => {
    expect(grantsOf(template, ids.generateImageRole!)).toEqual({
      "bedrock:InvokeModel": ["arn:aws:bedrock:us-west-2::foundation-model/stability.stable-image-core-v1:1"],
      "s3:PutObject": sortResources([
        objectsArn(ids.bucket!, "staging/*.png"),
        objectsArn(ids.bucket!, "staging/*.jpg"),
      ]),
    });
  });

  it("StoreImage: reads and deletes staged images, writes and checks final images, nothing else", () => {
    expect(grantsOf(template, ids.storeImageRole!)).toEqual({
      "s3:GetObject": sortResources([
        objectsArn(ids.bucket!, "staging/*.png"),
        objectsArn(ids.bucket!, "staging/*.jpg"),
        objectsArn(ids.bucket!, "generated_images/*.png"),
        objectsArn(ids.bucket!, "generated_images/*.jpg"),
      ]),
      "s3:DeleteObject": sortResources([
        objectsArn(ids.bucket!, "staging/*.png"),
        objectsArn(ids.bucket!, "staging/*.jpg"),
      ]),
      "s3:PutObject": sortResources([
        objectsArn(ids.bucket!, "generated_images/*.png"),
        objectsArn(ids.bucket!, "generated_images/*.jpg"),
      ]),
    });
  });

  it("ValidatePrompt: no AWS access beyond its logs and traces", () => {
    expect(grantsOf(template, ids.validatePromptRole!)).toEqual({});
  });

  it("start-job (API and SQS): StartExecution on this state machine only, DescribeExecution on its executions", () => {
    for (const role of [ids.startJobApiRole!, ids.startJobQueueRole!]) {
      expect(grantsOf(template, role)).toMatchObject({
        "states:StartExecution": [ref(ids.stateMachine!)],
        "states:DescribeExecution": [executionsArn(ids.stateMachine!)],
      });
    }
    expect(Object.keys(grantsOf(template, ids.startJobApiRole!)).sort()).toEqual([
      "states:DescribeExecution",
      "states:StartExecution",
    ]);
  });

  it("start-job (SQS): consumes its own queue only", () => {
    const grants = grantsOf(template, ids.startJobQueueRole!);
    for (const action of ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]) {
      expect(grants[action]).toEqual([arnOf(ids.queue!)]);
    }
    expect(Object.keys(grants).filter((action) => !action.startsWith("sqs:") && !action.startsWith("states:"))).toEqual(
      [],
    );
  });

  it("job-status: GetItem on the table, DescribeExecution on this machine's executions, GetObject on final images", () => {
    expect(grantsOf(template, ids.jobStatusRole!)).toEqual({
      "dynamodb:GetItem": [arnOf(ids.table!)],
      "states:DescribeExecution": [executionsArn(ids.stateMachine!)],
      "s3:GetObject": sortResources([
        objectsArn(ids.bucket!, "generated_images/*.png"),
        objectsArn(ids.bucket!, "generated_images/*.jpg"),
      ]),
    });
  });

  it("the state machine: invokes the three task functions (and their versions) and updates the table, nothing else", () => {
    const grants = grantsOf(template, ids.stateMachineRole!);
    const tasks = [ids.validatePromptFunction!, ids.generateImageFunction!, ids.storeImageFunction!];
    expect(grants["lambda:InvokeFunction"]).toEqual(
      expect.arrayContaining(tasks.flatMap((id) => [arnOf(id), { "Fn::Join": ["", [arnOf(id), ":*"]] }])),
    );
    expect(grants["lambda:InvokeFunction"]).toHaveLength(6);
    expect(grants["dynamodb:UpdateItem"]).toEqual([arnOf(ids.table!)]);
    const others = Object.keys(grants).filter(
      (action) => !["lambda:InvokeFunction", "dynamodb:UpdateItem"].includes(action),
    );
    // What execution logging needs; it supports no resource-level permissions.
    expect(others.every((action) => action.startsWith("logs:") && grants[action]!.every((r) => r === "*"))).toBe(true);
  });

  it("every Lambda role writes logs to its own log group only", () => {
    for (const name of Object.keys(lambdaFunctions())) {
      const logWrites = roleStatements(template, ids[`${name}Role`]!).filter((s) =>
        s.Action.includes("logs:PutLogEvents"),
      );
      expect(logWrites).toEqual([expect.objectContaining({ Resource: arnOf(ids[`${name}LogGroup`]!) })]);
    }
    template.resourcePropertiesCountIs("AWS::IAM::Role", { ManagedPolicyArns: Match.anyValue() }, 0);
  });

  it("no statement anywhere allows a '*' resource except for X-Ray and log delivery, which have no resource ARNs", () => {
    const policies = template.findResources("AWS::IAM::Policy");
    for (const policy of Object.values(policies)) {
      for (const statement of policy.Properties.PolicyDocument.Statement) {
        if ([statement.Resource].flat().includes("*")) {
          for (const action of [statement.Action].flat() as string[]) {
            expect(action).toMatch(
              /^(xray:|logs:(Create|Get|Update|Delete|List)LogDeliver|logs:(Put|Describe)ResourcePolic|logs:DescribeLogGroups)/,
            );
          }
        }
      }
    }
  });
});

describe("REST API", () => {
  function methodFor(pathPart: string, httpMethod: string) {
    const resources = template.findResources("AWS::ApiGateway::Resource", { Properties: { PathPart: pathPart } });
    const [resourceId] = Object.keys(resources);
    const methods = template.findResources("AWS::ApiGateway::Method", {
      Properties: { HttpMethod: httpMethod, ResourceId: ref(resourceId!) },
    });
    expect(Object.keys(methods)).toHaveLength(1);
    return Object.values(methods)[0]!.Properties;
  }
  const lambdaProxy = (functionId: string) => ({
    Type: "AWS_PROXY",
    IntegrationHttpMethod: "POST",
    Uri: {
      "Fn::Join": [
        "",
        ["arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/", arnOf(functionId), "/invocations"],
      ],
    },
  });

  it("routes POST /generate-image to start-job's API handler, API key required", () => {
    expect(methodFor("generate-image", "POST")).toMatchObject({
      ApiKeyRequired: true,
      Integration: lambdaProxy(ids.startJobApiFunction!),
      RestApiId: ref(ids.api!),
    });
  });

  it("routes GET /jobs/{jobId} to job-status, with the path parameter declared", () => {
    const jobsResource = Object.keys(
      template.findResources("AWS::ApiGateway::Resource", { Properties: { PathPart: "jobs" } }),
    )[0];
    template.hasResourceProperties("AWS::ApiGateway::Resource", { PathPart: "{jobId}", ParentId: ref(jobsResource!) });
    expect(methodFor("{jobId}", "GET")).toMatchObject({
      ApiKeyRequired: true,
      Integration: lambdaProxy(ids.jobStatusFunction!),
      RequestParameters: { "method.request.path.jobId": true },
    });
  });

  it("leaves bodies to start-job: no request validator or model answers a generic 400 before it (ARCHITECTURE §1.2)", () => {
    const post = methodFor("generate-image", "POST");
    expect(post.RequestValidatorId).toBeUndefined();
    expect(post.RequestModels).toBeUndefined();
    template.resourceCountIs("AWS::ApiGateway::Model", 0);
  });

  it("has no request validator that checks nothing (a body check needs a model, a parameter check a required one)", () => {
    const validators = template.findResources("AWS::ApiGateway::RequestValidator");
    const methods = Object.values(template.findResources("AWS::ApiGateway::Method")).map((m) => m.Properties);
    for (const [validatorId, validator] of Object.entries(validators)) {
      const users = methods.filter(
        (method) => JSON.stringify(method.RequestValidatorId) === JSON.stringify(ref(validatorId)),
      );
      expect(users.length, `${validatorId} is attached to no method`).toBeGreaterThan(0);
      for (const method of users) {
        const checksBody = validator.Properties.ValidateRequestBody === true && method.RequestModels !== undefined;
        // A required path parameter is present whenever the route matches, so only query strings and headers count.
        const checksParameters =
          validator.Properties.ValidateRequestParameters === true &&
          Object.entries(method.RequestParameters ?? {}).some(
            ([name, required]) => required === true && !name.startsWith("method.request.path."),
          );
        expect(checksBody || checksParameters, `${validatorId} on ${method.HttpMethod}`).toBe(true);
        if (validator.Properties.ValidateRequestBody === true) expect(method.RequestModels).toBeDefined();
      }
    }
  });

  it("has exactly these two methods, and API Gateway may invoke each function on its own route only", () => {
    template.resourceCountIs("AWS::ApiGateway::Method", 2);
    const permissions = Object.values(template.findResources("AWS::Lambda::Permission")).map((p) => p.Properties);
    expect(permissions).toHaveLength(2);
    // The execute-api ARN of one route on this API's stage (path parameters become '*').
    const sourceArn = (route: string) => ({
      "Fn::Join": [
        "",
        [
          "arn:aws:execute-api:eu-west-1:123456789012:",
          ref(ids.api!),
          "/",
          ref(logicalId(stack, stack.ingress.api.deploymentStage)),
          `/${route}`,
        ],
      ],
    });
    expect(permissions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          FunctionName: arnOf(ids.startJobApiFunction!),
          Principal: "apigateway.amazonaws.com",
        }),
        expect.objectContaining({ FunctionName: arnOf(ids.jobStatusFunction!), Principal: "apigateway.amazonaws.com" }),
      ]),
    );
    template.hasResourceProperties("AWS::Lambda::Permission", {
      FunctionName: arnOf(ids.startJobApiFunction!),
      SourceArn: sourceArn("POST/generate-image"),
    });
    template.hasResourceProperties("AWS::Lambda::Permission", {
      FunctionName: arnOf(ids.jobStatusFunction!),
      SourceArn: sourceArn("GET/jobs/*"),
    });
  });

  it("stage v1: throttled as configured, X-Ray, metrics and JSON access logs", () => {
    const stage = Object.values(template.findResources("AWS::ApiGateway::Stage"))[0]!.Properties;
    expect(stage).toMatchObject({
      StageName: "v1",
      TracingEnabled: true,
      MethodSettings: [
        {
          HttpMethod: "*",
          ResourcePath: "/*",
          MetricsEnabled: true,
          ThrottlingRateLimit: 10,
          ThrottlingBurstLimit: 20,
        },
      ],
      AccessLogSetting: { DestinationArn: arnOf(logicalId(stack, stack.ingress.accessLogGroup)) },
    });
    const format = JSON.parse(stage.AccessLogSetting.Format);
    expect(format).toMatchObject({
      requestId: "$context.requestId",
      status: "$context.status",
      integrationError: "$context.integrationErrorMessage",
      apiKeyId: "$context.identity.apiKeyId",
    });
  });

  it("has an API key in a usage plan on this stage, throttled like the stage, with a daily quota of 5,000 requests", () => {
    template.resourceCountIs("AWS::ApiGateway::ApiKey", 1);
    template.resourceCountIs("AWS::ApiGateway::UsagePlan", 1);
    template.hasResourceProperties("AWS::ApiGateway::UsagePlan", {
      ApiStages: [{ ApiId: ref(ids.api!), Stage: ref(logicalId(stack, stack.ingress.api.deploymentStage)) }],
      Throttle: { RateLimit: 10, BurstLimit: 20 },
      Quota: Match.objectLike({ Limit: 5000, Period: "DAY" }),
    });
    template.hasResourceProperties("AWS::ApiGateway::UsagePlanKey", {
      KeyId: ref(logicalId(stack, stack.ingress.apiKey!)),
      KeyType: "API_KEY",
      UsagePlanId: ref(logicalId(stack, stack.ingress.usagePlan!)),
    });
  });
});

describe("state machine", () => {
  it("is STANDARD with X-Ray, logging errors only and without execution data (no prompts) to its log group", () => {
    expect(resource(ids.stateMachine!).Properties).toMatchObject({
      StateMachineType: "STANDARD",
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: "ERROR",
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: arnOf(ids.executionLogs!) } }],
      },
      RoleArn: arnOf(ids.stateMachineRole!),
    });
    expect(resource(ids.executionLogs!).Properties).toMatchObject({
      LogGroupName: "/aws/vendedlogs/states/CouchImagegen-image-pipeline",
      RetentionInDays: 30,
    });
  });

  it("carries the ASL file unchanged, with a substitution for every placeholder and nothing else", () => {
    const { DefinitionString, DefinitionSubstitutions } = resource(ids.stateMachine!).Properties as {
      DefinitionString: string;
      DefinitionSubstitutions: Record<string, unknown>;
    };
    expect(DefinitionString).toBe(readFileSync(ASL_PATH, "utf8"));
    const placeholders = new Set([...DefinitionString.matchAll(/\$\{([A-Za-z]+)\}/g)].map((match) => match[1]));
    expect(new Set(Object.keys(DefinitionSubstitutions))).toEqual(placeholders);
    expect(DefinitionSubstitutions).toEqual({
      ValidatePromptFunctionArn: arnOf(ids.validatePromptFunction!),
      GenerateImageFunctionArn: arnOf(ids.generateImageFunction!),
      StoreImageFunctionArn: arnOf(ids.storeImageFunction!),
      JobStatusTableName: ref(ids.table!),
    });
  });

  it("resolves, as CloudFormation substitutes it, to valid JSON whose tasks call the right functions and table", () => {
    const { DefinitionString, DefinitionSubstitutions } = resource(ids.stateMachine!).Properties as {
      DefinitionString: string;
      DefinitionSubstitutions: Record<string, unknown>;
    };
    // Stand-in values: the logical id of what each substitution references.
    const standIn = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value).replace(/"/g, "'"));
    const resolved = DefinitionString.replace(/\$\{([A-Za-z]+)\}/g, (_, name: string) =>
      standIn(DefinitionSubstitutions[name]),
    );
    expect(resolved).not.toMatch(/\$\{[A-Za-z]+\}/);
    const states = (JSON.parse(resolved) as { States: Record<string, { Parameters?: Record<string, unknown> }> })
      .States;
    expect(states.ValidatePrompt?.Parameters?.FunctionName).toContain(ids.validatePromptFunction);
    expect(states.GenerateImage?.Parameters?.FunctionName).toContain(ids.generateImageFunction);
    expect(states.StoreImage?.Parameters?.FunctionName).toContain(ids.storeImageFunction);
    for (const record of ["RecordRunning", "RecordSucceeded", "RecordFailed", "RecordRejected"]) {
      expect(states[record]?.Parameters?.TableName).toContain(ids.table);
    }
  });
});

describe("storage", () => {
  it("creates a private, SSE-S3 encrypted, access-logged image bucket that expires staged images after a day", () => {
    expect(resource(ids.bucket!).Properties).toMatchObject({
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: { DestinationBucketName: ref(logicalId(stack, stack.storage.accessLogsBucket!)) },
    });
    expect((resource(ids.bucket!).Properties.LifecycleConfiguration as { Rules: unknown[] }).Rules).toContainEqual({
      Id: "ExpireStagedImages",
      Prefix: "staging/",
      ExpirationInDays: 1,
      Status: "Enabled",
    });
    template.hasResource("AWS::S3::Bucket", { DeletionPolicy: "Retain" });
  });

  it("expires generated images 37 days after they are stored, a week after their status record, unversioned", () => {
    template.hasResourceProperties("AWS::S3::Bucket", {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: "ExpireGeneratedImages",
            Prefix: "generated_images/",
            ExpirationInDays: 37,
            Status: "Enabled",
          }),
        ]),
      },
    });
    // An expiration in a versioned bucket only adds a delete marker: the image would stay, billed, as a noncurrent version.
    expect(resource(ids.bucket!).Properties.VersioningConfiguration).toBeUndefined();
  });

  it("denies non-TLS requests to both buckets", () => {
    for (const bucket of [ids.bucket!, logicalId(stack, stack.storage.accessLogsBucket!)]) {
      template.hasResourceProperties("AWS::S3::BucketPolicy", {
        Bucket: ref(bucket),
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
          ]),
        },
      });
    }
  });

  it("keeps job status in an encrypted on-demand table keyed by jobId, with TTL on expiresAt and PITR", () => {
    expect(resource(ids.table!).Properties).toEqual({
      KeySchema: [{ AttributeName: "jobId", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "jobId", AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST",
      TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });
});

describe("queue", () => {
  it("redrives to the DLQ after 3 receives; both queues are SSE-encrypted; the DLQ keeps messages 14 days", () => {
    expect(resource(ids.queue!).Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: arnOf(ids.deadLetterQueue!), maxReceiveCount: 3 },
    });
    expect(resource(ids.deadLetterQueue!).Properties).toEqual({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
  });

  it("hides a message for at least six times the SQS start-job function's timeout", () => {
    const timeout = resource(ids.startJobQueueFunction!).Properties.Timeout as number;
    expect(resource(ids.queue!).Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * timeout);
  });

  it("denies non-TLS requests to both queues", () => {
    for (const queue of [ids.queue!, ids.deadLetterQueue!]) {
      template.hasResourceProperties("AWS::SQS::QueuePolicy", {
        Queues: [ref(queue)],
        PolicyDocument: {
          Statement: [Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } })],
        },
      });
    }
  });

  it("feeds start-job's SQS handler in batches of 10 with partial batch failures and bounded concurrency", () => {
    template.resourceCountIs("AWS::Lambda::EventSourceMapping", 1);
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: arnOf(ids.queue!),
      FunctionName: ref(ids.startJobQueueFunction!),
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 1,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });
});

describe("monitoring", () => {
  it("sends to a topic encrypted with a rotating customer managed key, TLS only, subscribed by email", () => {
    template.hasResourceProperties("AWS::SNS::Topic", { KmsMasterKeyId: arnOf(ids.topicKey!) });
    template.hasResourceProperties("AWS::KMS::Key", { EnableKeyRotation: true });
    template.hasResourceProperties("AWS::SNS::Subscription", {
      TopicArn: ref(ids.topic!),
      Protocol: "email",
      Endpoint: "ops@example.com",
    });
    template.hasResourceProperties("AWS::SNS::TopicPolicy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Deny",
            Action: "sns:Publish",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
          Match.objectLike({
            Effect: "Allow",
            Action: "sns:Publish",
            Principal: { Service: "cloudwatch.amazonaws.com" },
            Condition: { StringEquals: { "aws:SourceAccount": "123456789012" } },
          }),
        ]),
      },
    });
  });

  it("lets EventBridge publish to the topic only for the failed-execution rule of this account", () => {
    const rule = logicalId(stack, stack.monitoring.failedExecutionRule);
    template.hasResourceProperties("AWS::SNS::TopicPolicy", {
      Topics: [ref(ids.topic!)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Allow",
            Action: "sns:Publish",
            Principal: { Service: "events.amazonaws.com" },
            Resource: ref(ids.topic!),
            Condition: {
              ArnEquals: { "aws:SourceArn": arnOf(rule) },
              StringEquals: { "aws:SourceAccount": "123456789012" },
            },
          }),
        ]),
      },
    });
    // No other statement lets EventBridge publish (CDK's SnsTopic target would add one without conditions).
    const topicPolicy = Object.values(template.findResources("AWS::SNS::TopicPolicy"))[0]!.Properties;
    const eventBridge = (topicPolicy.PolicyDocument.Statement as { Principal?: { Service?: string } }[]).filter(
      (statement) => statement.Principal?.Service === "events.amazonaws.com",
    );
    expect(eventBridge).toHaveLength(1);
  });

  it("lets CloudWatch and EventBridge use the topic's key; EventBridge's statement carries no source condition", () => {
    const statements = (
      resource(ids.topicKey!).Properties.KeyPolicy as {
        Statement: { Principal?: { Service?: string }; Condition?: Record<string, Record<string, unknown>> }[];
      }
    ).Statement;
    for (const service of ["cloudwatch.amazonaws.com", "events.amazonaws.com"]) {
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: "Allow",
          Action: expect.arrayContaining(["kms:Decrypt", "kms:GenerateDataKey*"]),
          Principal: { Service: service },
        }),
      );
    }
    // SNS: aws:SourceArn / aws:SourceAccount in a KMS key policy are "not supported for EventBridge-to-encrypted
    // topics" (docs/ARCHITECTURE.md §4): one here would stop every failure email, and no synth could tell.
    const eventBridge = statements.filter((statement) => statement.Principal?.Service === "events.amazonaws.com");
    expect(eventBridge).toHaveLength(1);
    const conditionKeys = Object.values(eventBridge[0]!.Condition ?? {}).flatMap((keys) => Object.keys(keys));
    expect(conditionKeys.filter((key) => /^aws:Source/i.test(key))).toEqual([]);
  });

  it("sends one readable notice per failed, timed-out or aborted execution of this state machine", () => {
    template.resourceCountIs("AWS::Events::Rule", 1);
    const rule = Object.values(template.findResources("AWS::Events::Rule"))[0]!.Properties;
    expect(rule.EventPattern).toEqual({
      source: ["aws.states"],
      "detail-type": ["Step Functions Execution Status Change"],
      detail: { status: ["FAILED", "TIMED_OUT", "ABORTED"], stateMachineArn: [ref(ids.stateMachine!)] },
    });
    expect(rule.Targets).toHaveLength(1);
    const [target] = rule.Targets;
    expect(target.Arn).toEqual(ref(ids.topic!));

    // Render the transformer as EventBridge would for a sample event.
    const event = {
      region: "eu-west-1",
      detail: {
        name: "job-123",
        status: "FAILED",
        error: "BedrockAccessDenied",
        cause: 'Model "x" is not enabled',
        executionArn: "arn:aws:states:eu-west-1:123456789012:execution:Pipeline:job-123",
      },
    };
    const { InputPathsMap, InputTemplate } = target.InputTransformer as {
      InputPathsMap: Record<string, string>;
      InputTemplate: string;
    };
    const valueAt = (path: string) =>
      path
        .replace(/^\$\./, "")
        .split(".")
        .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], event);
    const rendered = InputTemplate.replace(/<([\w-]+)>/g, (_, name: string) =>
      JSON.stringify(String(valueAt(InputPathsMap[name]!))).slice(1, -1),
    );
    const message = JSON.parse(rendered) as string;
    expect(message).toContain("Image job job-123 ended with status FAILED.");
    expect(message).toContain("Error: BedrockAccessDenied");
    expect(message).toContain('Cause: Model "x" is not enabled');
    expect(message).toContain(
      "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/" +
        event.detail.executionArn,
    );
  });
});

describe("outputs", () => {
  it("name the API URL, queues, state machine (ARN and console URL), bucket, table, API key, usage plan, dashboard", () => {
    const outputs = template.findOutputs("*");
    expect(Object.keys(outputs).sort()).toEqual(
      [
        "ApiKeyId",
        "UsagePlanId",
        "ApiUrl",
        "DeadLetterQueueUrl",
        "ImageBucketName",
        "JobStatusTableName",
        "QueueUrl",
        "StateMachineArn",
        "StateMachineConsoleUrl",
        "DashboardUrl",
      ].sort(),
    );
    expect(outputs.QueueUrl?.Value).toEqual(ref(ids.queue!));
    expect(outputs.DeadLetterQueueUrl?.Value).toEqual(ref(ids.deadLetterQueue!));
    expect(outputs.StateMachineArn?.Value).toEqual(ref(ids.stateMachine!));
    expect(outputs.ImageBucketName?.Value).toEqual(ref(ids.bucket!));
    expect(outputs.JobStatusTableName?.Value).toEqual(ref(ids.table!));
    expect(outputs.ApiKeyId?.Value).toEqual(ref(logicalId(stack, stack.ingress.apiKey!)));
    expect(outputs.UsagePlanId?.Value).toEqual(ref(logicalId(stack, stack.ingress.usagePlan!)));
    expect(JSON.stringify(outputs.ApiUrl?.Value)).toContain(ids.api);
    expect(JSON.stringify(outputs.StateMachineConsoleUrl?.Value)).toContain("#/v2/statemachines/view/");
    const region = { Ref: "AWS::Region" };
    expect(outputs.DashboardUrl?.Value).toEqual({
      "Fn::Join": [
        "",
        [
          "https://",
          region,
          ".console.aws.amazon.com/cloudwatch/home?region=",
          region,
          "#dashboards/dashboard/",
          ref(logicalId(stack, stack.dashboard.dashboard)),
        ],
      ],
    });
  });
});

describe("template", () => {
  it("has no dependency cycle (CloudFormation would reject it at deploy time; synthesis does not check)", () => {
    const resources = template.toJSON().Resources as Record<string, { DependsOn?: string | string[] }>;
    const dependencies = (id: string): string[] => {
      const found = new Set<string>([resources[id]!.DependsOn ?? []].flat());
      JSON.stringify(resources[id], (key, value) => {
        if (key === "Ref" && typeof value === "string" && value in resources) found.add(value);
        if (key === "Fn::GetAtt" && Array.isArray(value) && value[0] in resources) found.add(value[0]);
        return value;
      });
      return [...found];
    };
    const state = new Map<string, "visiting" | "done">();
    const visit = (id: string, path: string[]): void => {
      if (state.get(id) === "done") return;
      if (state.get(id) === "visiting") throw new Error(`dependency cycle: ${[...path, id].join(" -> ")}`);
      state.set(id, "visiting");
      for (const next of dependencies(id)) visit(next, [...path, id]);
      state.set(id, "done");
    };
    expect(() => {
      for (const id of Object.keys(resources)) visit(id, []);
    }).not.toThrow();
  });
});
