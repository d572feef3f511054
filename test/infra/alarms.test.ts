// Verifies every CloudWatch alarm of the default stack: what it watches (namespace, metric, dimensions, or the math
// expression and the metrics it reads), statistic, period, threshold, comparison, evaluation periods, datapoints and
// missing data, the waiting room's age and its DLQ and the failure notifier's alarms and DLQ among them; that each
// allowed model has a throttle-rate alarm in every deployment, on AWS/Bedrock's metrics where the stack runs in
// bedrockRegion and on the pipeline's own everywhere else (CloudFormation conditions, evaluated here for a stack in and
// out of bedrockRegion); that only the composite PipelineUnhealthy has actions (the alert topic, on ALARM and OK) and
// that its rule names every other alarm that exists on each side of the condition; that every description says what
// to check first and links a section docs/RUNBOOK.md has, as the failure notices' runbook link does; and that README's
// "Alarm emails" table has a row for each alarm.
// It cannot verify that an alarm fires on real traffic, that Bedrock publishes ModelId exactly as GenerateImage names
// the model, that the pipeline's own metrics carry exactly these dimensions once published (test/unit checks what
// GenerateImage records, not CloudWatch), or that the email arrives: that needs a deployed stack (docs/RUNBOOK.md,
// "Testing the alarm path").
import { readFileSync } from "node:fs";
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { FAILURE_NOTICE_RUNBOOK } from "../../functions/shared/failure-notices";
import type { CouchImagegenStack } from "../../infra/stack";
import { logicalId, synthStack, TEST_ENV } from "./synth";

let stack: CouchImagegenStack;
let template: Template;
const ids: Record<string, string> = {};

beforeAll(() => {
  ({ stack, template } = synthStack());
  const { ingress, workflow, monitoring } = stack;
  Object.assign(ids, {
    stage: logicalId(stack, ingress.api.deploymentStage),
    queue: logicalId(stack, ingress.queue),
    deadLetterQueue: logicalId(stack, ingress.deadLetterQueue),
    generateQueue: logicalId(stack, workflow.waitingRoom.queue),
    generateDeadLetterQueue: logicalId(stack, workflow.waitingRoom.deadLetterQueue),
    failureNoticeDeadLetterQueue: logicalId(stack, stack.failureNotices.deadLetterQueue),
    stateMachine: logicalId(stack, workflow.stateMachine),
    topic: logicalId(stack, monitoring.topic),
    bedrockCondition: stack.getLogicalId(monitoring.bedrockInStackRegion),
    outsideBedrockCondition: stack.getLogicalId(monitoring.bedrockOutsideStackRegion),
    startJobApi: logicalId(stack, ingress.startJobApi.function),
    startJobQueue: logicalId(stack, ingress.startJobQueue.function),
    jobStatus: logicalId(stack, ingress.jobStatus.function),
    validatePrompt: logicalId(stack, workflow.validatePrompt.function),
    generateImage: logicalId(stack, workflow.generateImage.function),
    storeImage: logicalId(stack, workflow.storeImage.function),
    failureNotifier: logicalId(stack, stack.failureNotices.notifier.function),
  });
});

type Resource = { Properties: Record<string, unknown>; Condition?: string };

const metricAlarms = () => template.findResources("AWS::CloudWatch::Alarm") as Record<string, Resource>;
function alarmNamed(name: string): Resource {
  const found = Object.values(metricAlarms()).find((alarm) => alarm.Properties.AlarmName === `CouchImagegen-${name}`);
  if (!found) throw new Error(`no alarm CouchImagegen-${name}`);
  return found;
}

const ref = (id: string) => ({ Ref: id });
const functionDimensions = (role: string) => [{ Name: "FunctionName", Value: ref(ids[role]!) }];
const apiDimensions = () => [
  { Name: "ApiName", Value: "CouchImagegen-api" },
  { Name: "Stage", Value: ref(ids.stage!) },
];
/** One metric an alarm's math expression reads. */
const input = (id: string, namespace: string, metricName: string, dimensions: unknown, stat: string, period = 300) => ({
  Id: id,
  MetricStat: {
    Metric: { Namespace: namespace, MetricName: metricName, Dimensions: dimensions },
    Period: period,
    Stat: stat,
  },
  ReturnData: false,
});
const expression = (text: string) => Match.objectLike({ Expression: text, ReturnData: true });
const DEFAULT_MODEL = "stability.stable-image-core-v1:1";

