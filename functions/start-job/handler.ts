import { SFNClient } from "@aws-sdk/client-sfn";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { requireEnv } from "../shared/environment";
import { modelChoiceFromEnv } from "../shared/model-choice-env";
import { handleGenerateImageRequest } from "./api-adapter";
import { handleSqsBatch } from "./sqs-adapter";

const sfn = new SFNClient({});
const stateMachineArn = requireEnv("STATE_MACHINE_ARN");
const models = modelChoiceFromEnv();
const log = (entry: Record<string, unknown>) => console.log(JSON.stringify(entry));

/** POST /generate-image (API Gateway proxy integration). */
export async function apiHandler(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  return handleGenerateImageRequest(event, { sfn, stateMachineArn, models, log });
}

/** SQS event source mapping with ReportBatchItemFailures. */
export async function sqsHandler(event: SQSEvent): Promise<SQSBatchResponse> {
  return handleSqsBatch(event, { sfn, stateMachineArn, log });
}
