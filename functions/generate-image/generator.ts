import { ConditionalCheckFailedException, type DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  type SFNClient,
} from "@aws-sdk/client-sfn";
import { ChangeMessageVisibilityCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { errorMessage, errorName, httpStatusOf, isMissingObject } from "../shared/aws-errors";
import { outputFormatOf, stagingKey } from "../shared/image-keys";
import { failureAttributes, type PipelineLogger, SILENT_LOGGER } from "../shared/logger";
import { excerpt } from "../shared/quoted-text";
import { type GenerateMessage, parseGenerateMessage, THROTTLE_DELAY_SECONDS } from "../shared/waiting-room";
import { type GenerateImageDeps, type GenerateImageResult, generateImage } from "./generate-image";

export interface GeneratorDeps extends GenerateImageDeps {
  sfn: SFNClient;
  sqs: SQSClient;
  dynamodb: DynamoDBClient;
  /** The generate queue, for ChangeMessageVisibility. */
  queueUrl: string;
  tableName: string;
  /** The generate queue's maxReceiveCount: on this receive a throttled message fails its task instead. */
  maxReceives: number;
  /** @default () => new Date() */
  now?: () => Date;
}

/** What became of one message: `done` is deleted by the event source, `later` comes back after its visibility delay. */
type Outcome = "done" | "later";

/** Step Functions' answers for a token whose task is over (it timed out, failed, or its execution ended). */
const TASK_OVER = new Set(["TaskDoesNotExist", "TaskTimedOut", "InvalidToken"]);

/** Step Functions' limits on SendTaskFailure's `error` and `cause`. */
const MAX_ERROR_LENGTH = 256;
const MAX_CAUSE_LENGTH = 32_768;

/**
 * The generator: the consumer of the generate queue, one Bedrock call per message, at most `bedrockConcurrency`
 * at once (the event source's MaximumConcurrency). For each message, in order:
 * 1. a heartbeat on its task token: a token whose task is over (a redelivered message of a job that ended, or of an
 *    execution the local stack restarted) is dropped before anything is paid for;
 * 2. at the same time, the staging object: a redelivered message whose image is already staged answers with it,
 *    without calling Bedrock a second time;
 * 3. the status record says RUNNING (it said WAITING since RecordRunning), written while Bedrock works;
 * 4. Bedrock: a throttle puts the message back for THROTTLE_DELAY_SECONDS and the slot takes the next one; on the queue's last receive it fails the task instead. Any other error fails the task by its name, for the
 *    state machine's Retry and Catch, as the Lambda task's error did;
 * 5. SendTaskSuccess with the staged image's reference.
 * Messages of a batch run one after another: each is one Bedrock slot.
 */
export async function generateFromQueue(event: SQSEvent, deps: GeneratorDeps): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse["batchItemFailures"] = [];
  for (const record of event.Records) {
    if ((await handleMessage(record, deps)) === "later") batchItemFailures.push({ itemIdentifier: record.messageId });
  }
  return { batchItemFailures };
}

async function handleMessage(record: SQSRecord, deps: GeneratorDeps): Promise<Outcome> {
  const log = deps.log ?? SILENT_LOGGER;
  const receiveCount = receiveCountOf(record);
  const message = parseGenerateMessage(record.body);
  if (!message) {
    // Only Step Functions writes to this queue; a body it did not write has no token to answer.
    log.error("Not a generate message; dropped", { messageId: record.messageId, body: excerpt(record.body, 200) });
    return "done";
  }
  log.appendKeys({ jobId: message.jobId });
  const later = (reason: string, error?: unknown) => putBack(record, deps, log, reason, error);

  // The heartbeat and the staged-image check ask different services: both at once, one round trip.
  const [heartbeat, staged] = await Promise.allSettled([
    deps.sfn.send(new SendTaskHeartbeatCommand({ taskToken: message.taskToken })),
    stagedImage(message, deps),
  ]);
  if (heartbeat.status === "rejected") {
    if (TASK_OVER.has(errorName(heartbeat.reason))) {
      log.info("The job's task is over; message dropped", { receiveCount, ...failureAttributes(heartbeat.reason) });
      return "done";
    }
    return later("Could not send the heartbeat", heartbeat.reason);
  }
  if (staged.status === "rejected") return later("Could not check for a staged image", staged.reason);

  let result = staged.value;
  if (result) {
    log.info("Image already staged by an earlier receive; Bedrock not called again", { receiveCount });
  } else {
    // The RUNNING write is for people reading the status: it runs beside the Bedrock call, not before it.
    const marked = markRunning(message.jobId, deps, log);
    try {
      result = await generateImage({ jobId: message.jobId, request: message.request }, deps);
    } catch (error) {
      await marked;
      if (errorName(error) === "ThrottlingException" && receiveCount < deps.maxReceives) {
        return later("Bedrock throttled");
      }
      const failure =
        errorName(error) === "ThrottlingException"
          ? {
              error: "ThrottlingException",
              cause: `Bedrock throttled this job on all ${deps.maxReceives} receives of its generate message: ${errorMessage(error)}`,
            }
          : { error: errorName(error), cause: errorMessage(error) };
      return answer(message, deps, log, failure, later);
    }
    await marked;
  }
  return answer(message, deps, log, result, later);
}

