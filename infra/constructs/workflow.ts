import { readFileSync } from "node:fs";
import { Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import type { ModelChoice } from "../../functions/shared/image-request";
import { modelChoiceEnvironment } from "../../functions/shared/model-choice-env";
import { findModel, resolveModel, SUPPORTED_MODEL_IDS } from "../../functions/shared/models/catalog";
import { GENERATOR_TIMEOUT_SECONDS } from "../../functions/shared/waiting-room";
import { DEPLOYED_STATE_MACHINE } from "../../statemachine/deployed-settings";
import { ASL_PATH, type DefinitionSubstitutions } from "../../statemachine/substitutions";
import { acknowledgeWildcardResource } from "../nag";
import { LambdaFunction } from "./lambda-function";
import type { ImageStorage } from "./storage";
import { checkBedrockConcurrency, WaitingRoom } from "./waiting-room";

export interface ImageWorkflowProps {
  readonly storage: ImageStorage;
  /** The deployment's models: ValidatePrompt checks requests against them, GenerateImage may invoke exactly these. */
  readonly models: ModelChoice;
  /** Region Bedrock is called in. */
  readonly bedrockRegion: string;
  /** Most Bedrock calls at once: how many generators the waiting room runs together (2 to 1000). */
  readonly bedrockConcurrency: number;
  /** Days a status record is kept; ValidatePrompt turns it into the record's `expiresAt`. */
  readonly statusRetentionDays: number;
  /**
   * How long execution logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Which execution history events go to the log group. Step Functions keeps every Standard execution's full history
   * itself for 90 days, so the log group needs only what to search across executions: failures.
   * @default LogLevel.ERROR
   */
  readonly logLevel?: LogLevel;
  /**
   * Whether logged events carry their input and output: the prompt, and every state's result. Off, the prompt stays
   * in the execution history and the status table only (docs/ARCHITECTURE.md §1.15).
   * @default false
   */
  readonly logExecutionData?: boolean;
}

/**
 * The Step Functions STANDARD state machine from `statemachine/image-pipeline.asl.json` and the three Lambda
 * functions behind its tasks: ValidatePrompt and StoreImage, which it invokes, and GenerateImage, the generator, which
 * takes jobs from the waiting room the GenerateImage task puts them in and answers with the job's task token. The
 * status records are written by the state machine itself through the direct DynamoDB integration, except RUNNING,
 * which the generator writes when it takes a job.
 */
export class ImageWorkflow extends Construct {
  public readonly validatePrompt: LambdaFunction;
  /** The generator: GenerateImage's work, run by the waiting room's event source. */
  public readonly generateImage: LambdaFunction;
  public readonly storeImage: LambdaFunction;
  public readonly waitingRoom: WaitingRoom;
  public readonly stateMachine: StateMachine;
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ImageWorkflowProps) {
    super(scope, id);
    checkBedrockConcurrency(props.bedrockConcurrency);
    const unknownModels = props.models.allowedModelIds.filter((id) => !findModel(id));
    if (unknownModels.length > 0 || !props.models.allowedModelIds.includes(props.models.defaultModelId)) {
      throw new Error(
        `models.allowedModelIds must include models.defaultModelId and only supported models ` +
          `(${SUPPORTED_MODEL_IDS.join(", ")}), got ${JSON.stringify(props.models)}`,
      );
    }
    const logLevel = props.logLevel ?? LogLevel[DEPLOYED_STATE_MACHINE.logLevel];
    const logExecutionData = props.logExecutionData ?? DEPLOYED_STATE_MACHINE.includeExecutionData;
    if (logExecutionData && logLevel === LogLevel.OFF) {
      throw new Error("logExecutionData needs a logLevel other than OFF (nothing is logged at OFF); omit one of them");
    }
    const { storage } = props;

    // The invoked functions' timeouts stay below their ASL task TimeoutSeconds (30, 60) so the function's own error
    // is reported; the generator's is bounded by the generate queue's visibility timeout instead (WaitingRoom).
    this.validatePrompt = new LambdaFunction(this, "ValidatePrompt", {
      source: "validate-prompt",
      description: "ValidatePrompt step: checks the request against the configured model's limits",
      timeout: Duration.seconds(10),
      environment: {
        ...modelChoiceEnvironment(props.models),
        STATUS_RETENTION_DAYS: String(props.statusRetentionDays),
      },
    });

    // No reserved concurrency: the waiting room's event source bounds the Bedrock calls (bedrockConcurrency).
    this.generateImage = new LambdaFunction(this, "GenerateImage", {
      source: "generate-image",
      description:
        "GenerateImage generator: takes a job from the generate queue, calls its Bedrock model, stages the image " +
        "in S3 and answers the job's task token",
      timeout: Duration.seconds(GENERATOR_TIMEOUT_SECONDS),
      // Holds and decodes a base64 PNG of several MB.
      memorySize: 512,
    });
    this.generateImage.bindBedrockModels(props.models.allowedModelIds.map(resolveModel), props.bedrockRegion);
    // GetObject: a redelivered job finds (HeadObject) the image an earlier receive staged, and skips Bedrock.
    this.generateImage.bindImageBucket(storage, [
      { actions: ["s3:PutObject", "s3:GetObject"], keyPatterns: storage.stagingKeys },
    ]);
    // The generator marks the job RUNNING when it takes it from the waiting room.
    this.generateImage.bindStatusTable(storage.jobStatusTable, ["dynamodb:UpdateItem"]);
    this.waitingRoom = new WaitingRoom(this, "WaitingRoom", {
      generator: this.generateImage,
      bedrockConcurrency: props.bedrockConcurrency,
    });

    this.storeImage = new LambdaFunction(this, "StoreImage", {
      source: "store-image",
      description: "StoreImage step: promotes the staged PNG to its final key (server-side copy, then delete)",
      timeout: Duration.seconds(30),
    });
    this.storeImage.bindImageBucket(storage, [
      // GetObject on the staged image is the copy source; DeleteObject removes it once copied.
      { actions: ["s3:GetObject", "s3:DeleteObject"], keyPatterns: storage.stagingKeys },
      // GetObject on the final key lets a retried StoreImage see (HeadObject) that an earlier attempt copied it.
      { actions: ["s3:PutObject", "s3:GetObject"], keyPatterns: storage.imageKeys },
    ]);

    this.logGroup = new LogGroup(this, "ExecutionLogs", {
      // The /aws/vendedlogs/ prefix keeps the account's CloudWatch Logs resource policy from growing per log group.
      logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-image-pipeline`,
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.stateMachine = new StateMachine(this, "StateMachine", {
      stateMachineType: StateMachineType[DEPLOYED_STATE_MACHINE.type],
      comment: "couch-imagegen: prompt in, PNG in S3 out",
      // Inline, not fromFile (an S3 asset): the template carries the definition, so `cdk diff` shows its changes.
      definitionBody: DefinitionBody.fromString(readFileSync(ASL_PATH, "utf8")),
      definitionSubstitutions: {
        ValidatePromptFunctionArn: this.validatePrompt.function.functionArn,
        GenerateQueueUrl: this.waitingRoom.queue.queueUrl,
        StoreImageFunctionArn: this.storeImage.function.functionArn,
        JobStatusTableName: storage.jobStatusTable.tableName,
        // The same placeholders the local stack fills: a renamed one fails type-checking here, not at deploy time.
      } satisfies Record<keyof DefinitionSubstitutions, string>,
      tracingEnabled: DEPLOYED_STATE_MACHINE.tracingEnabled,
      logs: { destination: this.logGroup, level: logLevel, includeExecutionData: logExecutionData },
    });
    if (logLevel !== LogLevel.ALL) {
      Validations.of(this.stateMachine).acknowledge({
        id: "AwsSolutions-SF1",
        reason:
          `Execution logs at ${logLevel}, not ALL (ERROR is the default): a Standard execution keeps its full ` +
          "event history in Step Functions for 90 days (the console and the failure email link to it), and ALL would " +
          "copy ~30 KB per job, prompts included, into the log group; -c stateMachineLogLevel=ALL turns it on " +
          "(docs/ARCHITECTURE.md §1.15).",
      });
    }

    // A definition read from a file grants nothing by itself: exactly what its tasks call, no more. GenerateImage only
    // sends the job to the waiting room (SQS-managed encryption: no KMS key to grant).
    this.waitingRoom.queue.grant(this.stateMachine, "sqs:SendMessage");
    for (const task of [this.validatePrompt, this.storeImage]) {
      task.function.grantInvoke(this.stateMachine);
      acknowledgeWildcardResource(
        this.stateMachine.role,
        `${task.function.functionArn}:*`,
        "lambda:InvokeFunction on this task function's qualified ARNs (versions and aliases, ':*') as well as the " +
          "unqualified one, as Step Functions' own Lambda task grants do; no other function matches.",
      );
    }
    storage.jobStatusTable.grant(this.stateMachine, "dynamodb:UpdateItem");
    acknowledgeWildcardResource(
      this.stateMachine.role,
      "*",
      "Execution logging needs logs:CreateLogDelivery and the other vended-log delivery actions, and X-Ray tracing " +
        "needs xray:PutTraceSegments and related actions; none of them supports resource-level permissions.",
    );
  }
}
