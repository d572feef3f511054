import path from "node:path";
import { ArnFormat, type Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import type { ITable } from "aws-cdk-lib/aws-dynamodb";
import { PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { ApplicationLogLevel, Architecture, LoggingFormat, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { StateMachine } from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import { PIPELINE_METRICS_NAMESPACE, PIPELINE_METRICS_SERVICE } from "../../functions/shared/metric-names";
import type { ResolvedModel } from "../../functions/shared/models/catalog";
import { type FunctionSource, functionEntry, lambdaBundling, repoRoot } from "../lambda-build";
import { acknowledgeWildcardResource } from "../nag";
import type { ImageStorage } from "./storage";

export interface LambdaFunctionProps {
  /** Folder under `functions/` whose `handler.ts` is the entry file. */
  readonly source: FunctionSource;
  /**
   * Exported function of the entry file that Lambda calls.
   * @default "handler"
   */
  readonly handler?: string;
  /** What the function does, shown in the Lambda console. */
  readonly description: string;
  /** Longest single invocation. */
  readonly timeout: Duration;
  /**
   * Memory (and so CPU share), in MB.
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * Concurrent executions reserved for (and capping) this function.
   * @default - no reservation: the account's unreserved pool
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Environment variables that need no IAM grant; use the `bindX()` methods for those that do.
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /**
   * How long the function's log events are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/** S3 actions on objects matching key patterns (a `*` wildcard at most in each, e.g. `staging/*.png`). */
export interface ObjectGrant {
  readonly actions: readonly ("s3:GetObject" | "s3:PutObject" | "s3:DeleteObject")[];
  readonly keyPatterns: readonly string[];
}

/**
 * One level for Powertools Logger and for Lambda's log-level filter, which overrides it when they differ. Not above
 * INFO: Lambda files a JSON line without a level (the embedded-metric-format metrics) as INFO, so a stricter filter
 * would drop the pipeline's metrics. For DEBUG on one function, set its application log level in the Lambda console.
 */
const LOG_LEVEL = ApplicationLogLevel.INFO;

/**
 * A Node.js Lambda function with the project's defaults fixed once: ARM64, the Node.js 24 runtime, active X-Ray
 * tracing, JSON logs in its own log group with a retention, a role of its own that can write only to that log group,
 * Powertools' service, metrics namespace and log level (functions/shared/logger.ts, metrics.ts), and local esbuild
 * bundling with the options shared with `npm run build`.
 *
 * Environment variables that name a resource are set by the `bindX()` methods together with the IAM grant they
 * need, so the two cannot drift apart.
 */
export class LambdaFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly role: Role;
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: LambdaFunctionProps) {
    super(scope, id);

    this.logGroup = new LogGroup(this, "LogGroup", {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      // Operational logs only: no reason to outlive the function.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // A role of its own instead of AWSLambdaBasicExecutionRole: logs go to this log group only.
    this.role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `Runs the ${props.source} Lambda function (${props.handler ?? "handler"})`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, "Function", {
      entry: functionEntry(props.source),
      handler: props.handler ?? "handler",
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize ?? 256,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing: Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: LOG_LEVEL,
      environment: {
        NODE_OPTIONS: "--enable-source-maps",
        ...props.environment,
        POWERTOOLS_SERVICE_NAME: PIPELINE_METRICS_SERVICE,
        POWERTOOLS_METRICS_NAMESPACE: PIPELINE_METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: LOG_LEVEL,
      },
      projectRoot: repoRoot,
      depsLockFilePath: path.join(repoRoot, "package-lock.json"),
      bundling: {
        forceDockerBundling: false,
        target: lambdaBundling.target,
        format: OutputFormat.ESM,
        mainFields: [...lambdaBundling.mainFields],
        banner: lambdaBundling.banner,
        minify: lambdaBundling.minify,
        sourceMap: lambdaBundling.sourcemap,
        sourcesContent: lambdaBundling.sourcesContent,
        externalModules: [...lambdaBundling.external],
      },
    });

    acknowledgeWildcardResource(
      this.role,
      "*",
      "Active X-Ray tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level " +
        "permissions (https://docs.aws.amazon.com/xray/latest/devguide/security_iam_id-based-policy-examples.html).",
    );
  }

  /**
   * Sets `STATE_MACHINE_ARN` and grants `states:DescribeExecution` on that machine's executions only; with
   * `start`, also `states:StartExecution` on the machine itself.
   */
  bindStateMachine(stateMachine: StateMachine, access: { readonly start: boolean }): void {
    this.function.addEnvironment("STATE_MACHINE_ARN", stateMachine.stateMachineArn);
    if (access.start) stateMachine.grantStartExecution(this.role);
    const executions = Stack.of(this).formatArn({
      service: "states",
      resource: "execution",
      resourceName: `${stateMachine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ["states:DescribeExecution"], resources: [executions] }),
    );
    acknowledgeWildcardResource(
      this.role,
      executions,
      "An execution ARN ends in the execution name, which is the per-request jobId, so this state machine's " +
        "executions can only be named with a trailing wildcard; no other state machine's executions match it.",
    );
  }

  /** Sets `JOB_STATUS_TABLE` and grants `actions` on that table only. */
  bindStatusTable(table: ITable, actions: readonly string[]): void {
    this.function.addEnvironment("JOB_STATUS_TABLE", table.tableName);
    table.grant(this.role, ...actions);
  }

  /**
   * Sets `IMAGE_BUCKET` and `KEY_PREFIX` and grants each `ObjectGrant`'s actions on the objects matching its key
   * pattern only (never the whole bucket).
   */
  bindImageBucket(storage: ImageStorage, grants: readonly ObjectGrant[]): void {
    this.function.addEnvironment("IMAGE_BUCKET", storage.bucket.bucketName);
    this.function.addEnvironment("KEY_PREFIX", storage.keyPrefix);
    for (const grant of grants) {
      const objects = grant.keyPatterns.map((pattern) => storage.bucket.arnForObjects(pattern));
      this.role.addToPrincipalPolicy(new PolicyStatement({ actions: [...grant.actions], resources: objects }));
      grant.keyPatterns.forEach((pattern, index) => {
        acknowledgeWildcardResource(
          this.role,
          objects[index] ?? "",
          `Object keys are per job ({jobId}.png or .jpg), so ${grant.actions.join(" and ")} ` +
            `${grant.actions.length > 1 ? "are" : "is"} granted on the key pattern ` +
            `"${pattern}" under the configured prefix, never on the whole bucket.`,
        );
      });
    }
  }

  /**
   * Sets `BEDROCK_REGION` and grants `bedrock:InvokeModel` on exactly the given models: a foundation model's ARN in
   * that region; for an inference profile id, the profile's ARN there and the foundation model's ARN in each
   * region the profile routes to (Bedrock checks both).
   */
  bindBedrockModels(models: readonly ResolvedModel[], bedrockRegion: string): void {
    this.function.addEnvironment("BEDROCK_REGION", bedrockRegion);
    const resources = new Set<string>();
    for (const { id, model, profileGeography } of models) {
      const regions = profileGeography === undefined ? [bedrockRegion] : (model.profiles[profileGeography] ?? []);
      for (const region of regions) resources.add(this.bedrockArn(region, "", `foundation-model/${model.id}`));
      if (profileGeography !== undefined) {
        resources.add(this.bedrockArn(bedrockRegion, Stack.of(this).account, `inference-profile/${id}`));
      }
    }
    this.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ["bedrock:InvokeModel"], resources: [...resources] }),
    );
  }

  private bedrockArn(region: string, account: string, resource: string): string {
    return Stack.of(this).formatArn({
      service: "bedrock",
      region,
      account,
      resource,
      arnFormat: ArnFormat.NO_RESOURCE_NAME,
    });
  }
}
