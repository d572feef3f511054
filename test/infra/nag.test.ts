// Verifies the stack against cdk-nag's AwsSolutions rules (the pack infra/app.ts runs on every synth) in the default,
// existing-bucket, open-API and ALL-execution-logs configurations: no unacknowledged error or warning, every
// acknowledgement gives a specific reason, and none is stale (each one silences a finding that would otherwise be
// reported). Also checks that synthesis emits no CDK warnings.
// It cannot judge whether a reason is true; a reviewer reads them (they sit next to the resource they concern).
import { Validations } from "aws-cdk-lib";
import { Annotations, Match } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import type { IConstruct } from "constructs";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { CouchImagegenStack } from "../../infra/stack";
import { synthStack } from "./synth";

const configurations = {
  default: {},
  "existing bucket": { bucketName: "pgr301-couch-explorers", keyPrefix: "candidates/alice" },
  "open API": { apiKeyRequired: "false" },
  // The SF1 acknowledgement (logs below ALL) must disappear with the finding.
  "execution logs at ALL": { stateMachineLogLevel: "ALL", stateMachineLogExecutionData: "true" },
} satisfies Record<string, Record<string, string>>;

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Acknowledgements recorded on the construct tree, as cdk-nag reads them. */
function acknowledgementsOf(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ""),
          reason,
        })),
      ),
  );
}

function findings(stack: CouchImagegenStack) {
  const report = new AwsSolutionsChecks().validateScope(stack);
  const describe = (severity: string) =>
    report.violations
      .filter((violation) => violation.severity === severity)
      .map((v) => `${v.ruleName} on ${v.violatingResources.map((r) => r.constructPath).join(", ")}: ${v.description}`);
  return { report, errors: describe("error"), warnings: describe("warning") };
}

describe.each(Object.entries(configurations))("AwsSolutions checks, %s configuration", (_, context) => {
  let stack: CouchImagegenStack;
  beforeAll(() => {
    ({ stack } = synthStack(context));
  });

  it("reports no unacknowledged error", () => {
    expect(findings(stack).errors).toEqual([]);
  });

  it("reports no unacknowledged warning", () => {
    expect(findings(stack).warnings).toEqual([]);
  });

  it("gives every acknowledgement a specific reason", () => {
    const acknowledgements = acknowledgementsOf(stack);
    expect(acknowledgements.length).toBeGreaterThan(0);
    for (const { path, id, reason } of acknowledgements) {
      expect(reason.length, `${id} on ${path}`).toBeGreaterThanOrEqual(80);
      expect(reason, `${id} on ${path}`).not.toMatch(/\b(TODO|TBD|FIXME|n\/a)\b/i);
    }
  });

  it("synthesizes without CDK warnings", () => {
    expect(Annotations.fromStack(stack).findWarning("*", Match.anyValue())).toEqual([]);
  });
});

describe("acknowledgements", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each(Object.entries(configurations))("each silences a finding that is really there (%s)", (_, context) => {
    const acknowledged = acknowledgementsOf(synthStack(context).stack);
    // The same stack with every acknowledgement dropped: each one must match a finding on its construct or below.
    vi.spyOn(Validations.prototype, "acknowledge").mockImplementation(() => {});
    const { report } = findings(synthStack(context).stack);
    const reported = report.violations.flatMap((violation) =>
      violation.violatingResources.map((resource) => ({ id: violation.ruleName, path: resource.constructPath ?? "" })),
    );
    const stale = acknowledged.filter(
      ({ id, path }) => !reported.some((finding) => finding.id === id && `${finding.path}/`.startsWith(`${path}/`)),
    );
    expect(stale).toEqual([]);
  });
});