/** Whether a template's condition holds for a stack deployed in `region`, as CloudFormation evaluates it. */
function holds(template: Template, condition: unknown, region: string): boolean {
  const value = (operand: unknown) =>
    (operand as { Ref?: string }).Ref === "AWS::Region" ? region : (operand as string | number | boolean);
  const { "Fn::Equals": equals, "Fn::Not": not, Condition: named } = condition as Record<string, unknown[] | string>;
  if (Array.isArray(equals)) return value(equals[0]) === value(equals[1]);
  if (Array.isArray(not)) return !holds(template, not[0], region);
  if (typeof named === "string") return holds(template, template.toJSON().Conditions[named], region);
  throw new Error(`no evaluator for ${JSON.stringify(condition)}`);
}

const atLeast = "GreaterThanOrEqualToThreshold";
const once = { EvaluationPeriods: 1, DatapointsToAlarm: Match.absent() };

describe("metric alarms", () => {
  const expectations: [name: string, expected: () => Record<string, unknown>][] = [
    [
      "ApiServerErrorRate",
      () => ({
        Metrics: [
          expression("IF(errors >= 5, 100 * errors / requests, 0)"),
          input("errors", "AWS/ApiGateway", "5XXError", apiDimensions(), "Sum"),
          input("requests", "AWS/ApiGateway", "Count", apiDimensions(), "SampleCount"),
        ],
        Threshold: 5,
        ComparisonOperator: atLeast,
        ...once,
      }),
    ],
    // The generator answers Bedrock's errors through the task token: a Lambda error is a crash, counted like these.
    ...["StartJobApi", "StartJobQueue", "JobStatus", "GenerateImage", "StoreImage"].map(
      (name): [string, () => Record<string, unknown>] => [
        `${name}Errors`,
        () => ({
          Namespace: "AWS/Lambda",
          MetricName: "Errors",
          Dimensions: functionDimensions(name.charAt(0).toLowerCase() + name.slice(1)),
          Statistic: "Sum",
          Period: 300,
          Threshold: 3,
          ComparisonOperator: atLeast,
          ...once,
        }),
      ],
    ),
    // It runs once per 5-minute batching window, at most twice at once: one error is a batch of notices held back.
    [
      "FailureNotifierErrors",
      () => ({
        Namespace: "AWS/Lambda",
        MetricName: "Errors",
        Dimensions: functionDimensions("failureNotifier"),
        Statistic: "Sum",
        Period: 300,
        Threshold: 1,
        ComparisonOperator: atLeast,
        ...once,
      }),
    ],
    ...["ValidatePrompt"].map((name): [string, () => Record<string, unknown>] => [
      `${name}ErrorRate`,
      () => {
        const dimensions = functionDimensions(name.charAt(0).toLowerCase() + name.slice(1));
        return {
          Metrics: [
            expression("IF(errors >= 5, 100 * errors / invocations, 0)"),
            input("errors", "AWS/Lambda", "Errors", dimensions, "Sum"),
            input("invocations", "AWS/Lambda", "Invocations", dimensions, "Sum"),
          ],
          Threshold: 50,
          ComparisonOperator: atLeast,
          ...once,
        };
      },
    ]),
    // No function has reserved concurrency any more, GenerateImage included: a throttle is the account running out.
    ...[
      "StartJobApi",
      "StartJobQueue",
      "JobStatus",
      "ValidatePrompt",
      "GenerateImage",
      "StoreImage",
      "FailureNotifier",
    ].map((name): [string, () => Record<string, unknown>] => [
      `${name}Throttles`,
      () => ({
        Namespace: "AWS/Lambda",
        MetricName: "Throttles",
        Dimensions: functionDimensions(name.charAt(0).toLowerCase() + name.slice(1)),
        Statistic: "Sum",
        Period: 300,
        Threshold: 1,
        ComparisonOperator: atLeast,
        ...once,
      }),
    ]),
    ...(
      [
        ["ExecutionsFailed", "ExecutionsFailed"],
        ["ExecutionsTimedOut", "ExecutionsTimedOut"],
        ["ExecutionsAborted", "ExecutionsAborted"],
        ["ExecutionsThrottled", "ExecutionThrottled"],
      ] as const
    ).map(([name, metricName]): [string, () => Record<string, unknown>] => [
      name,
      () => ({
        Namespace: "AWS/States",
        MetricName: metricName,
        Dimensions: [{ Name: "StateMachineArn", Value: ref(ids.stateMachine!) }],
        Statistic: "Sum",
        Period: 60,
        Threshold: 1,
        ComparisonOperator: atLeast,
        ...once,
      }),
    ]),
    [
      "QueueBacklog",
      () => ({
        Namespace: "AWS/SQS",
        MetricName: "ApproximateAgeOfOldestMessage",
        Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [ids.queue, "QueueName"] } }],
        Statistic: "Maximum",
        Period: 60,
        Threshold: 120,
        ComparisonOperator: atLeast,
        ...once,
      }),
    ],
    [
      "DeadLetterQueueNotEmpty",
      () => ({
        Namespace: "AWS/SQS",
        MetricName: "ApproximateNumberOfMessagesVisible",
        Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [ids.deadLetterQueue, "QueueName"] } }],
        Statistic: "Maximum",
        Period: 60,
        Threshold: 0,
        ComparisonOperator: "GreaterThanThreshold",
        ...once,
      }),
    ],
    [
      "WaitingRoomBacklog",
      () => ({
        Namespace: "AWS/SQS",
        MetricName: "ApproximateAgeOfOldestMessage",
        Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [ids.generateQueue, "QueueName"] } }],
        Statistic: "Maximum",
        Period: 60,
        // waitingRoomAgeAlarmSeconds' default.
        Threshold: 300,
        ComparisonOperator: atLeast,
        ...once,
      }),
    ],
    [
      "GenerateDeadLetterQueueNotEmpty",
      () => ({
        Namespace: "AWS/SQS",
        MetricName: "ApproximateNumberOfMessagesVisible",
        Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [ids.generateDeadLetterQueue, "QueueName"] } }],
        Statistic: "Maximum",
        Period: 60,
        Threshold: 0,
        ComparisonOperator: "GreaterThanThreshold",
        ...once,
      }),
    ],
    [
      "FailureNoticeDeadLetterQueueNotEmpty",
      () => ({
        Namespace: "AWS/SQS",
        MetricName: "ApproximateNumberOfMessagesVisible",
        Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [ids.failureNoticeDeadLetterQueue, "QueueName"] } }],
        Statistic: "Maximum",
        Period: 60,
        Threshold: 0,
        ComparisonOperator: "GreaterThanThreshold",
        ...once,
      }),
    ],
    [
      "BedrockThrottleRate-stability-stable-image-core-v1-1",
      () => {
        const model = [{ Name: "ModelId", Value: "stability.stable-image-core-v1:1" }];
        return {
          Metrics: [
            expression(
              "IF(FILL(throttled, 0) + FILL(accepted, 0) >= 10, 100 * FILL(throttled, 0) / (FILL(throttled, 0) + FILL(accepted, 0)), 0)",
            ),
            input("throttled", "AWS/Bedrock", "InvocationThrottles", model, "Sum"),
            input("accepted", "AWS/Bedrock", "Invocations", model, "Sum"),
          ],
          Threshold: 20,
          ComparisonOperator: atLeast,
          EvaluationPeriods: 2,
          DatapointsToAlarm: 2,
        };
      },
    ],
    // The pipeline's own metrics, as GenerateImage publishes them (Powertools adds `service`): BedrockLatency has a
    // point per call, throttled ones included, so its SampleCount is the calls.
    [
      "PipelineBedrockThrottleRate-stability-stable-image-core-v1-1",
      () => {
        const own = [
          { Name: "ModelId", Value: DEFAULT_MODEL },
          { Name: "service", Value: "couch-imagegen" },
        ];
        return {
          Metrics: [
            expression("IF(calls >= 10, 100 * FILL(throttled, 0) / calls, 0)"),
            input("throttled", "CouchImagegen", "BedrockThrottles", own, "Sum"),
            input("calls", "CouchImagegen", "BedrockLatency", own, "SampleCount"),
          ],
          Threshold: 20,
          ComparisonOperator: atLeast,
          EvaluationPeriods: 2,
          DatapointsToAlarm: 2,
        };
      },
    ],
  ];

  it.each(expectations)(
    "%s: its metric, statistic, period, threshold and evaluation; no data is OK",
    (name, expected) => {
      expect(alarmNamed(name).Properties.AlarmName).toBe(`CouchImagegen-${name}`);
      template.hasResourceProperties(
        "AWS::CloudWatch::Alarm",
        Match.objectLike({ AlarmName: `CouchImagegen-${name}`, ...expected(), TreatMissingData: "notBreaching" }),
      );
    },
  );

  it("are exactly these, two throttle-rate alarms per allowed model (one per side of the region condition)", () => {
    expect(Object.values(metricAlarms()).map((alarm) => alarm.Properties.AlarmName)).toEqual(
      expect.arrayContaining(expectations.map(([name]) => `CouchImagegen-${name}`)),
    );
    template.resourceCountIs("AWS::CloudWatch::Alarm", expectations.length);
  });

  it("have no actions: the composite alone notifies, once per incident", () => {
    for (const alarm of Object.values(metricAlarms())) {
      expect(alarm.Properties).not.toHaveProperty("AlarmActions");
      expect(alarm.Properties).not.toHaveProperty("OKActions");
      expect(alarm.Properties).not.toHaveProperty("InsufficientDataActions");
    }
  });

  it("watch AWS/Bedrock only where the stack runs in bedrockRegion, the pipeline's own metrics elsewhere", () => {
    const conditions = template.toJSON().Conditions;
    expect(conditions[ids.bedrockCondition!]).toEqual({ "Fn::Equals": [{ Ref: "AWS::Region" }, "us-west-2"] });
    expect(conditions[ids.outsideBedrockCondition!]).toEqual({ "Fn::Not": [{ Condition: ids.bedrockCondition }] });
    for (const alarm of Object.values(metricAlarms())) {
      const name = String(alarm.Properties.AlarmName);
      const expected = name.startsWith("CouchImagegen-BedrockThrottleRate-")
        ? ids.bedrockCondition
        : name.startsWith("CouchImagegen-PipelineBedrockThrottleRate-")
          ? ids.outsideBedrockCondition
          : undefined;
      expect(alarm.Condition, name).toBe(expected);
    }
  });
});

