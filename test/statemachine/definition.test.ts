// Checks the ASL file itself: valid Amazon States Language (asl-validator), JSONPath only, and the rules of
// docs/ARCHITECTURE.md that a run cannot show on its own: every Retry has FULL jitter and a cap, every task and the machine
// has a timeout, the retry table's errors and schedules, and the waiting room's callback task (its queue, token,
// heartbeat and timeout against the machine's and the generate queue's). It cannot prove AWS accepts the file (synth
// does not call AWS).
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { GENERATE_VISIBILITY_TIMEOUT_SECONDS } from "../../functions/shared/waiting-room";
import { loadDefinition } from "../../local/state-machine-definition";

const validate = createRequire(import.meta.url)("asl-validator") as (definition: unknown) => {
  isValid: boolean;
  errorsText: () => string;
};

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds: number;
  BackoffRate: number;
  MaxAttempts: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}
interface State {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  ResultSelector?: Record<string, string>;
  TimeoutSeconds?: number;
  HeartbeatSeconds?: number;
  Retry?: Retrier[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
  Next?: string;
}

const GENERATE_QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/couch-imagegen-generate";
const definition = loadDefinition({
  ValidatePromptFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:validate-prompt",
  GenerateQueueUrl: GENERATE_QUEUE_URL,
  StoreImageFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:store-image",
  JobStatusTableName: "JobStatus",
}) as { StartAt: string; TimeoutSeconds?: number; QueryLanguage?: string; States: Record<string, State> };
const states = Object.entries(definition.States);
const tasks = states.filter(([, state]) => state.Type === "Task");

function retrierFor(stateName: string, error: string): Retrier | undefined {
  return definition.States[stateName]?.Retry?.find((retrier) => retrier.ErrorEquals.includes(error));
}

describe("image-pipeline.asl.json", () => {
  it("is valid Amazon States Language", () => {
    const result = validate(definition);
    expect(result.errorsText()).toBe("");
    expect(result.isValid).toBe(true);
  });

  it("uses JSONPath, which the local runner executes (it ignores JSONata)", () => {
    expect(definition.QueryLanguage ?? "JSONPath").toBe("JSONPath");
  });

  it("has a machine timeout and a timeout on every task", () => {
    expect(definition.TimeoutSeconds).toBeGreaterThan(0);
    for (const [name, state] of tasks) {
      expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
    }
  });

  it("gives every Retry FULL jitter and a MaxDelaySeconds", () => {
    const retriers = tasks.flatMap(([, state]) => state.Retry ?? []);
    expect(retriers.length).toBeGreaterThanOrEqual(tasks.length);
    for (const retrier of retriers) {
      expect(retrier.JitterStrategy).toBe("FULL");
      expect(retrier.MaxDelaySeconds).toBeGreaterThan(0);
    }
  });

  it("retries Lambda service errors on every Lambda task: 2 s x2, 6 attempts", () => {
    const lambdaTasks = tasks.filter(([, state]) => state.Resource === "arn:aws:states:::lambda:invoke");
    expect(lambdaTasks.map(([name]) => name)).toEqual(["ValidatePrompt", "StoreImage"]);
    for (const [name] of lambdaTasks) {
      for (const error of [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
      ]) {
        expect(retrierFor(name, error), `${name} ${error}`).toMatchObject({
          IntervalSeconds: 2,
          BackoffRate: 2,
          MaxAttempts: 6,
        });
      }
    }
  });

  it("makes GenerateImage a callback task on the generate queue, sending the task token, the jobId and the request", () => {
    const generate = definition.States.GenerateImage;
    expect(generate?.Resource).toBe("arn:aws:states:::sqs:sendMessage.waitForTaskToken");
    expect(generate?.Parameters).toEqual({
      QueueUrl: GENERATE_QUEUE_URL,
      MessageBody: {
        "taskToken.$": "$$.Task.Token",
        "jobId.$": "$$.Execution.Name",
        "request.$": "$.validated.request",
      },
    });
    // The generator's SendTaskSuccess output is the result itself: no Lambda `Payload` around it.
    expect(Object.values(generate?.ResultSelector ?? {})).not.toContainEqual(expect.stringContaining("Payload"));
    expect(generate?.ResultSelector).toMatchObject({ "stagingKey.$": "$.stagingKey", "seed.$": "$.seed" });
  });

  it("bounds GenerateImage's wait: a heartbeat longer than the queue's visibility timeout, a timeout inside the machine's", () => {
    const generate = definition.States.GenerateImage;
    expect(generate?.HeartbeatSeconds).toBe(1200);
    expect(generate?.TimeoutSeconds).toBe(3300);
    // A message whose generator died comes back after the visibility timeout; its next receive's heartbeat must
    // come before the task is given up.
    expect(generate?.HeartbeatSeconds).toBeGreaterThan(GENERATE_VISIBILITY_TIMEOUT_SECONDS);
    expect(generate?.HeartbeatSeconds).toBeLessThan(generate?.TimeoutSeconds ?? 0);
    // The task times out (and RecordFailed writes why) before the execution does.
    expect(generate?.TimeoutSeconds).toBeLessThan(definition.TimeoutSeconds ?? 0);
    expect(definition.TimeoutSeconds).toBe(3600);
  });

  it("retries a failed send to the generate queue on GenerateImage: 2 s x2, 6 attempts", () => {
    for (const error of ["SQS.SdkClientException", "SQS.AmazonSQSException"]) {
      expect(retrierFor("GenerateImage", error), error).toMatchObject({
        IntervalSeconds: 2,
        BackoffRate: 2,
        MaxAttempts: 6,
      });
    }
  });

  it("retries Bedrock's transient errors on GenerateImage: 3 s x2, max 60 s, 8 attempts", () => {
    for (const error of ["ModelTimeoutException", "ServiceUnavailableException", "ModelNotReadyException"]) {
      expect(retrierFor("GenerateImage", error), error).toMatchObject({
        IntervalSeconds: 3,
        BackoffRate: 2,
        MaxDelaySeconds: 60,
        MaxAttempts: 8,
      });
    }
    expect(retrierFor("GenerateImage", "ContentBlocked")).toBeUndefined();
  });

  it("leaves Bedrock throttling to the waiting room: no GenerateImage retrier matches ThrottlingException", () => {
    const errors = definition.States.GenerateImage?.Retry?.flatMap((retrier) => retrier.ErrorEquals) ?? [];
    expect(errors).not.toContain("ThrottlingException");
    expect(errors).not.toContain("States.ALL");
    expect(errors).not.toContain("States.TaskFailed");
    expect(errors).not.toContain("Lambda.TooManyRequestsException");
  });

  it("records WAITING, with waitingSince, in RecordRunning: the job's next stop is the waiting room", () => {
    const parameters = definition.States.RecordRunning?.Parameters;
    expect(parameters?.UpdateExpression).toContain("#waitingSince = :updatedAt");
    expect(parameters).toMatchObject({
      ExpressionAttributeNames: { "#status": "status", "#waitingSince": "waitingSince" },
      ExpressionAttributeValues: { ":status": { S: "WAITING" }, ":updatedAt": { "S.$": "$$.State.EnteredTime" } },
    });
  });

  it("retries transient S3 errors on StoreImage: 1 s x2, 6 attempts", () => {
    expect(retrierFor("StoreImage", "S3TransientError")).toMatchObject({
      IntervalSeconds: 1,
      BackoffRate: 2,
      MaxAttempts: 6,
    });
  });

  it("writes status through the direct DynamoDB integration, retried 1 s x2, 5 attempts", () => {
    const records = states.filter(([name]) => name.startsWith("Record"));
    expect(records.map(([name]) => name).sort()).toEqual([
      "RecordFailed",
      "RecordRejected",
      "RecordRunning",
      "RecordSucceeded",
    ]);
    for (const [name, state] of records) {
      expect(state.Resource, name).toBe("arn:aws:states:::dynamodb:updateItem");
      for (const error of [
        "DynamoDB.ProvisionedThroughputExceededException",
        "DynamoDB.ThrottlingException",
        "DynamoDB.InternalServerError",
      ]) {
        expect(retrierFor(name, error), `${name} ${error}`).toMatchObject({
          IntervalSeconds: 1,
          BackoffRate: 2,
          MaxAttempts: 5,
        });
      }
    }
  });

  it("writes the caller from the input's pipeline key on every status write that can create the record", () => {
    for (const name of ["RecordRunning", "RecordRejected", "RecordFailed"]) {
      const parameters = definition.States[name]?.Parameters;
      expect(parameters?.UpdateExpression, name).toContain("#caller = :caller");
      expect(parameters, name).toMatchObject({
        ExpressionAttributeNames: { "#caller": "caller" },
        ExpressionAttributeValues: { ":caller": { "S.$": "$.pipeline.caller" } },
      });
    }
  });

  it("routes InvalidPrompt and ContentBlocked to RecordRejected and every other failure of the main path to RecordFailed", () => {
    expect(definition.States.ValidatePrompt?.Catch?.[0]).toMatchObject({
      ErrorEquals: ["InvalidPrompt"],
      Next: "RecordRejected",
    });
    // Before the catch-all: Catch entries are tried in order.
    expect(definition.States.GenerateImage?.Catch?.[0]).toMatchObject({
      ErrorEquals: ["ContentBlocked"],
      Next: "RecordRejected",
    });
    for (const name of ["ValidatePrompt", "RecordRunning", "GenerateImage", "StoreImage", "RecordSucceeded"]) {
      const catchAll = definition.States[name]?.Catch?.find((catcher) => catcher.ErrorEquals.includes("States.ALL"));
      expect(catchAll?.Next, name).toBe("RecordFailed");
    }
    expect(definition.States.RecordRejected?.Next).toBe("Rejected");
    expect(definition.States.RecordFailed?.Next).toBe("Failed");
    // A rejection is not a failed execution: no alarm, no failure email.
    expect(definition.States.Rejected?.Type).toBe("Succeed");
    expect(definition.States.Failed?.Type).toBe("Fail");
  });
});
