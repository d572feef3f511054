// Verifies loadConfig (infra/config.ts): defaults (execution logs at ERROR without execution data among them), how
// `-c key=value` strings and cdk.json values are parsed, and that every invalid or missing parameter is rejected with a
// message saying what to change, a renamed one (generateConcurrency → bedrockConcurrency) with the reason.
// It cannot verify that a value works in a real account (e.g. that the model is enabled in the Bedrock console).
import { describe, expect, it } from "vitest";
import { CONFIG_DEFAULTS, ConfigError, GENERATE_TASK_SECONDS, loadConfig } from "../../infra/config";

const alertEmail = "ops@example.com";

function problemsOf(context: Record<string, unknown>): readonly string[] {
  try {
    loadConfig(context);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("loadConfig accepted the context");
}

describe("loadConfig", () => {
  it("applies the documented defaults when only alertEmail is given", () => {
    expect(loadConfig({ alertEmail })).toEqual({
      alertEmail,
      bucketName: undefined,
      keyPrefix: "",
      modelId: "stability.stable-image-core-v1:1",
      allowedModelIds: ["stability.stable-image-core-v1:1"],
      bedrockRegion: "us-west-2",
      queueAgeAlarmSeconds: 120,
      bedrockConcurrency: 5,
      waitingRoomAgeAlarmSeconds: 300,
      apiKeyRequired: true,
      throttlingRateLimit: 10,
      throttlingBurstLimit: 20,
      dailyRequestQuota: 5000,
      statusRetentionDays: 30,
      imageRetentionDays: 37,
      stateMachineLogLevel: "ERROR",
      stateMachineLogExecutionData: false,
      bedrockThrottleAlarmPercent: 20,
    });
  });

  it("parses the strings `-c key=value` passes", () => {
    const config = loadConfig({
      alertEmail,
      bucketName: "pgr301-couch-explorers",
      keyPrefix: "/candidates/alice/",
      modelId: "amazon.titan-image-generator-v2:0",
      bedrockRegion: "us-west-2",
      queueAgeAlarmSeconds: "300",
      bedrockConcurrency: "2",
      waitingRoomAgeAlarmSeconds: "900",
      apiKeyRequired: "FALSE",
      throttlingRateLimit: "2.5",
      throttlingBurstLimit: "5",
      statusRetentionDays: "7",
      stateMachineLogLevel: "all",
      stateMachineLogExecutionData: "true",
      bedrockThrottleAlarmPercent: "12.5",
    });
    expect(config).toMatchObject({
      bucketName: "pgr301-couch-explorers",
      keyPrefix: "candidates/alice",
      modelId: "amazon.titan-image-generator-v2:0",
      bedrockRegion: "us-west-2",
      queueAgeAlarmSeconds: 300,
      bedrockConcurrency: 2,
      waitingRoomAgeAlarmSeconds: 900,
      apiKeyRequired: false,
      throttlingRateLimit: 2.5,
      throttlingBurstLimit: 5,
      statusRetentionDays: 7,
      stateMachineLogLevel: "ALL",
      stateMachineLogExecutionData: true,
      bedrockThrottleAlarmPercent: 12.5,
    });
  });

  it("accepts JSON-typed values from cdk.json and ignores CDK's own context keys", () => {
    const config = loadConfig({
      alertEmail,
      apiKeyRequired: false,
      queueAgeAlarmSeconds: 90,
      "@aws-cdk/core:enablePartitionLiterals": true,
      "aws:cdk:bundling-stacks": ["**"],
    });
    expect(config.apiKeyRequired).toBe(false);
    expect(config.queueAgeAlarmSeconds).toBe(90);
  });

  it("treats an empty bucketName as not given, so CI can pass an unset variable", () => {
    expect(loadConfig({ alertEmail, bucketName: "" }).bucketName).toBeUndefined();
  });

  it("requires alertEmail and names the -c flag to pass", () => {
    expect(() => loadConfig({})).toThrow(ConfigError);
    expect(() => loadConfig({})).toThrow(/alertEmail is required: pass -c alertEmail=you@example\.com/);
    expect(problemsOf({ alertEmail: "  " })).toEqual([expect.stringMatching(/^alertEmail is required/)]);
  });

  it.each([
    [{ alertEmail: "ops.example.com" }, /alertEmail "ops\.example\.com" is not an email address/],
    [{ alertEmail: 42 }, /alertEmail must be a string/],
    [{ bucketName: "My_Bucket" }, /bucketName "My_Bucket" is not a valid S3 bucket name.*omit -c bucketName/],
    [{ bucketName: "192.168.1.10" }, /bucketName "192\.168\.1\.10" is not a valid S3 bucket name/],
    [{ keyPrefix: "team/*" }, /keyPrefix "team\/\*" is not usable.*-c keyPrefix=candidates\/alice/],
    [{ keyPrefix: "a//b" }, /keyPrefix "a\/\/b" is not usable/],
    [{ keyPrefix: "a/../b" }, /keyPrefix "a\/\.\.\/b" is not usable/],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, which the prefix must not inject
    [{ keyPrefix: "${aws:username}" }, /is not usable/],
    [
      { modelId: "stability.sd3-large-v1:0" },
      /modelId "stability\.sd3-large-v1:0" is not supported: use one of stability\.stable-image-core-v1:1, .*amazon\.nova-canvas-v1:0/,
    ],
    [{ modelId: "us.amazon.nova-canvas-v1:0" }, /modelId "us\.amazon\.nova-canvas-v1:0" is not supported/],
    [
      { allowedModelIds: "stability.sd3-5-large-v1:0,nope" },
      /allowedModelIds names "nope", which is not supported: use one of/,
    ],
    [{ allowedModelIds: 42 }, /allowedModelIds must be a comma-separated list, e\.g\. -c allowedModelIds=a,b, got 42/],
    [
      { bedrockRegion: "virginia" },
      /bedrockRegion "virginia" is not an AWS region code: pass e\.g\. -c bedrockRegion=us-east-1/,
    ],
    [
      { queueAgeAlarmSeconds: "2m" },
      /queueAgeAlarmSeconds must be a whole number from 60 to 345600.*-c queueAgeAlarmSeconds=120/,
    ],
    [{ queueAgeAlarmSeconds: "30" }, /queueAgeAlarmSeconds must be a whole number from 60/],
    // Lambda's bounds for an SQS event source's MaximumConcurrency.
    [
      { bedrockConcurrency: "1" },
      /bedrockConcurrency must be a whole number from 2 to 1000 \(Bedrock calls at once, the generate queue's event source MaximumConcurrency.*-c bedrockConcurrency=5/,
    ],
    [{ bedrockConcurrency: "1001" }, /bedrockConcurrency must be a whole number from 2 to 1000/],
    [{ bedrockConcurrency: 2.5 }, /bedrockConcurrency must be a whole number/],
    [
      { waitingRoomAgeAlarmSeconds: "59" },
      /waitingRoomAgeAlarmSeconds must be a whole number from 60 to 3300 \(seconds;.*-c waitingRoomAgeAlarmSeconds=300/,
    ],
    [{ waitingRoomAgeAlarmSeconds: "3301" }, /waitingRoomAgeAlarmSeconds must be a whole number from 60 to 3300/],
    [{ waitingRoomAgeAlarmSeconds: "5m" }, /waitingRoomAgeAlarmSeconds must be a whole number/],
    [
      { apiKeyRequired: "no" },
      /apiKeyRequired must be true or false, got "no": pass -c apiKeyRequired=false or omit it/,
    ],
    [{ throttlingRateLimit: "-1" }, /throttlingRateLimit must be a number from 1 to 10000/],
    [{ throttlingBurstLimit: "1e3" }, /throttlingBurstLimit must be a whole number from 1 to 5000/],
    [
      { throttlingRateLimit: "50", throttlingBurstLimit: "20" },
      /throttlingBurstLimit \(20\) is below throttlingRateLimit \(50\)/,
    ],
    [{ statusRetentionDays: "0" }, /statusRetentionDays must be a whole number from 1 to 3650/],
    [
      { dailyRequestQuota: "0" },
      /dailyRequestQuota must be a whole number from 1 to 1000000 \(requests per API key per day.*-c dailyRequestQuota=5000/,
    ],
    [{ dailyRequestQuota: "5k" }, /dailyRequestQuota must be a whole number/],
    [
      { apiKeyRequired: "false", dailyRequestQuota: "5000" },
      /dailyRequestQuota applies only with API keys.*drop -c dailyRequestQuota or omit -c apiKeyRequired=false/,
    ],
    [
      { imageRetentionDays: "0" },
      /imageRetentionDays must be a whole number from 1 to 36500.*omit it for the default \(37\)/,
    ],
    [
      { imageRetentionDays: "31" },
      /imageRetentionDays \(31\) must be at least statusRetentionDays \(30\) \+ 2.*-c imageRetentionDays=32 or more, or lower -c statusRetentionDays/,
    ],
    [
      { bucketName: "pgr301-couch-explorers", imageRetentionDays: "60" },
      /imageRetentionDays applies only to a bucket the stack creates.*drop -c imageRetentionDays/,
    ],
    [
      { stateMachineLogLevel: "DEBUG" },
      /stateMachineLogLevel "DEBUG" is not a Step Functions log level: pass -c stateMachineLogLevel= one of ALL, ERROR, FATAL, OFF, or omit it for ERROR/,
    ],
    [
      { stateMachineLogExecutionData: "yes" },
      /stateMachineLogExecutionData must be true or false, got "yes": pass -c stateMachineLogExecutionData=true or omit it/,
    ],
    [
      { stateMachineLogLevel: "OFF", stateMachineLogExecutionData: "true" },
      /stateMachineLogExecutionData=true logs nothing with stateMachineLogLevel=OFF: pass -c stateMachineLogLevel=ERROR/,
    ],
    [
      { bedrockThrottleAlarmPercent: "0" },
      /bedrockThrottleAlarmPercent must be a number from 1 to 100 \(percent of a model's Bedrock calls throttled over 5 minutes\).*-c bedrockThrottleAlarmPercent=20/,
    ],
    [{ bedrockThrottleAlarmPercent: "150" }, /bedrockThrottleAlarmPercent must be a number from 1 to 100/],
    [{ alertemail: alertEmail }, /"alertemail" is not a parameter: did you mean "alertEmail"\?/],
    [{ KeyPrefix: "team" }, /"KeyPrefix" is not a parameter: did you mean "keyPrefix"\?/],
  ])("rejects %j with a message saying what to change", (context, message) => {
    expect(() => loadConfig({ alertEmail, ...context })).toThrow(message);
  });

  it("reads the daily request quota and the image retention as `-c` strings", () => {
    const config = loadConfig({
      alertEmail,
      dailyRequestQuota: "20000",
      statusRetentionDays: "7",
      imageRetentionDays: "9",
    });
    expect(config).toMatchObject({ dailyRequestQuota: 20_000, statusRetentionDays: 7, imageRetentionDays: 9 });
  });

  it("keeps images a week longer than status records unless told otherwise", () => {
    expect(loadConfig({ alertEmail, statusRetentionDays: "90" }).imageRetentionDays).toBe(97);
  });

  it("has no quota without API keys and no image retention for an existing bucket (nothing would carry them)", () => {
    expect(loadConfig({ alertEmail, apiKeyRequired: "false" }).dailyRequestQuota).toBeUndefined();
    expect(loadConfig({ alertEmail, bucketName: "pgr301-couch-explorers" }).imageRetentionDays).toBeUndefined();
  });

  it("reads allowedModelIds from -c (comma-separated) or cdk.json (an array), the default first and once", () => {
    const fromFlag = loadConfig({
      alertEmail,
      allowedModelIds: " stability.sd3-5-large-v1:0 ,stability.stable-image-core-v1:1,",
    });
    const fromJson = loadConfig({
      alertEmail,
      modelId: "stability.stable-image-ultra-v1:1",
      allowedModelIds: ["stability.sd3-5-large-v1:0", "stability.sd3-5-large-v1:0"],
    });
    expect(fromFlag.allowedModelIds).toEqual(["stability.stable-image-core-v1:1", "stability.sd3-5-large-v1:0"]);
    expect(fromJson.allowedModelIds).toEqual(["stability.stable-image-ultra-v1:1", "stability.sd3-5-large-v1:0"]);
  });

  it("reports every problem at once, one line each", () => {
    const problems = problemsOf({ modelId: "nope", bedrockConcurrency: "many", apiKeyRequired: "yes" });
    expect(problems).toHaveLength(4);
    expect(problems.map((problem) => problem.split(" ")[0])).toEqual([
      "alertEmail",
      "modelId",
      "bedrockConcurrency",
      "apiKeyRequired",
    ]);
  });

  it.each([{ generateConcurrency: "5" }, { generateConcurrency: 10 }, { GenerateConcurrency: "5" }])(
    "refuses the renamed generateConcurrency (%j), saying it is bedrockConcurrency now and why",
    (context) => {
      // Prepare: a deploy that still passes the old name, e.g. from an old cdk.json or CI variable.
      // Act
      const problems = problemsOf({ alertEmail, ...context });
      // Assess: one problem, the rename; the value is not silently ignored or applied.
      expect(problems).toEqual([
        expect.stringMatching(
          /^generateConcurrency was renamed to bedrockConcurrency \(GenerateImage has no reserved concurrency any more: jobs wait in the generate queue \(the waiting room\), whose event source runs at most bedrockConcurrency Bedrock calls at once \(2 to 1000\)\): pass -c bedrockConcurrency=\.\.\. instead of -c [Gg]enerateConcurrency=\.\.\.$/,
        ),
      ]);
    },
  );

  it("keeps the waiting-room alarm's ceiling at GenerateImage's timeout, beyond which a waiting job has failed", () => {
    expect(loadConfig({ alertEmail, waitingRoomAgeAlarmSeconds: String(GENERATE_TASK_SECONDS.timeout) })).toMatchObject(
      { waitingRoomAgeAlarmSeconds: GENERATE_TASK_SECONDS.timeout },
    );
    expect(CONFIG_DEFAULTS.waitingRoomAgeAlarmSeconds).toBeLessThan(GENERATE_TASK_SECONDS.heartbeat);
  });
});
