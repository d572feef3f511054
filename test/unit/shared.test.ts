// Verifies the shared helpers every Lambda leans on: the S3 key layout per output format, jobId rules and execution
// ARNs, environment reading, the deployment's model choice read from MODEL_ID / ALLOWED_MODEL_IDS, the AWS error
// classifiers, JSON nesting depth measured without recursion, who may read a job and how an Idempotency-Key becomes a
// caller's jobId, and the pipeline facts read from an execution input. Pure functions, no AWS calls; it cannot verify
// that the stack sets these variables (the infra tests do) or that the models named are ones the account may invoke.
// The model catalog is in model-families.test.ts.
import { afterEach, describe, expect, it, vi } from "vitest";
import { errorMessage, errorName, httpStatusOf, isNetworkFailure } from "../../functions/shared/aws-errors";
import { optionalEnv, requireEnv } from "../../functions/shared/environment";
import {
  IMAGE_FORMATS,
  imageKey,
  outputFormatOf,
  parseS3Uri,
  prefixPath,
  s3Uri,
  stagingKey,
} from "../../functions/shared/image-keys";
import { ANONYMOUS_CALLER, apiCaller, jobIdForKey, mayRead, queueCaller } from "../../functions/shared/job-caller";
import { executionArnFor, isValidJobId } from "../../functions/shared/job-id";
import { jsonTextDepth, valueDepth } from "../../functions/shared/json-depth";
import { modelChoiceEnvironment, modelChoiceFromEnv } from "../../functions/shared/model-choice-env";
import { pipelineFactsOf } from "../../functions/shared/pipeline-facts";
import { awsError } from "../fixtures/tiny-png";

describe("image-keys", () => {
  it("puts the final image under {prefix}/generated_images/ and the staged one under {prefix}/staging/", () => {
    // Prepare
    const prefix = "candidate-7";

    // Act
    const final = imageKey(prefix, "job-1");
    const staged = stagingKey(prefix, "job-1");

    // Assess
    expect(final).toBe("candidate-7/generated_images/job-1.png");
    expect(staged).toBe("candidate-7/staging/job-1.png");
  });

  it("uses .jpg for JPEG and .png for PNG, the default, in both the final and the staging key", () => {
    expect(imageKey("candidate-7", "job-1", "jpeg")).toBe("candidate-7/generated_images/job-1.jpg");
    expect(stagingKey("candidate-7", "job-1", "jpeg")).toBe("candidate-7/staging/job-1.jpg");
    expect(imageKey("", "job-1", "png")).toBe("generated_images/job-1.png");
    expect(stagingKey("/team/", "job-1", "png")).toBe("team/staging/job-1.png");
  });

  it("gives each format its Content-Type and leading bytes", () => {
    expect(IMAGE_FORMATS.png).toMatchObject({ extension: ".png", contentType: "image/png" });
    expect(IMAGE_FORMATS.png.signature).toEqual(Buffer.from("89504e470d0a1a0a", "hex"));
    expect(IMAGE_FORMATS.jpeg).toMatchObject({ extension: ".jpg", contentType: "image/jpeg" });
    expect(IMAGE_FORMATS.jpeg.signature).toEqual(Buffer.from("ffd8ff", "hex"));
  });

  it.each([
    [undefined, "png"],
    [null, "png"],
    ["png", "png"],
    ["jpeg", "jpeg"],
  ])("reads the output format %j of a state payload as %s", (value, format) => {
    expect(outputFormatOf(value)).toBe(format);
  });

  it.each(["../x", "jpg", "PNG", "", 1, {}])("refuses the output format %j of a state payload", (value) => {
    expect(() => outputFormatOf(value)).toThrow(`Unknown output format ${JSON.stringify(value)}: expected png or jpeg`);
  });

  it("normalises leading and trailing slashes of the prefix and drops an empty one", () => {
    expect(prefixPath("team/alice")).toBe("team/alice/");
    expect(prefixPath("/team/alice/")).toBe("team/alice/");
    expect(prefixPath("//team//")).toBe("team/");
    expect(prefixPath("")).toBe("");
    expect(prefixPath("/")).toBe("");
    expect(imageKey("", "job-1")).toBe("generated_images/job-1.png");
    expect(stagingKey("/", "job-1")).toBe("staging/job-1.png");
  });

  it("builds and splits s3:// URIs", () => {
    // Act
    const uri = s3Uri("couch-images", "candidate-7/generated_images/job-1.png");

    // Assess
    expect(uri).toBe("s3://couch-images/candidate-7/generated_images/job-1.png");
    expect(parseS3Uri(uri)).toEqual({ bucket: "couch-images", key: "candidate-7/generated_images/job-1.png" });
  });

  it.each(["https://couch-images/x.png", "s3://couch-images", "s3://couch-images/", "s3:///key.png", ""])(
    "refuses %j as an S3 URI, naming the value",
    (uri) => {
      expect(() => parseS3Uri(uri)).toThrow(`Not an s3://bucket/key URI: ${uri}`);
    },
  );
});

