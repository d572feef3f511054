import { SFNClient } from "@aws-sdk/client-sfn";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { requireEnv } from "../shared/environment";
import { createFunctionLogger, invocationLogger } from "../shared/logger";
import { createPipelineMetrics } from "../shared/metrics";
import { modelChoiceFromEnv } from "../shared/model-choice-env";
import { handleGenerateImageRequest } from "./api-adapter";
import { handleSqsBatch } from "./sqs-adapter";

const sfn = new SFNClient({});
const stateMachineArn = requireEnv("STATE_MACHINE_ARN");
const models = modelChoiceFromEnv();
const logger = createFunctionLogger("start-job");
const metrics = createPipelineMetrics();

/** POST /generate-image (API Gateway proxy integration). */
export async function apiHandler(event: APIGatewayProxyEvent, context?: Context): Promise<APIGatewayProxyResult> {
  return handleGenerateImageRequest(event, {
    sfn,
    stateMachineArn,
    models,
    metrics,
    log: invocationLogger(logger, context),
  });
}

/** SQS event source mapping with ReportBatchItemFailures. */
export async function sqsHandler(event: SQSEvent, context?: Context): Promise<SQSBatchResponse> {
  return handleSqsBatch(event, { sfn, stateMachineArn, log: invocationLogger(logger, context) });
}
