// Verifies the synthesized CloudFormation template of CouchImagegenStack with the default parameters: API routes reach
// the right functions (no request validator in front of start-job), the usage plan's throttling and daily quota, every
// IAM grant (action and resource), the Lambda defaults, the state machine and its definition substitutions
// (GenerateImage a callback task on the waiting room, with its heartbeat and timeout) and its logging, the request
// queue and the waiting room (generate queue, DLQs, event source mappings), encryption, the image bucket's lifecycle,
// the failure notices (the failed-execution rule, its input as the notifier reads it, the notice queue and DLQ, the
// notifier's event source and grants) and who may publish to the alert topic and use its key, and the outputs. The
// alarms and the dashboard: alarms.test.ts and dashboard.test.ts.
// It cannot verify runtime behaviour (no AWS here: nothing is deployed, Bedrock is never called; whether EventBridge
// renders the input as the stand-in below does, Lambda gathers a storm into one batch, or API Gateway enforces the
// quota, shows only in a deployed account), and it does not bundle the Lambda code (bundling is skipped;
// cdk-cli.test.ts runs the real `cdk synth`).
import { readFileSync } from "node:fs";
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { errorKind } from "../../functions/failure-notifier/failure-notifier";
import { parseStatusChangeEvent } from "../../functions/failure-notifier/sqs-adapter";
import { FAILURE_NOTICE_WINDOW_SECONDS, FAILURE_NOTIFIER_ENV } from "../../functions/shared/failure-notices";
import {
  GENERATE_MAX_RECEIVES,
  GENERATE_VISIBILITY_TIMEOUT_SECONDS,
  GENERATOR_ENV,
} from "../../functions/shared/waiting-room";
import { CONFIG_DEFAULTS, GENERATE_TASK_SECONDS } from "../../infra/config";
import type { CouchImagegenStack } from "../../infra/stack";
import { ASL_PATH } from "../../statemachine/substitutions";
import { grantsOf, logicalId, roleStatements, sortResources, synthStack } from "./synth";

let stack: CouchImagegenStack;
let template: Template;
const ids: Record<string, string> = {};