/** The image a previous receive staged, as GenerateImage returns it; undefined when there is none. */
async function stagedImage(message: GenerateMessage, deps: GeneratorDeps): Promise<GenerateImageResult | undefined> {
  const { request } = message;
  const key = stagingKey(deps.keyPrefix, message.jobId, outputFormatOf(request.outputFormat));
  try {
    const head = await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key }));
    const seed = Number(head.Metadata?.seed);
    return {
      bucket: deps.bucket,
      stagingKey: key,
      bytes: head.ContentLength ?? 0,
      seed: Number.isFinite(seed) ? seed : request.seed,
      modelId: request.modelId,
      aspectRatio: request.aspectRatio,
      outputFormat: request.outputFormat,
    };
  } catch (error) {
    // Without s3:ListBucket (the generator has GetObject on the staging keys only) S3 answers a missing key with 403.
    if (isMissingObject(error) || httpStatusOf(error) === 403) return undefined;
    throw error;
  }
}

/**
 * WAITING → RUNNING, keeping the first time the job left the waiting room, and counting the Bedrock calls made for the
 * job (`bedrockCalls`: more than one means throttles put it back, or the state machine retried it). The status is
 * shown, not relied on.
 */
async function markRunning(jobId: string, deps: GeneratorDeps, log: PipelineLogger): Promise<void> {
  const now = (deps.now?.() ?? new Date()).toISOString();
  try {
    await deps.dynamodb.send(
      new UpdateItemCommand({
        TableName: deps.tableName,
        Key: { jobId: { S: jobId } },
        UpdateExpression:
          "SET #status = :running, #generatingSince = if_not_exists(#generatingSince, :now), #updatedAt = :now ADD #bedrockCalls :one",
        // Never over a final status, and never creates a record: RecordRunning wrote it before the message was sent.
        ConditionExpression: "#status IN (:waiting, :running)",
        ExpressionAttributeNames: {
          "#status": "status",
          "#generatingSince": "generatingSince",
          "#updatedAt": "updatedAt",
          "#bedrockCalls": "bedrockCalls",
        },
        ExpressionAttributeValues: {
          ":running": { S: "RUNNING" },
          ":waiting": { S: "WAITING" },
          ":now": { S: now },
          ":one": { N: "1" },
        },
      }),
    );
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException)
      log.info("Status not set to RUNNING", failureAttributes(error));
    else log.warn("Status not set to RUNNING", failureAttributes(error));
  }
}

/** SendTaskSuccess with the image's reference, or SendTaskFailure with the error the state machine matches. */
async function answer(
  message: GenerateMessage,
  deps: GeneratorDeps,
  log: PipelineLogger,
  outcome: GenerateImageResult | { error: string; cause: string },
  later: (reason: string, error?: unknown) => Promise<Outcome>,
): Promise<Outcome> {
  const succeeded = !("error" in outcome);
  try {
    if (succeeded) {
      await deps.sfn.send(
        new SendTaskSuccessCommand({ taskToken: message.taskToken, output: JSON.stringify(outcome) }),
      );
    } else {
      await deps.sfn.send(
        new SendTaskFailureCommand({
          taskToken: message.taskToken,
          error: outcome.error.slice(0, MAX_ERROR_LENGTH),
          cause: outcome.cause.slice(0, MAX_CAUSE_LENGTH),
        }),
      );
    }
  } catch (error) {
    if (TASK_OVER.has(errorName(error))) {
      log.warn("The job's task ended before the generator answered", failureAttributes(error));
      return "done";
    }
    // A staged image makes the next receive answer without a second Bedrock call; a failure is worked out again.
    return later("Could not answer Step Functions", error);
  }
  if (!succeeded) log.info("Task failed", { error: outcome.error });
  return "done";
}

/** Puts the message back, visible again after THROTTLE_DELAY_SECONDS rather than the queue's visibility timeout. */
async function putBack(
  record: SQSRecord,
  deps: GeneratorDeps,
  log: PipelineLogger,
  reason: string,
  error?: unknown,
): Promise<Outcome> {
  const receiveCount = receiveCountOf(record);
  const delaySeconds = THROTTLE_DELAY_SECONDS;
  const line = `${reason}; the message comes back in ${delaySeconds} s`;
  if (error === undefined) log.info(line, { receiveCount });
  else log.warn(line, { receiveCount, ...failureAttributes(error) });
  try {
    await deps.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: deps.queueUrl,
        ReceiptHandle: record.receiptHandle,
        VisibilityTimeout: delaySeconds,
      }),
    );
  } catch (changeError) {
    // It comes back after the queue's visibility timeout instead.
    log.warn("Could not shorten the message's visibility", failureAttributes(changeError));
  }
  return "later";
}

function receiveCountOf(record: SQSRecord): number {
  return Number(record.attributes.ApproximateReceiveCount) || 1;
}
