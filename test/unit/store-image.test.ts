// Verifies the StoreImage core: server-side copy of the staged image (PNG, or JPEG under .jpg) to its final key
// (metadata kept), then delete of the staging object; that an unknown output format is refused before any S3 call; the idempotent retry when a previous attempt already promoted it; and which S3 failures become
// the retried S3TransientError versus a final S3Error or StagedImageMissing, and the log line of each outcome (JSON:
// level, jobId, Lambda request id). S3 is an aws-sdk-client-mock mock: this
// cannot prove real S3's CopySource encoding rules or its error names beyond the ones written into these fixtures.
import { CopyObjectCommand, DeleteObjectCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { type StoreImageEvent, storeImage } from "../../functions/store-image/store-image";
import { awsError } from "../fixtures/tiny-png";
import { type CapturedOutput, captureOutput, handlerObservability, lambdaContext } from "./powertools-output";

const BUCKET = "couch-images";
const KEY_PREFIX = "candidate-7";
const STAGING_KEY = "candidate-7/staging/job-1.png";
const FINAL_KEY = "candidate-7/generated_images/job-1.png";

const s3 = new S3Client({ region: "eu-west-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } });
const s3Mock = mockClient(s3);
const deps = { s3, bucket: BUCKET, keyPrefix: KEY_PREFIX };
const event: StoreImageEvent = { jobId: "job-1", bucket: BUCKET, stagingKey: STAGING_KEY };

const networkReset = () => Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });

/** The S3 commands sent, by name, in order. */
function commandsSent(): string[] {
  return s3Mock.calls().map((call) => call.args[0].constructor.name);
}

beforeEach(() => {
  s3Mock.reset();
  s3Mock.on(CopyObjectCommand).resolves({});
  s3Mock.on(DeleteObjectCommand).resolves({});
  s3Mock.on(HeadObjectCommand).resolves({ ContentType: "image/png" });
});

describe("storeImage: success", () => {
  it("copies the staged image to its final key, keeping its metadata, then deletes the staging object", async () => {
    // Act
    const result = await storeImage(event, deps);

    // Assess
    expect(result).toEqual({ bucket: BUCKET, key: FINAL_KEY, s3Uri: `s3://${BUCKET}/${FINAL_KEY}` });
    expect(commandsSent()).toEqual(["CopyObjectCommand", "DeleteObjectCommand"]);
    expect(s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: FINAL_KEY,
      CopySource: `${BUCKET}/${STAGING_KEY}`,
      MetadataDirective: "COPY",
    });
    expect(s3Mock.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({ Bucket: BUCKET, Key: STAGING_KEY });
  });

  it("URI-encodes each segment of the CopySource key, but not the destination key", async () => {
    // Act
    await storeImage(event, { ...deps, keyPrefix: "/team alice/ø+1/" });

    // Assess
    expect(s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input).toMatchObject({
      Key: "team alice/ø+1/generated_images/job-1.png",
      CopySource: `${BUCKET}/team%20alice/%C3%B8%2B1/staging/job-1.png`,
    });
  });

  it("works without a key prefix", async () => {
    // Act
    const result = await storeImage(event, { ...deps, keyPrefix: "" });

    // Assess
    expect(result.key).toBe("generated_images/job-1.png");
    expect(s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input.CopySource).toBe(`${BUCKET}/staging/job-1.png`);
  });

  it("takes bucket and keys from the jobId and its config, never from the event's bucket or stagingKey", async () => {
    // Prepare
    const redirected = { jobId: "job-1", bucket: "someone-elses-bucket", stagingKey: "../../private/secret.png" };

    // Act
    const result = await storeImage(redirected, deps);

    // Assess
    expect(result.bucket).toBe(BUCKET);
    for (const call of s3Mock.calls()) {
      expect(JSON.stringify(call.args[0].input)).not.toMatch(/someone-elses-bucket|secret/);
    }
    expect(s3Mock.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({ Bucket: BUCKET, Key: STAGING_KEY });
  });

  it("copies staging/{jobId}.jpg to generated_images/{jobId}.jpg for outputFormat jpeg", async () => {
    // Act
    const result = await storeImage({ ...event, outputFormat: "jpeg" }, deps);

    // Assess
    expect(result).toEqual({
      bucket: BUCKET,
      key: "candidate-7/generated_images/job-1.jpg",
      s3Uri: `s3://${BUCKET}/candidate-7/generated_images/job-1.jpg`,
    });
    expect(s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: "candidate-7/generated_images/job-1.jpg",
      CopySource: `${BUCKET}/candidate-7/staging/job-1.jpg`,
      MetadataDirective: "COPY",
    });
    expect(s3Mock.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      Key: "candidate-7/staging/job-1.jpg",
    });
  });

  it.each([
    ["absent", {}],
    ["png", { outputFormat: "png" as const }],
  ])("uses .png keys when outputFormat is %s", async (_kind, format) => {
    // Act
    const result = await storeImage({ ...event, ...format }, deps);

    // Assess
    expect(result.key).toBe(FINAL_KEY);
    expect(s3Mock.commandCalls(CopyObjectCommand)[0]?.args[0].input.CopySource).toBe(`${BUCKET}/${STAGING_KEY}`);
  });

  it.each(["../x", "gif", "PNG", ""])(
    "refuses the unknown outputFormat %j before any S3 call",
    async (outputFormat) => {
      // Prepare: a state payload is not typed; this one names a format the pipeline never writes.
      const tampered = { ...event, outputFormat } as unknown as StoreImageEvent;

      // Act + Assess
      await expect(storeImage(tampered, deps)).rejects.toThrow(
        `Unknown output format ${JSON.stringify(outputFormat)}: expected png or jpeg`,
      );
      expect(s3Mock.calls()).toHaveLength(0);
    },
  );

  it("succeeds on a retry whose earlier attempt already promoted the image (copy NoSuchKey, final exists)", async () => {
    // Prepare
    s3Mock.on(CopyObjectCommand).rejects(awsError("NoSuchKey", "The specified key does not exist.", 404));

    // Act
    const result = await storeImage(event, deps);

    // Assess
    expect(result.s3Uri).toBe(`s3://${BUCKET}/${FINAL_KEY}`);
    expect(commandsSent()).toEqual(["CopyObjectCommand", "HeadObjectCommand", "DeleteObjectCommand"]);
    expect(s3Mock.commandCalls(HeadObjectCommand)[0]?.args[0].input).toEqual({ Bucket: BUCKET, Key: FINAL_KEY });
  });
});

