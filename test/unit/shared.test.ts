// Verifies the shared helpers every Lambda leans on: the S3 key layout, jobId rules and execution ARNs, environment
// reading, the per-model limits table and the AWS error classifiers. Pure functions, no AWS calls; it cannot tell
// whether AWS still documents these limits (the model table is checked against our own copy of the docs only).
import { afterEach, describe, expect, it, vi } from "vitest";
import { errorMessage, errorName, httpStatusOf, isNetworkFailure } from "../../functions/shared/aws-errors";
import { optionalEnv, requireEnv } from "../../functions/shared/environment";
import { imageKey, parseS3Uri, prefixPath, s3Uri, stagingKey } from "../../functions/shared/image-keys";
import { imageModelLimits, SUPPORTED_MODEL_IDS } from "../../functions/shared/image-models";
import { executionArnFor, isValidJobId } from "../../functions/shared/job-id";
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

describe("image-models", () => {
  it("gives Nova Canvas its 1024-character prompt, seed, size and quality limits", () => {
    // Act
    const limits = imageModelLimits("amazon.nova-canvas-v1:0");

    // Assess
    expect(limits).toMatchObject({
      family: "nova-canvas",
      maxPromptLength: 1024,
      maxSeed: 858_993_459,
      sizes: { kind: "range", min: 320, max: 4096, multipleOf: 16, maxPixels: 4_194_304, maxAspectRatio: 4 },
      defaultWidth: 1024,
      defaultHeight: 1024,
      qualities: ["standard", "premium"],
    });
  });

  it.each(["amazon.titan-image-generator-v2:0", "amazon.titan-image-generator-v1"])(
    "gives %s Titan's 512-character prompt and its list of sizes",
    (modelId) => {
      // Act
      const limits = imageModelLimits(modelId);

      // Assess
      expect(limits.family).toBe("titan-image");
      expect(limits.maxPromptLength).toBe(512);
      expect(limits.maxSeed).toBe(2_147_483_646);
      expect(limits.sizes.kind).toBe("list");
      expect(limits.sizes.kind === "list" && limits.sizes.allowed).toContainEqual([1024, 1024]);
    },
  );

  it("recognises cross-region inference profile ids", () => {
    expect(imageModelLimits("us.amazon.nova-canvas-v1:0").family).toBe("nova-canvas");
    expect(imageModelLimits("eu.amazon.titan-image-generator-v2:0").family).toBe("titan-image");
  });

  it("resolves every model id it claims to support", () => {
    for (const modelId of SUPPORTED_MODEL_IDS) {
      expect(() => imageModelLimits(modelId)).not.toThrow();
    }
  });

  it("refuses a model it cannot speak to and lists the supported ones", () => {
    // Act
    const attempt = () => imageModelLimits("stability.sd3-large-v1:0");

    // Assess
    expect(attempt).toThrow(/Model "stability\.sd3-large-v1:0" is not supported: use one of amazon\.nova-canvas-v1:0/);
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
