import { readFileSync } from "node:fs";
import path from "node:path";
import { App, CfnElement, type Stack } from "aws-cdk-lib";
import type { CfnFunction } from "aws-cdk-lib/aws-lambda";
import { loadConfig } from "../infra/config";
import type { LambdaFunction } from "../infra/constructs/lambda-function";
import { type FunctionSource, repoRoot } from "../infra/lambda-build";
import { CouchImagegenStack } from "../infra/stack";
import { ASL_PATH } from "../statemachine/substitutions";

/** One deployed Lambda function as the CDK stack configures it. */
export interface DeployedFunction {
  name: string;
  source: FunctionSource;
  /** The handler module's export Lambda calls. */
  exportName: string;
  memoryMb: number;
  architecture: string;
  /** Its environment variables; values that are deploy-time references are replaced by stand-ins of the same kind. */
  environment: Record<string, string>;
}

/** What the cost model and the bundle benchmark need from the deployed stack, read from the synthesized template. */
export interface DeployedShape {
  functions: DeployedFunction[];
  /** Each Lambda task state of the ASL, with the function it invokes. */
  taskFunctions: Record<string, string>;
  /** Each direct-integration task state of the ASL, with its resource (e.g. `arn:aws:states:::dynamodb:updateItem`). */
  integrationTasks: Record<string, string>;
  stateMachineType: string;
  /** Step Functions execution logging level and whether it logs execution data (payloads). */
  stateMachineLogging: { level: string; includeExecutionData: boolean };
}

// Deploy-time references (bucket, table, state machine) have no value before deploying; these stand in for them.
const REFERENCE_STAND_INS: Record<string, string> = {
  STATE_MACHINE_ARN: "arn:aws:states:us-east-1:123456789012:stateMachine:CouchImagegenBench",
  IMAGE_BUCKET: "couch-imagegen-bench",
  JOB_STATUS_TABLE: "couch-imagegen-bench-jobs",
};

/**
 * Synthesizes the real stack (Lambda bundling skipped, cdk.json's context, a placeholder alert email) and reads
 * memory, architecture and environment of each function from it, so the figures follow infra/ with no second copy.
 */
export function readDeployedShape(): DeployedShape {
  const cdkJson = JSON.parse(readFileSync(path.join(repoRoot, "cdk.json"), "utf8")) as {
    context?: Record<string, unknown>;
  };
  const app = new App({
    context: { ...cdkJson.context, alertEmail: "bench@example.com", "aws:cdk:bundling-stacks": [] },
  });
  const stack = new CouchImagegenStack(app, "CouchImagegenBench", { config: loadConfig(app.node.getAllContext()) });
  const template = app.synth().getStackByName(stack.stackName).template as {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  };
  const constructs: [string, FunctionSource, LambdaFunction][] = [
    ["start-job (API)", "start-job", stack.ingress.startJobApi],
    ["start-job (SQS)", "start-job", stack.ingress.startJobQueue],
    ["job-status", "job-status", stack.ingress.jobStatus],
    ["validate-prompt", "validate-prompt", stack.workflow.validatePrompt],
    ["generate-image", "generate-image", stack.workflow.generateImage],
    ["store-image", "store-image", stack.workflow.storeImage],
    ["failure-notifier", "failure-notifier", stack.failureNotices.notifier],
  ];
  const byLogicalId = new Map<string, DeployedFunction>();
  const functions = constructs.map(([name, source, construct]) => {
    const logicalId = logicalIdOf(stack, construct.function.node.defaultChild as CfnFunction);
    const properties = template.Resources[logicalId]?.Properties ?? {};
    const variables = (properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    const deployed: DeployedFunction = {
      name,
      source,
      exportName: String(properties.Handler ?? "index.handler").split(".")[1] ?? "handler",
      memoryMb: Number(properties.MemorySize ?? 128),
      architecture: String((properties.Architectures as string[] | undefined)?.[0] ?? "x86_64"),
      environment: Object.fromEntries(
        Object.entries(variables).map(([key, value]) => [
          key,
          typeof value === "string" ? value : (REFERENCE_STAND_INS[key] ?? `bench-${key.toLowerCase()}`),
        ]),
      ),
    };
    byLogicalId.set(logicalId, deployed);
    return deployed;
  });

  const machine = Object.values(template.Resources).find((r) => r.Type === "AWS::StepFunctions::StateMachine");
  const substitutions = (machine?.Properties.DefinitionSubstitutions ?? {}) as Record<string, unknown>;
  const logging = machine?.Properties.LoggingConfiguration as
    | { Level?: string; IncludeExecutionData?: boolean }
    | undefined;
  const asl = JSON.parse(readFileSync(ASL_PATH, "utf8")) as {
    States: Record<string, { Type: string; Resource?: string; Parameters?: { FunctionName?: string } }>;
  };
  const taskFunctions: Record<string, string> = {};
  const integrationTasks: Record<string, string> = {};
  for (const [state, definition] of Object.entries(asl.States)) {
    if (definition.Type !== "Task" || !definition.Resource) continue;
    const placeholder = /^\$\{(\w+)\}$/.exec(definition.Parameters?.FunctionName ?? "")?.[1];
    const reference = placeholder ? substitutions[placeholder] : undefined;
    const target = (reference as { "Fn::GetAtt"?: [string, string] } | undefined)?.["Fn::GetAtt"]?.[0];
    const deployed = target ? byLogicalId.get(target) : undefined;
    if (definition.Resource === "arn:aws:states:::lambda:invoke" && deployed) taskFunctions[state] = deployed.name;
    else integrationTasks[state] = definition.Resource;
  }
  return {
    functions,
    taskFunctions,
    integrationTasks,
    stateMachineType: String(machine?.Properties.StateMachineType ?? "STANDARD"),
    stateMachineLogging: {
      level: String(logging?.Level ?? "OFF"),
      includeExecutionData: logging?.IncludeExecutionData === true,
    },
  };
}

function logicalIdOf(stack: Stack, resource: CfnFunction): string {
  if (!(resource instanceof CfnElement)) throw new Error("A Lambda function construct has no CloudFormation resource");
  return stack.resolve(resource.logicalId) as string;
}
