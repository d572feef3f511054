// Verifies how couchgen resolves its settings (flag over --local over environment, the region of an AWS queue URL,
// the endpoint of an emulated one, the Bedrock region), parses request options into the pipeline's request fields,
// names downloaded images by their format, and stays in step with the local stack's defaults and the SQS adapter's
// jobId rule. In-process unit tests: no network.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  LOCAL_STACK,
  regionOfAwsQueueUrl,
  resolveApiSettings,
  resolveBedrockSettings,
  resolveQueueSettings,
} from "../../cli/config";
import { extensionDisagrees, imageExtension, outputPath } from "../../cli/download-image";
import { buildImageRequest, parseAspectRatio, parseModelId, parseSeed, parseSize } from "../../cli/image-request";
import { jobIdForMessage } from "../../cli/queue";
import { REQUEST_FIELDS } from "../../functions/shared/image-request";
import { DEFAULT_BEDROCK_REGION } from "../../functions/shared/models/catalog";
import { jobIdForMessage as adapterJobIdForMessage } from "../../functions/start-job/sqs-adapter";
import { DEFAULT_PORTS } from "../../local/local-stack";

const AWS_QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/couch-imagegen-jobs";

describe("--local", () => {
  it("targets the local stack's default ports and queue", () => {
    expect(new URL(LOCAL_STACK.apiUrl).port).toBe(String(DEFAULT_PORTS.api));
    expect(new URL(LOCAL_STACK.queueUrl).port).toBe(String(DEFAULT_PORTS.sqs));
    expect(new URL(LOCAL_STACK.bedrockUrl).port).toBe(String(DEFAULT_PORTS.bedrock));
    expect(LOCAL_STACK.queueUrl).toMatch(/\/123456789012\/couch-imagegen-jobs$/);
  });

  it("wins over the environment, and a flag wins over --local", () => {
    const env = { COUCHGEN_API_URL: "https://abc.execute-api.eu-west-1.amazonaws.com/v1", SQS_QUEUE_URL: AWS_QUEUE };

    expect(resolveApiSettings({ local: true }, env).baseUrl.href).toBe("http://127.0.0.1:4600/");
    expect(resolveApiSettings({ local: true, apiUrl: "http://127.0.0.1:9000" }, env).baseUrl.href).toBe(
      "http://127.0.0.1:9000/",
    );
    expect(resolveQueueSettings({ local: true }, env)).toEqual({
      queueUrl: LOCAL_STACK.queueUrl,
      region: "us-east-1",
      endpoint: "http://127.0.0.1:4602",
      credentials: LOCAL_STACK.credentials,
      local: true,
    });
  });
});

describe("API settings", () => {
  it("keeps the stage path of the API URL and reads the key from COUCHGEN_API_KEY", () => {
    const settings = resolveApiSettings(
      {},
      { COUCHGEN_API_URL: "https://abc.execute-api.eu-west-1.amazonaws.com/v1", COUCHGEN_API_KEY: "k1" },
    );

    expect(new URL("generate-image", settings.baseUrl).href).toBe(
      "https://abc.execute-api.eu-west-1.amazonaws.com/v1/generate-image",
    );
    expect(settings.apiKey).toBe("k1");
  });

  it("treats a blank variable as missing", () => {
    expect(() => resolveApiSettings({}, { COUCHGEN_API_URL: "  " })).toThrow(
      "No API URL: set COUCHGEN_API_URL or pass --api-url",
    );
  });
});

describe("queue settings", () => {
  it("signs for the region named in an AWS queue URL, whatever AWS_REGION says, and leaves the endpoint to the SDK", () => {
    expect(resolveQueueSettings({}, { SQS_QUEUE_URL: AWS_QUEUE, AWS_REGION: "us-east-1" })).toEqual({
      queueUrl: AWS_QUEUE,
      region: "eu-west-1",
      local: false,
    });
    expect(regionOfAwsQueueUrl(new URL("https://eu-north-1.queue.amazonaws.com/1/q"))).toBe("eu-north-1");
  });

  it("sends to the queue URL's own host outside AWS, with AWS_REGION (or the profile's) for signing", () => {
    expect(
      resolveQueueSettings({}, { SQS_QUEUE_URL: "http://localhost:4566/000000000000/jobs", AWS_REGION: "eu-west-1" }),
    ).toEqual({
      queueUrl: "http://localhost:4566/000000000000/jobs",
      region: "eu-west-1",
      endpoint: "http://localhost:4566",
      local: false,
    });
  });

  it("names the variable and the flag when there is no queue", () => {
    expect(() => resolveQueueSettings({}, {})).toThrow("No queue URL: set SQS_QUEUE_URL or pass --queue-url");
  });
});

