import { Stack, Validations } from "aws-cdk-lib";
import type { IConstruct } from "constructs";

/**
 * Acknowledges the cdk-nag `AwsSolutions-IAM5` finding for one wildcard resource on `scope` (a role or policy).
 * cdk-nag v3 matches findings by exact id, `AwsSolutions-IAM5[Resource::<flattened resource>]`, so the resource
 * is flattened here the way cdk-nag does: the acknowledgement then covers exactly that resource and no other.
 */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  const flattened = flattenCfnReference(Stack.of(scope).resolve(resource));
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flattened}]`, reason });
}

/** Mirrors cdk-nag's `flattenCfnReference` (lib/utils/flatten-cfn-reference.js), which is not exported. */
function flattenCfnReference(node: unknown): string {
  if (node === undefined) return "";
  if (typeof node === "string") return node.replace(/\$\{/g, "<").replace(/\}/g, ">");
  if (isIntrinsic(node, "Fn::Join")) {
    const [delimiter, items] = node["Fn::Join"] as [string, unknown[]];
    return items.map(flattenCfnReference).join(delimiter);
  }
  if (isIntrinsic(node, "Fn::Sub")) return flattenCfnReference(node["Fn::Sub"]);
  if (isIntrinsic(node, "Fn::GetAtt")) {
    const [resource, attribute] = node["Fn::GetAtt"] as [unknown, unknown];
    return `<${flattenCfnReference(resource)}.${flattenCfnReference(attribute)}>`;
  }
  if (isIntrinsic(node, "Fn::ImportValue")) return flattenCfnReference(node["Fn::ImportValue"]);
  if (isIntrinsic(node, "Ref")) return `<${flattenCfnReference(node.Ref)}>`;
  return JSON.stringify(node);
}

function isIntrinsic<K extends string>(node: unknown, key: K): node is Record<K, unknown> {
  return typeof node === "object" && node !== null && Boolean((node as Record<string, unknown>)[key]);
}