beforeAll(() => {
  ({ stack, template } = synthStack());
  const { storage, workflow, ingress, failureNotices, monitoring } = stack;
  Object.assign(ids, {
    bucket: logicalId(stack, storage.bucket),
    table: logicalId(stack, storage.jobStatusTable),
    stateMachine: logicalId(stack, workflow.stateMachine),
    stateMachineRole: logicalId(stack, workflow.stateMachine.role),
    executionLogs: logicalId(stack, workflow.logGroup),
    api: logicalId(stack, ingress.api),
    queue: logicalId(stack, ingress.queue),
    deadLetterQueue: logicalId(stack, ingress.deadLetterQueue),
    generateQueue: logicalId(stack, workflow.waitingRoom.queue),
    generateDeadLetterQueue: logicalId(stack, workflow.waitingRoom.deadLetterQueue),
    noticeQueue: logicalId(stack, failureNotices.queue),
    noticeDeadLetterQueue: logicalId(stack, failureNotices.deadLetterQueue),
    noticeRule: logicalId(stack, failureNotices.rule),
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
  const { workflow, ingress, failureNotices } = stack;
  return {
    validatePrompt: workflow.validatePrompt,
    generateImage: workflow.generateImage,
    storeImage: workflow.storeImage,
    startJobApi: ingress.startJobApi,
    startJobQueue: ingress.startJobQueue,
    jobStatus: ingress.jobStatus,
    failureNotifier: failureNotices.notifier,
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

/** The properties of each event source mapping that reads a queue. */
function mappingsReading(queueId: string): Record<string, unknown>[] {
  const mappings = template.findResources("AWS::Lambda::EventSourceMapping", {
    Properties: { EventSourceArn: arnOf(queueId) },
  });
  return Object.values(mappings).map((mapping) => mapping.Properties);
}

describe("Lambda functions", () => {
  it("all run Node.js 24 on ARM64 with active tracing and JSON logs at INFO in their own log group", () => {
    template.resourceCountIs("AWS::Lambda::Function", 7);
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
      failureNotifier: "index.handler",
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
    // The request names its model: the generator needs only where Bedrock is and the grant (below); the names of the
    // waiting room's variables are the ones the generator reads (functions/shared/waiting-room.ts).
    expect(environment("generateImage")).toEqual({
      ...options,
      BEDROCK_REGION: "us-west-2",
      IMAGE_BUCKET: ref(ids.bucket!),
      KEY_PREFIX: "",
      [GENERATOR_ENV.queueUrl]: ref(ids.generateQueue!),
      [GENERATOR_ENV.maxReceives]: String(GENERATE_MAX_RECEIVES),
      [GENERATOR_ENV.table]: ref(ids.table!),
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
    // The dashboard's name itself, not a reference: the dashboard graphs the notifier (no cycle).
    expect(environment("failureNotifier")).toEqual({
      ...options,
      [FAILURE_NOTIFIER_ENV.topicArn]: ref(ids.topic!),
      [FAILURE_NOTIFIER_ENV.dashboardName]: "CouchImagegen-pipeline",
    });
  });

  it("reserve no concurrency: the waiting room's event source bounds the generator, not a reservation", () => {
    for (const name of Object.keys(lambdaFunctions())) {
      expect(resource(ids[`${name}Function`]!).Properties.ReservedConcurrentExecutions, name).toBeUndefined();
    }
  });

  it("time out before the state machine's task timeouts (30, 60 s); the generator at 100 s with 512 MB", () => {
    const timeout = (name: string) => resource(ids[`${name}Function`]!).Properties.Timeout as number;
    expect(timeout("validatePrompt")).toBeLessThan(30);
    expect(timeout("storeImage")).toBeLessThan(60);
    expect(resource(ids.generateImageFunction!).Properties).toMatchObject({ Timeout: 100, MemorySize: 512 });
    expect(timeout("failureNotifier")).toBe(30);
  });
});

describe("IAM: each role is allowed exactly what its code calls", () => {
  it("GenerateImage (the generator): Bedrock on the default model, staged images, RUNNING, task tokens, its queue", () => {
    const staged = sortResources([objectsArn(ids.bucket!, "staging/*.png"), objectsArn(ids.bucket!, "staging/*.jpg")]);
    const generateQueue = [arnOf(ids.generateQueue!)];
    expect(grantsOf(template, ids.generateImageRole!)).toEqual({
      "bedrock:InvokeModel": ["arn:aws:bedrock:us-west-2::foundation-model/stability.stable-image-core-v1:1"],
      // PutObject stages the image; GetObject lets a redelivered job find it (HeadObject) instead of calling Bedrock.
      "s3:PutObject": staged,
      "s3:GetObject": staged,
      // WAITING → RUNNING when it takes a job; nothing else on the table.
      "dynamodb:UpdateItem": [arnOf(ids.table!)],
      // No resource type in the Service Authorization Reference: '*' (acknowledged for cdk-nag, nag.test.ts).
      "states:SendTaskSuccess": ["*"],
      "states:SendTaskFailure": ["*"],
      "states:SendTaskHeartbeat": ["*"],
      // The event source's grant; ChangeMessageVisibility also puts a throttled job back.
      "sqs:ReceiveMessage": generateQueue,
      "sqs:DeleteMessage": generateQueue,
      "sqs:ChangeMessageVisibility": generateQueue,
      "sqs:GetQueueAttributes": generateQueue,
      "sqs:GetQueueUrl": generateQueue,
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

  it("failure-notifier: consumes the notice queue, publishes to the alert topic and uses its key, nothing else", () => {
    const noticeQueue = [arnOf(ids.noticeQueue!)];
    expect(grantsOf(template, ids.failureNotifierRole!)).toEqual({
      "sns:Publish": [ref(ids.topic!)],
      // The topic is encrypted: publishing needs the key (topic.grantPublish grants both).
      "kms:Decrypt": [arnOf(ids.topicKey!)],
      "kms:GenerateDataKey*": [arnOf(ids.topicKey!)],
      "sqs:ReceiveMessage": noticeQueue,
      "sqs:DeleteMessage": noticeQueue,
      "sqs:ChangeMessageVisibility": noticeQueue,
      "sqs:GetQueueAttributes": noticeQueue,
      "sqs:GetQueueUrl": noticeQueue,
    });
  });

  it("the state machine: invokes ValidatePrompt and StoreImage, sends to the waiting room, updates the table", () => {
    const grants = grantsOf(template, ids.stateMachineRole!);
    const tasks = [ids.validatePromptFunction!, ids.storeImageFunction!];
    expect(grants["lambda:InvokeFunction"]).toEqual(
      sortResources(tasks.flatMap((id) => [arnOf(id), { "Fn::Join": ["", [arnOf(id), ":*"]] }])),
    );
    // GenerateImage is a callback task now: the generator is run by the waiting room's event source, never invoked.
    expect(JSON.stringify(grants["lambda:InvokeFunction"])).not.toContain(ids.generateImageFunction);
    expect(grants["sqs:SendMessage"]).toEqual([arnOf(ids.generateQueue!)]);
    expect(grants["dynamodb:UpdateItem"]).toEqual([arnOf(ids.table!)]);
    const others = Object.keys(grants).filter(
      (action) => !["lambda:InvokeFunction", "sqs:SendMessage", "dynamodb:UpdateItem"].includes(action),
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

  it("no statement anywhere allows a '*' resource except for X-Ray, log delivery and task responses (no resource ARNs)", () => {
    const policies = template.findResources("AWS::IAM::Policy");
    for (const policy of Object.values(policies)) {
      for (const statement of policy.Properties.PolicyDocument.Statement) {
        if ([statement.Resource].flat().includes("*")) {
          for (const action of [statement.Action].flat() as string[]) {
            expect(action).toMatch(
              /^(xray:|logs:(Create|Get|Update|Delete|List)LogDeliver|logs:(Put|Describe)ResourcePolic|logs:DescribeLogGroups|states:SendTask(Success|Failure|Heartbeat)$)/,
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
      GenerateQueueUrl: ref(ids.generateQueue!),
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
    expect(states.GenerateImage?.Parameters?.QueueUrl).toContain(ids.generateQueue);
    expect(states.StoreImage?.Parameters?.FunctionName).toContain(ids.storeImageFunction);
    for (const record of ["RecordRunning", "RecordSucceeded", "RecordFailed", "RecordRejected"]) {
      expect(states[record]?.Parameters?.TableName).toContain(ids.table);
    }
  });

  it("waits in GenerateImage for the task token, with the heartbeat and timeout the waiting room is sized by", () => {
    const { DefinitionString } = resource(ids.stateMachine!).Properties as { DefinitionString: string };
    const generate = (JSON.parse(DefinitionString) as { States: Record<string, Record<string, unknown>> }).States
      .GenerateImage!;
    expect(generate).toMatchObject({
      Type: "Task",
      Resource: "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
      Parameters: { MessageBody: expect.objectContaining({ "taskToken.$": "$$.Task.Token" }) },
      // infra/config.ts bounds waitingRoomAgeAlarmSeconds and words the alarms with these two.
      HeartbeatSeconds: GENERATE_TASK_SECONDS.heartbeat,
      TimeoutSeconds: GENERATE_TASK_SECONDS.timeout,
    });
    // A job a generator crashed on comes back after the visibility timeout and is heartbeated again: before its
    // heartbeat runs out. The default alarm fires well before a job nobody takes fails.
    expect(GENERATE_TASK_SECONDS.heartbeat).toBeGreaterThan(GENERATE_VISIBILITY_TIMEOUT_SECONDS);
    expect(CONFIG_DEFAULTS.waitingRoomAgeAlarmSeconds).toBeLessThan(GENERATE_TASK_SECONDS.heartbeat);
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

  it("denies non-TLS requests to every queue: requests, the waiting room, the failure notices and their DLQs", () => {
    const queues = [ids.queue, ids.deadLetterQueue, ids.generateQueue, ids.generateDeadLetterQueue];
    for (const queue of [...queues, ids.noticeQueue, ids.noticeDeadLetterQueue] as string[]) {
      template.hasResourceProperties("AWS::SQS::QueuePolicy", {
        Queues: [ref(queue)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
          ]),
        },
      });
    }
  });

  it("feeds start-job's SQS handler in batches of 10 with partial batch failures and bounded concurrency", () => {
    template.resourceCountIs("AWS::Lambda::EventSourceMapping", 3);
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

describe("the waiting room (generate queue)", () => {
  it("hands one job at a time to at most bedrockConcurrency generators, reporting each job's outcome", () => {
    expect(mappingsReading(ids.generateQueue!)).toEqual([
      {
        EventSourceArn: arnOf(ids.generateQueue!),
        FunctionName: ref(ids.generateImageFunction!),
        BatchSize: 1,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        ScalingConfig: { MaximumConcurrency: CONFIG_DEFAULTS.bedrockConcurrency },
      },
    ]);
  });

  it("hides a job for six generator timeouts, and moves it to its DLQ only after the generator's receive budget", () => {
    expect(resource(ids.generateQueue!).Properties).toEqual({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 4 * 24 * 3600,
      VisibilityTimeout: GENERATE_VISIBILITY_TIMEOUT_SECONDS,
      // The generator fails a throttled job itself on this receive, so throttling alone never reaches the DLQ.
      RedrivePolicy: {
        deadLetterTargetArn: arnOf(ids.generateDeadLetterQueue!),
        maxReceiveCount: GENERATE_MAX_RECEIVES,
      },
    });
    expect(resource(ids.generateQueue!).Properties.VisibilityTimeout).toBeGreaterThanOrEqual(
      6 * (resource(ids.generateImageFunction!).Properties.Timeout as number),
    );
    expect(resource(ids.generateDeadLetterQueue!).Properties).toEqual({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
  });

  it("takes jobs from the state machine only: no other role may send to it", () => {
    const senders = Object.values(template.findResources("AWS::IAM::Policy")).filter((policy) =>
      (policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]).some(
        (statement) =>
          [statement.Action].flat().includes("sqs:SendMessage") &&
          JSON.stringify(statement.Resource).includes(`"${ids.generateQueue}"`),
      ),
    );
    expect(senders.map((policy) => policy.Properties.Roles)).toEqual([[ref(ids.stateMachineRole!)]]);
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

  it("lets only CloudWatch use the topic's key and publish as a service: EventBridge no longer publishes to it", () => {
    const keyStatements = (
      resource(ids.topicKey!).Properties.KeyPolicy as { Statement: { Principal?: { Service?: string } }[] }
    ).Statement;
    expect(keyStatements).toContainEqual(
      expect.objectContaining({
        Effect: "Allow",
        Action: expect.arrayContaining(["kms:Decrypt", "kms:GenerateDataKey*"]),
        Principal: { Service: "cloudwatch.amazonaws.com" },
      }),
    );
    const topicPolicy = Object.values(template.findResources("AWS::SNS::TopicPolicy"))[0]!.Properties;
    const topicStatements = topicPolicy.PolicyDocument.Statement as { Principal?: { Service?: string } }[];
    // The failure notifier publishes with its role's grant (IAM test above), not as a service principal.
    for (const statements of [keyStatements, topicStatements]) {
      const services = statements.flatMap((statement) => [statement.Principal?.Service ?? []].flat());
      expect(services.filter((service) => service !== "cloudwatch.amazonaws.com")).toEqual([]);
    }
  });
});

describe("failure notices", () => {
  const ruleTarget = () => {
    template.resourceCountIs("AWS::Events::Rule", 1);
    const targets = resource(ids.noticeRule!).Properties.Targets as Record<string, unknown>[];
    expect(targets).toHaveLength(1);
    return targets[0]!;
  };

  /**
   * The queue message EventBridge makes of `event` with the target's input transformer: each `<variable>` in the
   * template becomes the JSON value at its path (a string quoted and escaped, null as null), as EventBridge fills a
   * placeholder that is not inside quotes.
   */
  function queueMessage(event: Record<string, unknown>): string {
    const { InputPathsMap, InputTemplate } = ruleTarget().InputTransformer as {
      InputPathsMap: Record<string, string>;
      InputTemplate: string;
    };
    const valueAt = (path: string) =>
      path
        .replace(/^\$\./, "")
        .split(".")
        .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], event);
    return InputTemplate.replace(/<([\w.-]+)>/g, (_, name: string) => {
      const path = InputPathsMap[name];
      if (path === undefined) throw new Error(`the template names <${name}>, which InputPathsMap does not define`);
      return JSON.stringify(valueAt(path));
    });
  }

  /** A "Step Functions Execution Status Change" event as EventBridge documents it, with the execution's input. */
  function statusChangeEvent(detail: Record<string, unknown>): Record<string, unknown> {
    const name = "9b63fe3a-2867-4f6a-8a7a-ddf336e9b5e9";
    const stateMachineArn = "arn:aws:states:eu-west-1:123456789012:stateMachine:ImagePipeline";
    return {
      version: "0",
      id: "315c1398-40ff-a850-213b-158f73e60175",
      "detail-type": "Step Functions Execution Status Change",
      source: "aws.states",
      account: "123456789012",
      time: "2026-11-23T12:00:05Z",
      region: "eu-west-1",
      resources: [`${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`],
      detail: {
        executionArn: `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`,
        stateMachineArn,
        name,
        status: "FAILED",
        startDate: 1_795_003_200_000,
        stopDate: 1_795_003_205_000,
        input: JSON.stringify({ jobId: name, prompt: "a secret couch in a private living room" }),
        inputDetails: { included: true },
        output: null,
        outputDetails: null,
        error: "ThrottlingException",
        cause: '{"errorType":"ThrottlingException","errorMessage":"Too many requests, please wait."}',
        ...detail,
      },
    };
  }

  it("queues every failed, timed-out or aborted execution of this state machine, and nothing else", () => {
    expect(resource(ids.noticeRule!).Properties.EventPattern).toEqual({
      source: ["aws.states"],
      "detail-type": ["Step Functions Execution Status Change"],
      detail: { status: ["FAILED", "TIMED_OUT", "ABORTED"], stateMachineArn: [ref(ids.stateMachine!)] },
    });
    expect(ruleTarget().Arn).toEqual(arnOf(ids.noticeQueue!));
  });

  it("puts only region, time and the failure's fields on the queue: never the execution's input (users' prompts)", () => {
    expect(ruleTarget().InputTransformer).toEqual({
      InputPathsMap: {
        region: "$.region",
        time: "$.time",
        "detail-name": "$.detail.name",
        "detail-status": "$.detail.status",
        "detail-error": "$.detail.error",
        "detail-cause": "$.detail.cause",
        "detail-executionArn": "$.detail.executionArn",
        "detail-stopDate": "$.detail.stopDate",
      },
      InputTemplate: expect.any(String),
    });
    const message = queueMessage(statusChangeEvent({}));
    expect(message).not.toContain("secret couch");
    expect(Object.keys(JSON.parse(message)).sort()).toEqual(["detail", "region", "time"]);
  });

  it("sends messages the notifier reads: a failure with its error and cause, quotes and all", () => {
    const event = statusChangeEvent({});
    const detail = event.detail as Record<string, string>;
    expect(parseStatusChangeEvent(queueMessage(event))).toEqual({
      name: detail.name,
      status: "FAILED",
      error: "ThrottlingException",
      cause: detail.cause,
      executionArn: detail.executionArn,
      stopDate: 1_795_003_205_000,
      region: "eu-west-1",
    });
  });

  it.each([
    ["TIMED_OUT", "States.Timeout"],
    ["ABORTED", "ExecutionAborted"],
  ])("sends a %s execution, which has no error or cause, as one the notifier names %s", (status, kind) => {
    const failure = parseStatusChangeEvent(queueMessage(statusChangeEvent({ status, error: null, cause: null })));
    expect(failure).toMatchObject({ status, error: null, cause: null });
    expect(errorKind(failure!)).toBe(kind);
  });

  it("lets EventBridge send to the notice queue only for this rule; the queue is TLS-only", () => {
    const policies = template.findResources("AWS::SQS::QueuePolicy", {
      Properties: { Queues: [ref(ids.noticeQueue!)] },
    });
    const statements = Object.values(policies).flatMap((policy) => policy.Properties.PolicyDocument.Statement);
    expect(statements).toEqual([
      expect.objectContaining({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
      {
        Effect: "Allow",
        Principal: { Service: "events.amazonaws.com" },
        // aws-events-targets' SqsQueue grant: SendMessage, and the two reads that come with it.
        Action: ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"],
        Resource: arnOf(ids.noticeQueue!),
        Condition: { ArnEquals: { "aws:SourceArn": arnOf(ids.noticeRule!) } },
      },
    ]);
  });

  it("keeps notices SSE-encrypted, hidden through a batching window and six notifier timeouts, 3 receives to the DLQ", () => {
    expect(resource(ids.noticeQueue!).Properties).toEqual({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 4 * 24 * 3600,
      VisibilityTimeout: 480,
      RedrivePolicy: { deadLetterTargetArn: arnOf(ids.noticeDeadLetterQueue!), maxReceiveCount: 3 },
    });
    // Lambda's guidance for an SQS event source with a batching window: no message is handed out twice meanwhile.
    expect(resource(ids.noticeQueue!).Properties.VisibilityTimeout).toBeGreaterThanOrEqual(
      6 * (resource(ids.failureNotifierFunction!).Properties.Timeout as number) + FAILURE_NOTICE_WINDOW_SECONDS,
    );
    expect(resource(ids.noticeDeadLetterQueue!).Properties).toEqual({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
  });

  it("hands the notifier a 5-minute window's events at a time, at most 2 batches at once, reporting each message", () => {
    expect(mappingsReading(ids.noticeQueue!)).toEqual([
      {
        EventSourceArn: arnOf(ids.noticeQueue!),
        FunctionName: ref(ids.failureNotifierFunction!),
        BatchSize: 1000,
        MaximumBatchingWindowInSeconds: 300,
        ScalingConfig: { MaximumConcurrency: 2 },
        FunctionResponseTypes: ["ReportBatchItemFailures"],
      },
    ]);
  });
});

describe("outputs", () => {
  it("name the API URL, queues (the waiting room's and the failure notices' DLQ too), state machine and its console URL, bucket, table, key, plan, dashboard", () => {
    const outputs = template.findOutputs("*");
    expect(Object.keys(outputs).sort()).toEqual(
      [
        "ApiKeyId",
        "UsagePlanId",
        "ApiUrl",
        "DeadLetterQueueUrl",
        "GenerateQueueUrl",
        "GenerateDeadLetterQueueUrl",
        "ImageBucketName",
        "JobStatusTableName",
        "QueueUrl",
        "FailureNoticeDeadLetterQueueUrl",
        "StateMachineArn",
        "StateMachineConsoleUrl",
        "DashboardUrl",
      ].sort(),
    );
    expect(outputs.QueueUrl?.Value).toEqual(ref(ids.queue!));
    expect(outputs.DeadLetterQueueUrl?.Value).toEqual(ref(ids.deadLetterQueue!));
    expect(outputs.GenerateQueueUrl?.Value).toEqual(ref(ids.generateQueue!));
    expect(outputs.GenerateDeadLetterQueueUrl?.Value).toEqual(ref(ids.generateDeadLetterQueue!));
    expect(outputs.FailureNoticeDeadLetterQueueUrl?.Value).toEqual(ref(ids.noticeDeadLetterQueue!));
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