describe("storeImage: copy failures", () => {
  it.each(["NoSuchKey", "NotFound"])(
    "fails with StagedImageMissing when the copy finds no staged image (%s) and no final one exists",
    async (name) => {
      // Prepare
      s3Mock.on(CopyObjectCommand).rejects(awsError(name, "The specified key does not exist.", 404));
      s3Mock.on(HeadObjectCommand).rejects(awsError("NotFound", "Not Found", 404));

      // Act + Assess
      await expect(storeImage(event, deps)).rejects.toMatchObject({
        name: "StagedImageMissing",
        message: `Could not copy ${STAGING_KEY} to ${FINAL_KEY}: the staged image is gone and no final image exists`,
      });
      expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
    },
  );

  it("fails with S3TransientError when the existence check itself fails transiently", async () => {
    // Prepare
    s3Mock.on(CopyObjectCommand).rejects(awsError("NoSuchKey", "The specified key does not exist.", 404));
    s3Mock.on(HeadObjectCommand).rejects(awsError("ServiceUnavailable", "", 503));

    // Act + Assess
    await expect(storeImage(event, deps)).rejects.toMatchObject({
      name: "S3TransientError",
      message: expect.stringMatching(/^Could not check candidate-7\/generated_images\/job-1\.png: ServiceUnavailable/),
    });
  });

  it.each([
    ["ServiceUnavailable (503)", () => awsError("ServiceUnavailable", "Service Unavailable", 503)],
    ["SlowDown (503)", () => awsError("SlowDown", "Please reduce your request rate.", 503)],
    ["InternalError (500)", () => awsError("InternalError", "We encountered an internal error.", 500)],
    ["an unnamed 500", () => awsError("UnknownError", "", 500)],
    ["RequestTimeout (400)", () => awsError("RequestTimeout", "Your socket connection timed out", 400)],
    ["ECONNRESET", networkReset],
    ["TimeoutError", () => Object.assign(new Error("Connection timed out"), { name: "TimeoutError" })],
  ])("maps a copy failure with %s to the retried S3TransientError", async (_kind, makeError) => {
    // Prepare
    s3Mock.on(CopyObjectCommand).rejects(makeError());

    // Act + Assess
    await expect(storeImage(event, deps)).rejects.toMatchObject({
      name: "S3TransientError",
      message: expect.stringContaining(`Could not copy ${STAGING_KEY} to ${FINAL_KEY}: `),
    });
    expect(s3Mock.commandCalls(HeadObjectCommand)).toHaveLength(0);
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  it("maps AccessDenied on the copy to the final S3Error, keeping the cause", async () => {
    // Prepare
    const original = awsError("AccessDenied", "Access Denied", 403);
    s3Mock.on(CopyObjectCommand).rejects(original);

    // Act + Assess
    await expect(storeImage(event, deps)).rejects.toMatchObject({
      name: "S3Error",
      message: `Could not copy ${STAGING_KEY} to ${FINAL_KEY}: AccessDenied: Access Denied`,
      cause: original,
    });
  });
});

describe("storeImage: delete failures", () => {
  it.each([
    ["SlowDown (503)", () => awsError("SlowDown", "Please reduce your request rate.", 503)],
    ["InternalError (500)", () => awsError("InternalError", "We encountered an internal error.", 500)],
    ["ECONNRESET", networkReset],
  ])(
    "maps a delete failure with %s to S3TransientError (the retry then finds the final image)",
    async (_kind, makeError) => {
      // Prepare
      s3Mock.on(DeleteObjectCommand).rejects(makeError());

      // Act + Assess
      await expect(storeImage(event, deps)).rejects.toMatchObject({
        name: "S3TransientError",
        message: expect.stringContaining(`Could not delete ${STAGING_KEY}: `),
      });
    },
  );

  it("maps AccessDenied on the delete to S3Error", async () => {
    // Prepare
    s3Mock.on(DeleteObjectCommand).rejects(awsError("AccessDenied", "Access Denied", 403));

    // Act + Assess
    await expect(storeImage(event, deps)).rejects.toMatchObject({
      name: "S3Error",
      message: `Could not delete ${STAGING_KEY}: AccessDenied: Access Denied`,
    });
  });
});

describe("storeImage: what it logs", () => {
  let output: CapturedOutput;
  beforeEach(() => {
    output = captureOutput();
    return output.restore;
  });

  it("logs the stored image at INFO with the Lambda request id and the jobId", async () => {
    // Act
    await storeImage(event, { ...deps, ...handlerObservability("store-image", lambdaContext("lambda-request-6")) });

    // Assess
    expect(output.logs()).toEqual([
      expect.objectContaining({
        level: "INFO",
        message: "Image stored",
        function: "store-image",
        function_request_id: "lambda-request-6",
        jobId: "job-1",
        key: FINAL_KEY,
      }),
    ]);
  });

  it.each([
    ["WARN", "S3TransientError", awsError("SlowDown", "Please reduce your request rate.", 503)],
    ["ERROR", "S3Error", awsError("AccessDenied", "Access Denied", 403)],
  ])("logs a failure at %s under the name the state machine sees (%s)", async (level, name, failure) => {
    // Prepare
    s3Mock.on(CopyObjectCommand).rejects(failure);

    // Act
    const attempt = storeImage(event, { ...deps, ...handlerObservability("store-image") });

    // Assess
    await expect(attempt).rejects.toMatchObject({ name });
    expect(output.logs()).toEqual([
      expect.objectContaining({ level, message: "Could not store the image", error: name, jobId: "job-1" }),
    ]);
  });
});