describe("Bedrock settings", () => {
  it("takes --region, else BEDROCK_REGION, else the catalog's default region; --local adds the stand-in", () => {
    const env = { BEDROCK_REGION: "us-east-1", AWS_REGION: "eu-west-1" };

    expect(resolveBedrockSettings({}, { region: "us-east-2" }, env)).toEqual({ region: "us-east-2", local: false });
    expect(resolveBedrockSettings({}, {}, env)).toEqual({ region: "us-east-1", local: false });
    expect(resolveBedrockSettings({ local: true }, {}, {})).toEqual({
      region: DEFAULT_BEDROCK_REGION,
      endpoint: LOCAL_STACK.bedrockUrl,
      credentials: LOCAL_STACK.credentials,
      local: true,
    });
  });

  it("says where a malformed region came from", () => {
    expect(() => resolveBedrockSettings({}, {}, { BEDROCK_REGION: "US West" })).toThrow(
      'The Bedrock region "US West" (from --region or BEDROCK_REGION) is not an AWS region code',
    );
  });
});

describe("request options", () => {
  it("turns --model, --aspect-ratio, --format, --seed and --negative into the API's fields", () => {
    expect(
      buildImageRequest("a kite", {
        model: parseModelId("us.stability.stable-image-core-v1:1"),
        aspectRatio: parseAspectRatio("16:9"),
        format: "jpeg",
        seed: parseSeed("42"),
        negative: "rain",
      }),
    ).toEqual({
      prompt: "a kite",
      negativePrompt: "rain",
      seed: 42,
      aspectRatio: "16:9",
      outputFormat: "jpeg",
      model: "us.stability.stable-image-core-v1:1",
    });
  });

  it("sends only fields of the pipeline's request contract", () => {
    const every = buildImageRequest("a kite", {
      model: "amazon.nova-canvas-v1:0",
      aspectRatio: "1:1",
      size: { width: 512, height: 512 },
      format: "png",
      quality: "premium",
      seed: 1,
      negative: "rain",
    });

    expect(Object.keys(every).filter((key) => !(REQUEST_FIELDS as readonly string[]).includes(key))).toEqual([]);
  });

  it("turns --size, --seed, --negative and --quality into the API's fields", () => {
    expect(
      buildImageRequest("a kite", {
        size: parseSize("512x768"),
        seed: parseSeed("42"),
        negative: "rain",
        quality: "premium",
      }),
    ).toEqual({ prompt: "a kite", negativePrompt: "rain", seed: 42, width: 512, height: 768, quality: "premium" });
    expect(buildImageRequest("a kite", {})).toEqual({ prompt: "a kite" });
  });

  it("rejects what is not WIDTHxHEIGHT or a whole number, leaving the limits to the pipeline", () => {
    expect(() => parseSize("512")).toThrow("expected WIDTHxHEIGHT");
    expect(() => parseSeed("-1")).toThrow("expected a whole number");
    expect(parseSize("99999x1")).toEqual({ width: 99999, height: 1 });
  });

  it("checks only the shape of an aspect ratio and a model id, leaving which ones a model takes to the pipeline", () => {
    expect(parseAspectRatio(" 21:9 ")).toBe("21:9");
    expect(parseAspectRatio("5:4")).toBe("5:4");
    expect(() => parseAspectRatio("16/9")).toThrow("expected WIDTH:HEIGHT, e.g. 16:9.");
    expect(() => parseAspectRatio("wide")).toThrow("expected WIDTH:HEIGHT");
    expect(parseModelId("amazon.titan-image-generator-v1")).toBe("amazon.titan-image-generator-v1");
    expect(parseModelId("stability.sd3-large-v1:0")).toBe("stability.sd3-large-v1:0");
    expect(() => parseModelId("Stable Image Core")).toThrow("couchgen models --all lists them");
    expect(() => parseModelId("stability")).toThrow("expected a Bedrock model id");
  });
});

describe("downloaded image names", () => {
  it("follow the stored image's format: <jobId>.jpg in a directory for a JPEG, .png otherwise", () => {
    const directory = mkdtempSync(join(tmpdir(), "couchgen-out-"));

    expect(imageExtension("s3://b/local/generated_images/j1.jpg")).toBe(".jpg");
    expect(imageExtension("s3://b/local/generated_images/j1.png")).toBe(".png");
    expect(imageExtension(undefined)).toBe(".png");
    expect(outputPath(directory, "j1", ".jpg")).toBe(join(directory, "j1.jpg"));
    expect(outputPath(join(directory, "mine.jpeg"), "j1", ".jpg")).toBe(join(directory, "mine.jpeg"));
  });

  it("notice a file name that says another format, but not one without an image extension", () => {
    expect(extensionDisagrees("/tmp/picture.png", ".jpg")).toBe(true);
    expect(extensionDisagrees("/tmp/picture.JPEG", ".jpg")).toBe(false);
    expect(extensionDisagrees("/tmp/picture.jpg", ".png")).toBe(true);
    expect(extensionDisagrees("/tmp/picture", ".jpg")).toBe(false);
  });
});

it("names the job after the SQS message id, as the start-job SQS adapter does", () => {
  const messageId = "059f36b4-87a3-44ab-83d2-661975830a7d";
  expect(jobIdForMessage(messageId)).toBe(adapterJobIdForMessage(messageId));
});