describe("the throttle-rate alarm a deployment has, by region", () => {
  /** The names of the metric alarms CloudFormation creates in `region`, and those the composite's rule names there. */
  function deployedIn(deployed: Template, region: string) {
    const alarms = deployed.findResources("AWS::CloudWatch::Alarm") as Record<string, Resource>;
    const created = Object.keys(alarms).filter((id) => {
      const condition = alarms[id]!.Condition;
      return condition === undefined || holds(deployed, { Condition: condition }, region);
    });
    const composite = Object.values(deployed.findResources("AWS::CloudWatch::CompositeAlarm"))[0]!;
    const [condition, whenTrue, whenFalse] = composite.Properties.AlarmRule["Fn::If"];
    const rule = holds(deployed, { Condition: condition }, region) ? whenTrue : whenFalse;
    const named = (rule as { "Fn::Join": [string, unknown[]] })["Fn::Join"][1].flatMap((part) => {
      const arn = (part as { "Fn::GetAtt"?: [string, string] })["Fn::GetAtt"];
      return arn ? [arn[0]] : [];
    });
    const nameOf = (id: string) => String(alarms[id]!.Properties.AlarmName).replace(/^CouchImagegen-/, "");
    return { created: created.map(nameOf).sort(), named: named.map(nameOf).sort() };
  }
  const throttleRates = (names: string[]) => names.filter((name) => name.includes("ThrottleRate"));

  it("outside bedrockRegion (the default: eu-west-1 calling us-west-2): the pipeline's own, in the composite", () => {
    const { created, named } = deployedIn(template, TEST_ENV.region);
    expect(throttleRates(created)).toEqual(["PipelineBedrockThrottleRate-stability-stable-image-core-v1-1"]);
    expect(created).toHaveLength(25);
    expect(named).toEqual(created);
  });

  it("in bedrockRegion: AWS/Bedrock's, in the composite, and no pipeline-metric alarm", () => {
    const { template: inBedrockRegion } = synthStack({ bedrockRegion: TEST_ENV.region });
    const { created, named } = deployedIn(inBedrockRegion, TEST_ENV.region);
    expect(throttleRates(created)).toEqual(["BedrockThrottleRate-stability-stable-image-core-v1-1"]);
    expect(created).toHaveLength(25);
    expect(named).toEqual(created);
  });
});