describe("job-id", () => {
  it.each(["a", "job-1", "A_b-9", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "x".repeat(80)])("accepts %j", (jobId) => {
    expect(isValidJobId(jobId)).toBe(true);
  });

  it.each(["", "x".repeat(81), "has space", "../etc/passwd", "job.1", "job/1", "jøb", "job\n", "%41"])(
    "refuses %j",
    (jobId) => {
      expect(isValidJobId(jobId)).toBe(false);
    },
  );

  it("derives the execution ARN from the state machine ARN and the jobId", () => {
    // Act
    const arn = executionArnFor("arn:aws:states:eu-west-1:123456789012:stateMachine:ImagePipeline", "job-1");

    // Assess
    expect(arn).toBe("arn:aws:states:eu-west-1:123456789012:execution:ImagePipeline:job-1");
  });

  it("keeps the partition of the state machine ARN", () => {
    expect(executionArnFor("arn:aws-cn:states:cn-north-1:123456789012:stateMachine:P", "j")).toBe(
      "arn:aws-cn:states:cn-north-1:123456789012:execution:P:j",
    );
  });

  it.each([
    "arn:aws:states:eu-west-1:123456789012:execution:ImagePipeline:job-1",
    "arn:aws:states:eu-west-1:123456789012:stateMachine",
    "ImagePipeline",
  ])("refuses %j as a state machine ARN", (arn) => {
    expect(() => executionArnFor(arn, "job-1")).toThrow(`Not a state machine ARN: ${arn}`);
  });
});

describe("environment", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("returns a required variable that is set", () => {
    // Prepare
    vi.stubEnv("COUCH_TEST_VALUE", "couch-images");

    // Act
    const value = requireEnv("COUCH_TEST_VALUE");

    // Assess
    expect(value).toBe("couch-images");
  });

  it("throws '<NAME> environment variable is not set' for an unset or empty required variable", () => {
    // Prepare
    vi.stubEnv("COUCH_TEST_EMPTY", "");
    vi.stubEnv("COUCH_TEST_UNSET", undefined);

    // Act + Assess
    expect(() => requireEnv("COUCH_TEST_EMPTY")).toThrow("COUCH_TEST_EMPTY environment variable is not set");
    expect(() => requireEnv("COUCH_TEST_UNSET")).toThrow("COUCH_TEST_UNSET environment variable is not set");
  });

  it("falls back to the default for an unset or empty optional variable, and keeps a set one", () => {
    // Prepare
    vi.stubEnv("COUCH_TEST_EMPTY", "");
    vi.stubEnv("COUCH_TEST_UNSET", undefined);
    vi.stubEnv("COUCH_TEST_SET", "7");

    // Act + Assess
    expect(optionalEnv("COUCH_TEST_EMPTY", "30")).toBe("30");
    expect(optionalEnv("COUCH_TEST_UNSET", "30")).toBe("30");
    expect(optionalEnv("COUCH_TEST_SET", "30")).toBe("7");
  });
});

