import { readFileSync } from "node:fs";
import { App, CfnElement, type Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import { loadConfig } from "../../infra/config";
import { CouchImagegenStack } from "../../infra/stack";

/** The feature flags the CDK CLI passes from cdk.json, so tests synthesize what `cdk synth` does. */
const cdkJsonContext: Record<string, unknown> = JSON.parse(
  readFileSync(new URL("../../cdk.json", import.meta.url), "utf8"),
).context;

export const TEST_ENV = { account: "123456789012", region: "eu-west-1" } as const;

export interface SynthesizedStack {
  readonly stack: CouchImagegenStack;
  readonly template: Template;
}

/** An App with cdk.json's feature flags and `context`, that skips Lambda bundling. */
export function testApp(context: Record<string, string> = {}): App {
  return new App({ context: { ...cdkJsonContext, ...context, "aws:cdk:bundling-stacks": [] } });
}

/**
 * Synthesizes the stack from CDK context values as `-c key=value` would pass them (strings). Lambda bundling is
 * skipped (`aws:cdk:bundling-stacks` = []): these tests read the template, not the code; the CLI test bundles.
 */
export function synthStack(context: Record<string, string> = {}): SynthesizedStack {
  const app = testApp({ alertEmail: "ops@example.com", ...context });
  // As infra/app.ts does, from all of the app's context (cdk.json's included).
  const config = loadConfig(app.node.getAllContext());
  const stack = new CouchImagegenStack(app, "CouchImagegen", { env: TEST_ENV, config });
  return { stack, template: Template.fromStack(stack) };
}

/** The logical id of a construct's CloudFormation resource (its default child), as the template names it. */
export function logicalId(stack: Stack, construct: IConstruct): string {
  const resource = construct.node.defaultChild;
  if (!(resource instanceof CfnElement)) throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return stack.getLogicalId(resource);
}

export interface PolicyStatementJson {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}

/** Every statement of the identity policies attached to a role, with `Action` always a list. */
export function roleStatements(
  template: Template,
  roleLogicalId: string,
): (PolicyStatementJson & { Action: string[] })[] {
  const policies = template.findResources("AWS::IAM::Policy", {
    Properties: { Roles: Match.arrayWith([{ Ref: roleLogicalId }]) },
  });
  return Object.values(policies).flatMap((policy) =>
    (policy.Properties.PolicyDocument.Statement as PolicyStatementJson[]).map((statement) => ({
      ...statement,
      Action: [statement.Action].flat(),
    })),
  );
}

/**
 * Actions a role is allowed, each with the resources it is allowed on, sorted by their JSON text (CDK merges and
 * orders statements as it likes). X-Ray and log writing are left out.
 */
export function grantsOf(template: Template, roleLogicalId: string): Record<string, unknown[]> {
  const grants: Record<string, unknown[]> = {};
  for (const statement of roleStatements(template, roleLogicalId)) {
    if (statement.Effect !== "Allow") continue;
    for (const action of statement.Action) {
      if (action.startsWith("xray:") || action === "logs:CreateLogStream" || action === "logs:PutLogEvents") continue;
      grants[action] = [...(grants[action] ?? []), ...[statement.Resource].flat()];
    }
  }
  for (const resources of Object.values(grants)) sortResources(resources);
  return grants;
}

/** Sorts IAM resources (strings or CloudFormation functions) by their JSON text, in place, as `grantsOf` does. */
export function sortResources<T>(resources: T[]): T[] {
  return resources.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}
