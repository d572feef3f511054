import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import { requireEnv } from "../shared/environment";
import { createFunctionLogger, invocationLogger } from "../shared/logger";
import { handleJobStatusRequest } from "./api-adapter";

const deps = {
  documents: DynamoDBDocumentClient.from(new DynamoDBClient({})),
  sfn: new SFNClient({}),
  s3: new S3Client({}),
  tableName: requireEnv("JOB_STATUS_TABLE"),
  stateMachineArn: requireEnv("STATE_MACHINE_ARN"),
};
const logger = createFunctionLogger("job-status");

export async function handler(event: APIGatewayProxyEvent, context?: Context): Promise<APIGatewayProxyResult> {
  return handleJobStatusRequest(event, { ...deps, log: invocationLogger(logger, context) });
}
