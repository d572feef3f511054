import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { QueueSettings } from "./config";
import { CliError, ExitCode, usageError } from "./exit-codes";
import type { ImageRequest } from "./image-request";

export interface EnqueuedMessage {
  messageId: string;
  /** The job the message runs as (functions/start-job/sqs-adapter.ts: jobId = message id). */
  jobId: string;
  queueUrl: string;
}

/** The start-job SQS adapter names the execution after the message id, so a redelivery never runs twice. */
export function jobIdForMessage(messageId: string): string {
  return messageId;
}

/**
 * Puts one image request on the queue. The body is JSON `{"prompt": ...}` (the SQS adapter also reads plain text,
 * but a plain-text prompt that happens to be JSON would be misread).
 */
export async function enqueueImageRequest(settings: QueueSettings, request: ImageRequest): Promise<EnqueuedMessage> {
  // The SDK's notice that its 2027 releases need Node 22 is for this project's maintainers, not for each enqueue.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const sqs = new SQSClient({
    ...(settings.region ? { region: settings.region } : {}),
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
  });
  try {
    const sent = await sqs.send(
      new SendMessageCommand({ QueueUrl: settings.queueUrl, MessageBody: JSON.stringify(request) }),
    );
    const messageId = sent.MessageId ?? "";
    return { messageId, jobId: jobIdForMessage(messageId), queueUrl: settings.queueUrl };
  } catch (error) {
    throw sqsError(error, settings);
  } finally {
    sqs.destroy();
  }
}

/** The SDK's errors as something to act on: which setting to fix, or whether a retry may help. */
export function sqsError(error: unknown, settings: QueueSettings): CliError {
  if (!(error instanceof Error)) return new CliError(`SQS failed: ${String(error)}`, ExitCode.Unexpected);
  const where = settings.local ? "(--local)" : "(SQS_QUEUE_URL or --queue-url)";
  if (error.name === "CredentialsProviderError") {
    return usageError(
      "No AWS credentials for SQS: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (or use --local for the local stack)",
    );
  }
  if (/region is missing/i.test(error.message)) {
    return usageError(
      `No AWS region for the queue ${settings.queueUrl}: set AWS_REGION (the queue URL does not name one)`,
    );
  }
  const metadata = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
  const status = metadata?.httpStatusCode;
  if (error.name === "QueueDoesNotExist" || error.name === "AWS.SimpleQueueService.NonExistentQueue") {
    return new CliError(`The queue ${settings.queueUrl} ${where} does not exist`, ExitCode.Refused, { status });
  }
  const network = (error as { code?: string }).code;
  if (status === undefined && network) {
    const hint = settings.local ? "\nIs the local stack running? Start it with: npm start" : "";
    return new CliError(
      `Could not reach SQS at ${settings.endpoint ?? settings.queueUrl} (${network})${hint}`,
      ExitCode.Unavailable,
      {},
      { cause: error },
    );
  }
  const fault = (error as { $fault?: string }).$fault;
  const refused = fault !== "server" && status !== undefined && status < 500 && status !== 429;
  return new CliError(
    `SQS ${refused ? "refused the message" : "failed"} ${where}: ${error.name}${status ? ` ${status}` : ""}: ${error.message}`,
    refused ? ExitCode.Refused : ExitCode.Unavailable,
    { status, error: error.name },
    { cause: error },
  );
}
