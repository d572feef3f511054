import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DEFAULT_MODEL_ID, findModel, MODEL_CATALOG, SUPPORTED_MODEL_IDS } from "../functions/shared/models/catalog";
import {
  GENERATE_MAX_RECEIVES,
  GENERATE_VISIBILITY_TIMEOUT_SECONDS,
  GENERATOR_ENV,
} from "../functions/shared/waiting-room";
import { startLocalApi } from "./api-gateway";
import { type BedrockStandIn, type BedrockStandInOptions, startBedrockStandIn } from "./bedrock-stand-in";
import { startLocalConsole } from "./console/server";
import { claimDataDir } from "./data-dir";
import { type Emulators, LOCAL_CREDENTIALS, LOCAL_REGION, startEmulators } from "./emulators";
import { type ExecutionRecord, ExecutionStore } from "./executions";
import { DEFAULT_NOTICE_WINDOW_MS, type LocalFailureNotices, startFailureNotices } from "./failure-notices";
import { loadHandlers, type SqsHandler } from "./local-handlers";
import {
  createResources,
  DLQ_NAME,
  FUNCTION_ARN,
  pinStagingDirectory,
  QUEUE_NAME,
  STATE_MACHINE_ARN,
} from "./local-resources";
import { DEFAULT_BEDROCK_CONCURRENCY, DEFAULT_PORTS, type LocalPorts } from "./local-stack-defaults";
import { assertPortsFree, reservePort } from "./ports";
import { keepPaidImages } from "./restarted-jobs";
import { redeliverJournaled } from "./sqs-journal";
import { type SqsPoller, startSqsPoller } from "./sqs-poller";
import { localDefinition, scaleRetryIntervals, withHeartbeatSeconds } from "./state-machine-definition";
import { StateMachineRunner } from "./state-machine-runner";
import { startStepFunctionsEndpoint } from "./step-functions-endpoint";

export type { SqsHandler } from "./local-handlers";
export { DEFAULT_BEDROCK_CONCURRENCY, DEFAULT_PORTS, FREE_PORTS, type LocalPorts } from "./local-stack-defaults";

export const DEFAULT_DATA_DIR = fileURLToPath(new URL("../.local", import.meta.url));

export interface LocalStackOptions {
  /** Where S3 objects, DynamoDB tables and executions live between runs. @default <repo>/.local */
  dataDir?: string;
  /**
   * Start empty: delete what a stack wrote in dataDir first. Refused (NotADataDirError) for a directory that holds
   * other files and was never a stack's; dataDir is locked while a stack runs on it (DataDirInUseError).
   */
  fresh?: boolean;
  ports?: Partial<LocalPorts>;
  /** The deployment's default model (`-c modelId` on AWS). @default Stable Image Core */
  modelId?: string;
  /**
   * Models a request may name in `model` (`-c allowedModelIds` on AWS, where the default allows only `modelId`).
   * @default every model in the catalog, so each can be tried locally
   */
  allowedModelIds?: readonly string[];
  bucket?: string;
  keyPrefix?: string;
  /** Multiplies the state machine's retry intervals (1 = the real schedule). */
  retryTimeScale?: number;
  /** The waiting room: the generate queue and its generator, as the event source mapping runs it on AWS. */
  waitingRoom?: WaitingRoomOptions;
  /** Latency, rate limit and failure rates of the Bedrock stand-in. */
  bedrock?: Omit<BedrockStandInOptions, "port" | "log">;
  /** Require this key in `x-api-key` (as the API's usage plan does on AWS). @default none locally */
  apiKey?: string;
  sqs?: { batchSize?: number; visibilityTimeoutSeconds?: number; maxReceiveCount?: number; pollers?: number };
  /** One line per log entry. @default console.log */
  log?: (line: string) => void;
  /**
   * Routes the pipeline's own calls to a service (the handlers' and the state machine's, not the stack's setup)
   * through the URL this returns for the service's local URL: fault-injection tests put a failing proxy there,
   * the benchmark a request counter. @default none: the pipeline calls the emulators directly
   */
  interpose?: (service: InterposedService, url: string) => Promise<string>;
  /**
   * The failure notices' batching window: failed jobs are gathered this long from the first, then noticed once per
   * error kind, as on AWS (where the window is FAILURE_NOTICE_WINDOW_SECONDS). @default DEFAULT_NOTICE_WINDOW_MS (10 s)
   */
  noticeWindowMs?: number;
}

export type InterposedService = "s3" | "dynamodb" | "stepFunctions";

