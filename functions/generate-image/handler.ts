import { BedrockRuntimeClient } from "@aws-sdk/client-bedrock-runtime";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { optionalEnv, requireEnv } from "../shared/environment";
import { createFunctionLogger, invocationLogger } from "../shared/logger";
import { createPipelineMetrics } from "../shared/metrics";
import { GENERATE_MAX_RECEIVES, GENERATOR_ENV } from "../shared/waiting-room";
import { generateFromQueue } from "./generator";

const deps = {
  // One SDK attempt per Bedrock call: a throttle goes back to the waiting room, other errors to the state machine.
  bedrock: new BedrockRuntimeClient({ region: requireEnv("BEDROCK_REGION"), maxAttempts: 1 }),
  s3: new S3Client({}),
  sfn: new SFNClient({}),
  sqs: new SQSClient({}),
  dynamodb: new DynamoDBClient({}),
  bucket: requireEnv("IMAGE_BUCKET"),
  keyPrefix: optionalEnv("KEY_PREFIX", ""),
  queueUrl: requireEnv(GENERATOR_ENV.queueUrl),
  tableName: requireEnv(GENERATOR_ENV.table),
  maxReceives: Number(optionalEnv(GENERATOR_ENV.maxReceives, String(GENERATE_MAX_RECEIVES))),
  metrics: createPipelineMetrics(),
};
const logger = createFunctionLogger("generate-image");

/** The generate queue's event source: see generator.ts. */
export async function handler(event: SQSEvent, context?: Context): Promise<SQSBatchResponse> {
  return generateFromQueue(event, { ...deps, log: invocationLogger(logger, context) });
}
