import { BedrockRuntimeClient } from "@aws-sdk/client-bedrock-runtime";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { generateImage } from "../../functions/generate-image/generate-image";
import { DEFAULT_MODEL_ID, MODEL_CATALOG } from "../../functions/shared/models/catalog";
import { storeImage } from "../../functions/store-image/store-image";
import { validatePromptStep } from "../../functions/validate-prompt/validate-prompt";
import { localDefinition, scaleRetryIntervals } from "../../local/state-machine-definition";
import {
  type EventLog,
  type LocalFunction,
  StateMachineRunner,
  withReservedConcurrency,
} from "../../local/state-machine-runner";

export const MODEL_ID = DEFAULT_MODEL_ID;
/** Every catalog model may be named in a request, as a deployment with them all in allowedModelIds. */
export const MODELS = { defaultModelId: MODEL_ID, allowedModelIds: MODEL_CATALOG.map((model) => model.id) };
export const BUCKET = "couch-images";
export const KEY_PREFIX = "candidate-7";
export const TABLE = "JobStatus";
export const STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:ImagePipeline";
const FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function";

/**
 * The real ASL file with retry intervals scaled by 1/1000 (3 s → 3 ms, same backoff, attempts and jitter),
 * run with the real step cores; the SDK clients they are given are the ones the test mocks.
 */
export function pipelineRunner(
  overrides: Partial<Record<"validate" | "generate" | "store", LocalFunction>> = {},
  generateConcurrency?: number,
) {
  const s3 = new S3Client({ region: "eu-west-1" });
  const bedrock = new BedrockRuntimeClient({ region: "us-east-1" });
  const dynamodb = new DynamoDBClient({ region: "eu-west-1" });
  const definition = scaleRetryIntervals(localDefinition(FUNCTION_ARN, TABLE), 0.001);
  const functions: Record<string, LocalFunction> = {
    [`${FUNCTION_ARN}:validate-prompt`]:
      overrides.validate ??
      (async (event) => validatePromptStep(event as never, { models: MODELS, retentionDays: 30 })),
    [`${FUNCTION_ARN}:generate-image`]: withReservedConcurrency(
      overrides.generate ??
        ((event) => generateImage(event as never, { bedrock, s3, bucket: BUCKET, keyPrefix: KEY_PREFIX })),
      generateConcurrency,
    ),
    [`${FUNCTION_ARN}:store-image`]:
      overrides.store ?? ((event) => storeImage(event as never, { s3, bucket: BUCKET, keyPrefix: KEY_PREFIX })),
  };
  return new StateMachineRunner({ definition, functions, dynamodb });
}

/** The caller start-job records for an API without keys; a test names another in `input.pipeline`. */
export const ANONYMOUS_PIPELINE = { caller: "anonymous" };

/**
 * Runs one execution named `jobId` to its end and returns the outcome with the full event log. The input is what
 * start-job would pass: the request fields, where and when, and the pipeline's own `pipeline` key.
 */
export async function runJob(runner: StateMachineRunner, jobId: string, input: Record<string, unknown>) {
  const execution = runner.start(
    { jobId, source: "api", requestedAt: "2026-11-23T12:00:00.000Z", pipeline: ANONYMOUS_PIPELINE, ...input },
    {
      name: jobId,
      executionArn: `${STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")}:${jobId}`,
      stateMachineArn: STATE_MACHINE_ARN,
    },
  );
  const outcome = await execution.outcome;
  return { outcome, events: execution.events };
}

/** The names of the states entered, in order (a retried state appears once per entry, as in the console). */
export function statesEntered(events: EventLog[]): string[] {
  return events.filter((event) => event.type === "StateEntered").map((event) => event.state?.name ?? "");
}

export function retriesOf(events: EventLog[], stateName: string): EventLog[] {
  return events.filter((event) => event.type === "StateRetried" && event.state?.name === stateName);
}