export interface WaitingRoomOptions {
  /** Generators at once: the event source's MaximumConcurrency (`-c bedrockConcurrency`, 5 on AWS). @default 5 */
  bedrockConcurrency?: number;
  /** Seconds a message a generator took stays invisible. @default GENERATE_VISIBILITY_TIMEOUT_SECONDS (600), as on AWS */
  visibilityTimeoutSeconds?: number;
  /** The generate queue's maxReceiveCount. @default GENERATE_MAX_RECEIVES (100), as on AWS */
  maxReceives?: number;
  /** GenerateImage's HeartbeatSeconds. @default the ASL file's */
  heartbeatSeconds?: number;
  /** Wraps the generator's handler: fault tests make it die holding a token. @default none */
  wrapGenerator?: (handler: SqsHandler) => SqsHandler;
}

export interface LocalStack {
  apiUrl: string;
  stepFunctionsUrl: string;
  queueUrl: string;
  dlqUrl: string;
  /** The waiting room: GenerateImage's messages, and its DLQ. */
  generateQueueUrl: string;
  generateDlqUrl: string;
  s3Url: string;
  dynamodbUrl: string;
  snsUrl: string;
  bedrockUrl: string;
  /** The local console: executions, their graphs, images and the alerts, in a browser. */
  consoleUrl: string;
  /** The default model; a request's `model` may name any of `allowedModelIds`. */
  modelId: string;
  allowedModelIds: readonly string[];
  bucket: string;
  keyPrefix: string;
  tableName: string;
  stateMachineArn: string;
  alertsTopicArn: string;
  /**
   * A queue of the SQS emulator (both SQS protocols, on the SQS and the SNS port) to which the alerts topic delivers:
   * read it to see the failure notifications.
   */
  alertsInboxUrl: string;
  dataDir: string;
  executions: ExecutionStore;
  bedrock: BedrockStandIn;
  /** Executions that were running when the stack last stopped and were started again. */
  resumed: ExecutionRecord[];
  /** Messages the jobs queue held when the stack last stopped, handed to start-job again with their ids. */
  redelivered: number;
  /** Messages the DLQ held when the stack last stopped, put back in it with their ids. */
  deadLetters: number;
  stop: () => Promise<void>;
}

