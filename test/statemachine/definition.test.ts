// Checks the ASL file itself: valid Amazon States Language (asl-validator), JSONPath only, and the rules of
// docs/ARCHITECTURE.md that a run cannot show on its own: every Retry has FULL jitter and a cap, every task and the machine
// has a timeout, the retry table's errors and schedules. It cannot prove AWS accepts the file (synth does not call AWS).
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
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
  TimeoutSeconds?: number;
  Retry?: Retrier[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
  Next?: string;
}

const definition = loadDefinition({
  ValidatePromptFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:validate-prompt",
  GenerateImageFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:generate-image",
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
    expect(lambdaTasks.map(([name]) => name)).toEqual(["ValidatePrompt", "GenerateImage", "StoreImage"]);
    for (const [name] of lambdaTasks) {
      for (const error of [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
      ]) {
        // GenerateImage waits longer on its own throttling: see the next test.
        if (name === "GenerateImage" && error === "Lambda.TooManyRequestsException") continue;
        expect(retrierFor(name, error), `${name} ${error}`).toMatchObject({
          IntervalSeconds: 2,
          BackoffRate: 2,
          MaxAttempts: 6,
        });
      }
    }
  });

  it("lets GenerateImage wait out its reserved-concurrency throttling (a burst queues, it does not fail)", () => {
    const retrier = retrierFor("GenerateImage", "Lambda.TooManyRequestsException");
    expect(retrier).toMatchObject({ IntervalSeconds: 5, BackoffRate: 1.5, MaxDelaySeconds: 60, MaxAttempts: 20 });
    // The first matching retrier applies: this one must come before the general Lambda retrier.
    expect(definition.States.GenerateImage?.Retry?.[0]).toBe(retrier);
    // Worst case: 20 capped waits stay well inside the machine's timeout.
    expect((retrier?.MaxAttempts ?? 0) * (retrier?.MaxDelaySeconds ?? 0)).toBeLessThan(definition.TimeoutSeconds ?? 0);
  });

  it("retries Bedrock's transient errors on GenerateImage: 3 s x2, max 60 s, 8 attempts", () => {
    for (const error of [
      "ThrottlingException",
      "ModelTimeoutException",
      "ServiceUnavailableException",
      "ModelNotReadyException",
    ]) {
      expect(retrierFor("GenerateImage", error), error).toMatchObject({
        IntervalSeconds: 3,
        BackoffRate: 2,
        MaxDelaySeconds: 60,
        MaxAttempts: 8,
      });
    }
    expect(retrierFor("GenerateImage", "ContentBlocked")).toBeUndefined();
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
      const parameters = (definition.States[name] as { Parameters?: Record<string, unknown> }).Parameters;
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