describe("model-choice-env", () => {
  const CORE = "stability.stable-image-core-v1:1";
  const NOVA = "amazon.nova-canvas-v1:0";
  const TITAN = "amazon.titan-image-generator-v2:0";

  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("requires MODEL_ID, saying which variable is missing", () => {
    // Prepare
    vi.stubEnv("MODEL_ID", undefined);
    vi.stubEnv("ALLOWED_MODEL_IDS", NOVA);

    // Act + Assess
    expect(() => modelChoiceFromEnv()).toThrow("MODEL_ID environment variable is not set");
  });

  it.each([
    ["unset", undefined],
    ["empty", ""],
  ])("allows only the default when ALLOWED_MODEL_IDS is %s", (_kind, allowed) => {
    // Prepare
    vi.stubEnv("MODEL_ID", CORE);
    vi.stubEnv("ALLOWED_MODEL_IDS", allowed);

    // Act
    const models = modelChoiceFromEnv();

    // Assess
    expect(models).toEqual({ defaultModelId: CORE, allowedModelIds: [CORE] });
  });

  it("puts the default first, drops copies of it, trims ids and ignores blanks", () => {
    // Prepare
    vi.stubEnv("MODEL_ID", CORE);
    vi.stubEnv("ALLOWED_MODEL_IDS", ` ${NOVA} ,,${CORE}, ,${TITAN},${CORE} `);

    // Act
    const models = modelChoiceFromEnv();

    // Assess
    expect(models).toEqual({ defaultModelId: CORE, allowedModelIds: [CORE, NOVA, TITAN] });
  });

  it("writes the environment it reads back: the default, and every allowed id comma-separated", () => {
    // Prepare
    const models = { defaultModelId: NOVA, allowedModelIds: [NOVA, CORE] };

    // Act
    const environment = modelChoiceEnvironment(models);
    vi.stubEnv("MODEL_ID", environment.MODEL_ID);
    vi.stubEnv("ALLOWED_MODEL_IDS", environment.ALLOWED_MODEL_IDS);

    // Assess
    expect(environment).toEqual({ MODEL_ID: NOVA, ALLOWED_MODEL_IDS: `${NOVA},${CORE}` });
    expect(modelChoiceFromEnv()).toEqual(models);
  });
});

describe("aws-errors", () => {
  it("reads the HTTP status of an SDK error and nothing from other values", () => {
    expect(httpStatusOf(awsError("SlowDown", "Reduce your request rate", 503))).toBe(503);
    expect(httpStatusOf(new Error("plain"))).toBeUndefined();
    expect(httpStatusOf(null)).toBeUndefined();
    expect(httpStatusOf("text")).toBeUndefined();
  });

  it("treats socket errors, client timeouts and aborts as network failures, and service answers as not", () => {
    // Prepare
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const timeout = Object.assign(new Error("timed out"), { name: "TimeoutError" });
    const aborted = Object.assign(new Error("aborted"), { name: "AbortError" });

    // Act + Assess
    expect([reset, refused, timeout, aborted].map(isNetworkFailure)).toEqual([true, true, true, true]);
    expect(isNetworkFailure(awsError("InternalError", "We encountered an internal error", 500))).toBe(false);
    expect(isNetworkFailure(null)).toBe(false);
    expect(isNetworkFailure("ECONNRESET")).toBe(false);
  });

  it("names and describes errors and non-errors", () => {
    expect(errorName(awsError("NoSuchKey", "gone", 404))).toBe("NoSuchKey");
    expect(errorName("boom")).toBe("UnknownError");
    expect(errorMessage(new Error("gone"))).toBe("gone");
    expect(errorMessage(42)).toBe("42");
  });
});

