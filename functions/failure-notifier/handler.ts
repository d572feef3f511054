import { SNSClient } from "@aws-sdk/client-sns";
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { optionalEnv, requireEnv } from "../shared/environment";
import { FAILURE_NOTICE_WINDOW_SECONDS, FAILURE_NOTIFIER_ENV } from "../shared/failure-notices";
import { createFunctionLogger, invocationLogger } from "../shared/logger";
import { awsWhereToLook } from "./failure-notifier";
import { handleFailureEventBatch } from "./sqs-adapter";

const sns = new SNSClient({});
const topicArn = requireEnv(FAILURE_NOTIFIER_ENV.topicArn);
const whereToLook = awsWhereToLook({
  region: requireEnv("AWS_REGION"),
  dashboardName: optionalEnv(FAILURE_NOTIFIER_ENV.dashboardName, ""),
});
const logger = createFunctionLogger("failure-notifier");

/** The notice queue's event source mapping, with a batching window and ReportBatchItemFailures. */
export async function handler(event: SQSEvent, context?: Context): Promise<SQSBatchResponse> {
  return handleFailureEventBatch(event, {
    sns,
    topicArn,
    whereToLook,
    windowSeconds: FAILURE_NOTICE_WINDOW_SECONDS,
    log: invocationLogger(logger, context),
  });
}