describe("PipelineUnhealthy, the composite alarm", () => {
  const composite = () => {
    const composites = Object.values(template.findResources("AWS::CloudWatch::CompositeAlarm"));
    expect(composites).toHaveLength(1);
    return composites[0]!.Properties as Record<string, unknown>;
  };
  /** The ARNs an `ALARM("...")` rule names, as the logical ids of their alarms. */
  const alarmsNamedBy = (rule: { "Fn::Join": [string, unknown[]] }) =>
    rule["Fn::Join"][1].flatMap((part) => {
      const arn = (part as { "Fn::GetAtt"?: [string, string] })["Fn::GetAtt"];
      return arn ? [arn[0]] : [];
    });

  it("emails the alert topic on ALARM and OK, and is the only alarm that does", () => {
    expect(composite()).toMatchObject({
      AlarmName: "CouchImagegen-PipelineUnhealthy",
      AlarmActions: [ref(ids.topic!)],
      OKActions: [ref(ids.topic!)],
    });
    expect(composite()).not.toHaveProperty("InsufficientDataActions");
  });

  it("is ALARM when any other alarm is; each branch names the throttle-rate alarms of its side of the condition", () => {
    const rule = composite().AlarmRule as { "Fn::If": [string, never, never] };
    const [condition, inBedrockRegion, elsewhere] = rule["Fn::If"];
    expect(condition).toBe(ids.bedrockCondition);
    const created = (when?: string) =>
      Object.keys(metricAlarms()).filter((id) => metricAlarms()[id]!.Condition === when);
    const always = created(undefined);
    const [bedrock, pipeline] = [created(ids.bedrockCondition), created(ids.outsideBedrockCondition)];
    expect(bedrock).toEqual([logicalId(stack, stack.monitoring.bedrockThrottleAlarms[0]!)]);
    expect(pipeline).toEqual([logicalId(stack, stack.monitoring.pipelineBedrockThrottleAlarms[0]!)]);
    expect(alarmsNamedBy(inBedrockRegion).sort()).toEqual([...always, ...bedrock].sort());
    expect(alarmsNamedBy(elsewhere).sort()).toEqual([...always, ...pipeline].sort());
    // Any one of them: only OR joins the ALARM(...) terms.
    const text = (rule: { "Fn::Join": [string, unknown[]] }) =>
      rule["Fn::Join"][1].filter((part) => typeof part === "string").join("");
    expect(text(inBedrockRegion).replace(/[()"]|ALARM| OR /g, "")).toBe("");
    expect(text(elsewhere).replace(/[()"]|ALARM| OR /g, "")).toBe("");
  });

  it.each([
    [
      "the waiting room's age and DLQ",
      () => [stack.monitoring.waitingRoomAgeAlarm, stack.monitoring.generateDeadLetterQueueAlarm],
    ],
    [
      "the failure notifier's errors and throttles and the failure-notice DLQ",
      () => [
        stack.monitoring.functionErrorAlarms.failureNotifier,
        stack.monitoring.functionThrottleAlarms.failureNotifier,
        stack.monitoring.failureNoticeDeadLetterQueueAlarm,
      ],
    ],
  ])("names %s alarms in both regions' rules", (_, alarms) => {
    const [, inBedrockRegion, elsewhere] = (composite().AlarmRule as { "Fn::If": [string, never, never] })["Fn::If"];
    const named = alarms().map((alarm) => logicalId(stack, alarm));
    expect(alarmsNamedBy(inBedrockRegion)).toEqual(expect.arrayContaining(named));
    expect(alarmsNamedBy(elsewhere)).toEqual(expect.arrayContaining(named));
  });
});

describe("alarm descriptions", () => {
  const runbook = readFileSync(new URL("../../docs/RUNBOOK.md", import.meta.url), "utf8");
  // GitHub's anchor for a heading: lower-case, spaces to '-', most punctuation dropped.
  const anchors = new Set(
    [...runbook.matchAll(/^#{2,4} (.+)$/gm)].map((match) =>
      match[1]!
        .toLowerCase()
        .replace(/[^a-z0-9 _-]/g, "")
        .replace(/ /g, "-"),
    ),
  );
  const descriptions = () => [...Object.values(metricAlarms()).map((alarm) => alarm.Properties), composite()];
  const composite = () =>
    Object.values(template.findResources("AWS::CloudWatch::CompositeAlarm"))[0]!.Properties as Record<string, unknown>;

  it("mention generateConcurrency nowhere: it was renamed bedrockConcurrency", () => {
    for (const alarm of descriptions()) {
      expect(String(alarm.AlarmDescription), String(alarm.AlarmName)).not.toContain("generateConcurrency");
    }
    expect(String(alarmNamed("WaitingRoomBacklog").Properties.AlarmDescription)).toContain("bedrockConcurrency");
  });

  it("include the section every failure notice links (FAILURE_NOTICE_RUNBOOK), though it is no alarm", () => {
    const [file, section] = FAILURE_NOTICE_RUNBOOK.split("#");
    expect(file).toBe("docs/RUNBOOK.md");
    expect(anchors.has(section!), `#${section}`).toBe(true);
  });

  it.each([
    ["BedrockThrottleRate", "AWS/Bedrock: every caller in the account"],
    ["PipelineBedrockThrottleRate", "this stack's calls only"],
  ])("of %s say which calls count, that throttles delay jobs, and the two causes", (alarmId, whose) => {
    const description = String(alarmNamed(`${alarmId}-stability-stable-image-core-v1-1`).Properties.AlarmDescription);
    expect(description).toContain(whose);
    expect(description).toContain("Throttles delay jobs rather than fail them");
    expect(description).toContain("bedrockConcurrency asks for more than the model's quota carries");
    expect(description).toContain("another workload uses the same quota");
    expect(description).toContain("Check first: the model's InvokeModel quota in Service Quotas (us-west-2)");
    expect(description).toMatch(new RegExp(`Runbook: docs/RUNBOOK\\.md#${alarmId.toLowerCase()}$`));
  });

  it("say what to check first and link a runbook section that exists", () => {
    for (const alarm of descriptions()) {
      const description = String(alarm.AlarmDescription);
      expect(description, String(alarm.AlarmName)).toContain("Check first:");
      const section = /Runbook: docs\/RUNBOOK\.md#([a-z0-9-]+)$/.exec(description)?.[1];
      expect(section, String(alarm.AlarmName)).toBeDefined();
      expect(anchors.has(section!), `${alarm.AlarmName} → #${section}`).toBe(true);
      // CloudWatch's limit for AlarmDescription.
      expect(description.length, String(alarm.AlarmName)).toBeLessThanOrEqual(1024);
    }
  });
});

describe("README's alarm table", () => {
  it("has one row per alarm (the throttle-rate ones as [Pipeline]BedrockThrottleRate-<model>) and no others", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("## Alarm emails"));
    const rows = [...section.matchAll(/^\| `([A-Za-z<>-]+)` \|/gm)].map((match) => match[1]);
    const alarms = Object.values(metricAlarms()).map((alarm) =>
      String(alarm.Properties.AlarmName)
        .replace(/^CouchImagegen-/, "")
        .replace(/^(Pipeline)?BedrockThrottleRate-.*/, "$1BedrockThrottleRate-<model>"),
    );
    expect([...rows].sort()).toEqual([...new Set(alarms)].sort());
  });
});