describe("json-depth", () => {
  it.each([
    ["a scalar", "42", 0],
    ["an empty object", "{}", 1],
    ["a request", '{"prompt": "a cat", "seed": 7}', 1],
    ["an array in an object", '{"seed": [[1]]}', 3],
    ["brackets inside a string", '{"prompt": "[[{{ a castle }}]]"}', 1],
    ["an escaped quote before brackets in a string", '{"prompt": "say \\"[[[\\" twice"}', 1],
    ["an escaped backslash closing a string", '{"a": "\\\\", "b": [[1]]}', 3],
  ])("measures %s in JSON text as %i levels", (_what, text, depth) => {
    expect(jsonTextDepth(text)).toBe(depth);
  });

  it("measures 100,000 levels of text and of a parsed value without overflowing the stack", () => {
    // Prepare
    let value: unknown = 1;
    for (let level = 0; level < 100_000; level += 1) value = [value];

    // Act + Assess
    expect(jsonTextDepth(`${"[".repeat(100_000)}${"]".repeat(100_000)}`)).toBe(100_000);
    expect(valueDepth({ seed: value })).toBe(100_001);
  });

  it("measures a parsed value's deepest branch", () => {
    expect(valueDepth({ a: 1, b: { c: [1, { d: [] }] }, e: [] })).toBe(5);
    expect(valueDepth("a string")).toBe(0);
    expect(valueDepth(null)).toBe(0);
  });
});

describe("job-caller", () => {
  it("names an API caller by its key's id, a keyless one anonymous, and an SQS job by its queue", () => {
    expect(apiCaller("abc123")).toBe("apiKey:abc123");
    expect(apiCaller(null)).toBe(ANONYMOUS_CALLER);
    expect(apiCaller(undefined)).toBe(ANONYMOUS_CALLER);
    expect(queueCaller("arn:aws:sqs:eu-west-1:123456789012:jobs")).toBe(
      "queue:arn:aws:sqs:eu-west-1:123456789012:jobs",
    );
  });

  it.each([
    ["its own job", "apiKey:a", "apiKey:a", true],
    ["another key's job", "apiKey:a", "apiKey:b", false],
    ["a keyed job without a key", "apiKey:a", ANONYMOUS_CALLER, false],
    ["an anonymous job with a key", ANONYMOUS_CALLER, "apiKey:a", false],
    ["a queue's job with a key", "queue:arn:aws:sqs:eu-west-1:1:q", "apiKey:a", true],
    ["a job naming no caller without a key", undefined, ANONYMOUS_CALLER, true],
    ["a job naming no caller with a key", undefined, "apiKey:a", false],
    ["a job whose caller is not a string, with a key", 42, "apiKey:a", false],
  ])("lets a reader see %s: %s", (_what, owner, reader, visible) => {
    expect(mayRead(owner, reader as string)).toBe(visible);
  });

  it("keeps an anonymous caller's Idempotency-Key the jobId, as before callers were recorded", () => {
    expect(jobIdForKey("lighthouse-1", ANONYMOUS_CALLER)).toBe("lighthouse-1");
  });

  it("prefixes a keyed caller's Idempotency-Key, the same way every time, differently per key id", () => {
    // Act
    const a = jobIdForKey("lighthouse-1", "apiKey:a");

    // Assess
    expect(a).toMatch(/^[A-Za-z0-9_-]{10}-lighthouse-1$/);
    expect(jobIdForKey("lighthouse-1", "apiKey:a")).toBe(a);
    expect(jobIdForKey("lighthouse-1", "apiKey:b")).not.toBe(a);
  });

  it("hashes a key too long for the prefix, into a valid execution name that still differs per key", () => {
    // Act
    const long = jobIdForKey("k".repeat(80), "apiKey:a");
    const other = jobIdForKey(`${"k".repeat(79)}j`, "apiKey:a");

    // Assess
    expect(long).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
    expect(isValidJobId(long)).toBe(true);
    expect(long).not.toBe(other);
    expect(jobIdForKey("k".repeat(69), "apiKey:a")).toHaveLength(80);
  });
});

describe("pipeline-facts", () => {
  it("reads the facts under the pipeline key and leaves out mistyped ones", () => {
    expect(
      pipelineFactsOf({
        oversizedBodyBytes: 1,
        pipeline: { caller: "apiKey:a", oversizedBodyBytes: "1", bodyNestingDepth: 30, numbersTooLarge: ["seed", 2] },
      }),
    ).toEqual({ caller: "apiKey:a", bodyNestingDepth: 30, numbersTooLarge: ["seed"] });
  });

  it.each([undefined, null, "text", { pipeline: "x" }, { pipeline: null }])("reads no facts from %j", (input) => {
    expect(pipelineFactsOf(input)).toEqual({});
  });
});