/**
 * The whole pipeline on loopback with no AWS account: emulators, the Bedrock stand-in, the state machine runner
 * behind a Step Functions endpoint, the local API and the SQS poller. The handler modules are the real ones,
 * configured as Lambda configures them (environment variables), with AWS_ENDPOINT_URL_* pointing at the emulators.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const log = options.log ?? ((line: string) => console.log(line));
  const logEntry = (entry: Record<string, unknown>) => log(JSON.stringify(entry));
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  const ports = { ...DEFAULT_PORTS, ...options.ports };
  const modelId = options.modelId ?? DEFAULT_MODEL_ID;
  const allowedModelIds = [
    modelId,
    ...(options.allowedModelIds ?? MODEL_CATALOG.map((model) => model.id)).filter((id) => id !== modelId),
  ];
  const unknownModels = allowedModelIds.filter((id) => !findModel(id));
  if (unknownModels.length > 0) {
    throw new Error(`Unknown model id(s) ${unknownModels.join(", ")}: use ${SUPPORTED_MODEL_IDS.join(", ")}`);
  }
  const bucket = options.bucket ?? "couch-imagegen-local";
  const keyPrefix = options.keyPrefix ?? "local";
  const tableName = "couch-imagegen-jobs";
  const sqsSettings = { batchSize: 10, visibilityTimeoutSeconds: 30, maxReceiveCount: 3, pollers: 2, ...options.sqs };
  const waitingRoom = {
    ...options.waitingRoom,
    bedrockConcurrency: options.waitingRoom?.bedrockConcurrency ?? DEFAULT_BEDROCK_CONCURRENCY,
    visibilityTimeoutSeconds: options.waitingRoom?.visibilityTimeoutSeconds ?? GENERATE_VISIBILITY_TIMEOUT_SECONDS,
    maxReceives: options.waitingRoom?.maxReceives ?? GENERATE_MAX_RECEIVES,
  };

  const closers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  };
  // Ports first: a stack already running here must fail this start before anything touches its data. The console's
  // default port is checked only when it starts (startLocalConsole falls back to a free one).
  const consolePortGiven = options.ports?.console !== undefined;
  await assertPortsFree(consolePortGiven ? ports : { ...ports, console: 0 });
  const dataDirClaim = claimDataDir(dataDir, { fresh: options.fresh });
  closers.push(async () => dataDirClaim.release());
  try {
    const emulators = await startEmulators(dataDir, ports, [QUEUE_NAME, DLQ_NAME], logEntry);
    closers.push(() => closeEmulators(emulators));
    // Stopping runs these closers last first. A generator may be in a Bedrock call of any length: the stack waits for
    // it only once the stand-in (which ends its call) and the Step Functions endpoint (so the job stays RUNNING, to
    // start again with the stack) are closed.
    let generators: SqsPoller | undefined;
    closers.push(async () => generators?.stop());
    const bedrock = await startBedrockStandIn({ ...options.bedrock, port: ports.bedrock, log });
    closers.push(() => bedrock.close());

    const clientConfig = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
    const sqs = new SQSClient({ ...clientConfig, endpoint: emulators.sqs.url });
    const dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: emulators.dynamodb.url });
    const s3 = new S3Client({ ...clientConfig, endpoint: emulators.s3.url, forcePathStyle: true });
    const sns = new SNSClient({ ...clientConfig, endpoint: emulators.sns.url });
    const resources = await createResources(
      { sqs, dynamodb, s3, sns },
      {
        bucket,
        tableName,
        maxReceiveCount: sqsSettings.maxReceiveCount,
        generateMaxReceives: waitingRoom.maxReceives,
      },
      emulators.sns.deliverToQueue,
    );
    pinStagingDirectory(dataDir, bucket, keyPrefix);

    const stepFunctionsPort = await reservePort(ports.stepFunctions);
    closers.push(stepFunctionsPort.close);
    const interpose = options.interpose ?? (async (_service: InterposedService, url: string) => url);
    const pipelineS3Url = await interpose("s3", emulators.s3.url);
    const pipelineDynamodbUrl = await interpose("dynamodb", emulators.dynamodb.url);
    const pipelineStepFunctionsUrl = await interpose("stepFunctions", stepFunctionsPort.url);
    const handlers = await loadHandlers({
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_S3: pipelineS3Url,
      AWS_ENDPOINT_URL_DYNAMODB: pipelineDynamodbUrl,
      AWS_ENDPOINT_URL_SFN: pipelineStepFunctionsUrl,
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrock.url,
      AWS_ENDPOINT_URL_SQS: emulators.sqs.url,
      AWS_ENDPOINT_URL_SNS: emulators.sns.url,
      // s3rver stores a streamed upload with its checksum framing unless checksums are sent only when required.
      AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
      AWS_RESPONSE_CHECKSUM_VALIDATION: "WHEN_REQUIRED",
      STATE_MACHINE_ARN,
      MODEL_ID: modelId,
      ALLOWED_MODEL_IDS: allowedModelIds.join(","),
      BEDROCK_REGION: LOCAL_REGION,
      IMAGE_BUCKET: bucket,
      KEY_PREFIX: keyPrefix,
      JOB_STATUS_TABLE: tableName,
      [GENERATOR_ENV.queueUrl]: resources.generateQueueUrl,
      [GENERATOR_ENV.maxReceives]: String(waitingRoom.maxReceives),
      STATUS_RETENTION_DAYS: "30",
      // The handlers' Powertools lines go to stdout themselves, not through `log`: WARN and above unless the shell
      // sets POWERTOOLS_LOG_LEVEL (INFO shows every job's steps); no embedded-metric-format blobs locally.
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL || "WARN",
      POWERTOOLS_METRICS_DISABLED: "true",
    });

    const written = scaleRetryIntervals(
      localDefinition(FUNCTION_ARN, tableName, resources.generateQueueUrl),
      options.retryTimeScale ?? 1,
    );
    const definition =
      waitingRoom.heartbeatSeconds === undefined
        ? written
        : withHeartbeatSeconds(written, waitingRoom.heartbeatSeconds);
    const createdAt = new Date();
    // The executions' runner and TestState's call the same handlers and clients.
    const runnerServices = {
      dynamodb:
        pipelineDynamodbUrl === emulators.dynamodb.url
          ? dynamodb
          : new DynamoDBClient({ ...clientConfig, endpoint: pipelineDynamodbUrl }),
      sqs,
      functions: {
        [`${FUNCTION_ARN}:validate-prompt`]: handlers.validatePrompt,
        [`${FUNCTION_ARN}:store-image`]: handlers.storeImage,
      },
    };
    const runner = new StateMachineRunner({ definition, ...runnerServices });
    const failureNotices = startFailureNotices({
      sns,
      topicArn: resources.alertsTopicArn,
      stepFunctionsUrl: stepFunctionsPort.url,
      windowMs: options.noticeWindowMs ?? DEFAULT_NOTICE_WINDOW_MS,
      log: logEntry,
    });
    // Closers run last first: this one after the executions' wait below, so their last failures are noticed too.
    closers.push(failureNotices.flush);
    const executions = new ExecutionStore({
      runner,
      stateMachineArn: STATE_MACHINE_ARN,
      directory: `${dataDir}/executions`,
      onFinished: (record) => {
        if (record.status === "SUCCEEDED") return;
        notifyFailure(record, { notices: failureNotices, log: logEntry });
      },
    });
    await stepFunctionsPort.close();
    const stepFunctions = await startStepFunctionsEndpoint(
      executions,
      { arn: STATE_MACHINE_ARN, definition, creationDate: createdAt },
      stepFunctionsPort.port,
      runner.taskTokens,
      runnerServices,
    );
    closers.push(stepFunctions.close);
    // Before the endpoint closes: a generator still answers the tasks of executions that finish in time.
    closers.push(async () => {
      await executions.idle(5000);
    });

    const api = await startLocalApi({
      port: ports.api,
      apiKey: options.apiKey,
      log: logEntry,
      routes: [
        { method: "POST", resource: "/generate-image", handler: handlers.apiHandler },
        { method: "GET", resource: "/jobs/{jobId}", handler: handlers.jobStatus },
      ],
    });
    closers.push(api.close);

    const resumed = executions.resume();
    const deadLetters = emulators.sqs.restore(DLQ_NAME);
    const redelivered = await redeliverJournaled(emulators.sqs, {
      queueName: QUEUE_NAME,
      queueArn: resources.queueArn,
      handler: handlers.sqsHandler,
      log: logEntry,
    });
    emulators.sqs.journal.compact();
    const poller: SqsPoller = startSqsPoller({
      sqs,
      queueUrl: resources.queueUrl,
      queueArn: resources.queueArn,
      handler: handlers.sqsHandler,
      batchSize: sqsSettings.batchSize,
      visibilityTimeoutSeconds: sqsSettings.visibilityTimeoutSeconds,
      pollers: sqsSettings.pollers,
      log: logEntry,
    });
    closers.push(poller.stop);
    // The event source mapping of the waiting room: one message per invocation, bedrockConcurrency at once.
    generators = startSqsPoller({
      sqs,
      queueUrl: resources.generateQueueUrl,
      queueArn: resources.generateQueueArn,
      handler: keepPaidImages(
        waitingRoom.wrapGenerator ? waitingRoom.wrapGenerator(handlers.generator) : handlers.generator,
        { s3, bucket, keyPrefix, restartedJobIds: new Set(resumed.map((record) => record.name)), log: logEntry },
      ),
      batchSize: 1,
      visibilityTimeoutSeconds: waitingRoom.visibilityTimeoutSeconds,
      pollers: 1,
      maxConcurrency: waitingRoom.bedrockConcurrency,
      log: logEntry,
    });
    const takingMessages = generators;
    closers.push(async () => takingMessages.stopReceiving());
    const localConsole = await startLocalConsole({
      port: ports.console ?? 0,
      fallbackToFreePort: !consolePortGiven,
      stepFunctionsUrl: stepFunctions.url,
      apiUrl: api.url,
      apiKey: options.apiKey,
      s3Url: emulators.s3.url,
      sqsUrl: emulators.sqs.url,
      snsUrl: emulators.sns.url,
      alertsTopicArn: resources.alertsTopicArn,
      deliverToQueue: emulators.sns.deliverToQueue,
      stateMachineArn: STATE_MACHINE_ARN,
      defaultModelId: modelId,
      allowedModelIds,
      directory: join(dataDir, "console"),
      log: logEntry,
    });
    closers.push(localConsole.close);

    return {
      apiUrl: api.url,
      stepFunctionsUrl: stepFunctions.url,
      queueUrl: resources.queueUrl,
      dlqUrl: resources.dlqUrl,
      generateQueueUrl: resources.generateQueueUrl,
      generateDlqUrl: resources.generateDlqUrl,
      s3Url: emulators.s3.url,
      dynamodbUrl: emulators.dynamodb.url,
      snsUrl: emulators.sns.url,
      bedrockUrl: bedrock.url,
      consoleUrl: localConsole.url,
      modelId,
      allowedModelIds,
      bucket,
      keyPrefix,
      tableName,
      stateMachineArn: STATE_MACHINE_ARN,
      alertsTopicArn: resources.alertsTopicArn,
      alertsInboxUrl: resources.alertsInboxUrl,
      dataDir,
      executions,
      bedrock,
      resumed,
      redelivered,
      deadLetters,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function closeEmulators(emulators: Emulators): Promise<void> {
  await Promise.allSettled(Object.values(emulators).map((emulator) => emulator.close()));
}

/** A job that did not succeed: an ERROR line now, and its notice with its window's batch (local/failure-notices.ts). */
function notifyFailure(
  record: ExecutionRecord,
  deps: { notices: LocalFailureNotices; log: (entry: Record<string, unknown>) => void },
): void {
  deps.log({
    level: "ERROR",
    message: `Job ${record.name} ${record.status}`,
    jobId: record.name,
    status: record.status,
    error: record.error,
    cause: record.cause,
    executionArn: record.executionArn,
  });
  deps.notices.add(record);
}
