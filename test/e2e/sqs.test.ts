// End to end through the SQS queue: messages with a JSON body and a plain-text body, sent with the SDK (JSON protocol)
// and with Debian's AWS CLI 2.9 (query protocol), become jobs named after the message id and end as images; a message
// delivered twice starts one execution, and a generate message (the waiting room's) delivered again after its job
// ended is dropped without a Bedrock call; bad messages (deep nesting and 15 KB values included) end REJECTED with a
// short, readable cause and no image, and a body cannot set the pipeline's own fields. The whole local stack runs in
// this process (real handlers, real ASL file, the local SQS poller standing in for the event source mapping). It cannot
// show AWS itself: SQS is the local-aws-sqs emulator, the images come from the Bedrock stand-in, and AWS's own
// redelivery timing is not reproduced (see the redelivery test).
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseGenerateMessage } from "../../functions/shared/waiting-room";
import { DEFAULT_FAULTS } from "../../local/bedrock-stand-in";
import { LOCAL_ACCOUNT, LOCAL_REGION } from "../../local/emulators";
import type { SqsHandler } from "../../local/local-stack";
import {
  awsCli,
  type E2eStack,
  executionArnOf,
  imageKeyOf,
  listExecutions,
  objectExists,
  PIXEL_MODEL_ID,
  pollUntil,
  readImage,
  sendMessage,
  skipWithoutAwsCli,
  sqsEndpoint,
  startE2eStack,
  waitForExecution,
  waitForJob,
} from "./helpers";

let env: E2eStack;
/** The stack's generator (the real handler), and the generate messages it was given, by job. */
let generator: SqsHandler;
const generateRecords = new Map<string, SQSRecord>();

beforeAll(async () => {
  env = await startE2eStack({
    modelId: PIXEL_MODEL_ID,
    waitingRoom: {
      wrapGenerator: (handler) => {
        generator = handler;
        return (event) => {
          for (const record of event.Records) {
            const jobId = parseGenerateMessage(record.body)?.jobId;
            if (jobId) generateRecords.set(jobId, record);
          }
          return handler(event);
        };
      },
    },
  });
});

afterEach(() => {
  env.stack.bedrock.setFaults(DEFAULT_FAULTS);
});

afterAll(async () => {
  await env?.stop();
});

/** `aws sqs send-message`, as the team types it; returns the message id. */
async function sendWithCli(body: string): Promise<string> {
  const sent = await awsCli([
    "sqs",
    "send-message",
    "--endpoint-url",
    sqsEndpoint(env.stack),
    "--queue-url",
    env.stack.queueUrl,
    "--message-body",
    body,
  ]);
  return String(sent.MessageId);
}

async function expectImageFor(jobId: string, prompt: string, size: [number, number]) {
  const job = await waitForJob(env, jobId);
  expect(job).toMatchObject({ jobId, status: "SUCCEEDED", source: "sqs", prompt });
  expect(job.s3Uri).toBe(`s3://${env.stack.bucket}/${imageKeyOf(env, jobId)}`);
  const image = await readImage(env, jobId);
  expect(image.contentType).toBe("image/png");
  expect([image.width, image.height]).toEqual(size);
  expect(decodeURIComponent(image.metadata.prompt ?? "")).toBe(prompt);
}

describe("a message on the queue becomes an image, its jobId the message id", () => {
  it("JSON body, sent with the SDK", async () => {
    const prompt = "a red cabin by a lake";
    const messageId = await sendMessage(env, JSON.stringify({ prompt, width: 512, height: 384 }));

    await expectImageFor(messageId, prompt, [512, 384]);
  });

  it("plain-text body, sent with the SDK: the whole body is the prompt, at the default size", async () => {
    const prompt = "me on top of a pyramid";
    const messageId = await sendMessage(env, prompt);

    await expectImageFor(messageId, prompt, [1024, 1024]);
  });

  it("a body that starts like JSON but is not JSON is a plain-text prompt", async () => {
    const prompt = '{"prompt": "unterminated';
    const messageId = await sendMessage(env, prompt);

    await expectImageFor(messageId, prompt, [1024, 1024]);
  });

  it.skipIf(skipWithoutAwsCli)("JSON body, sent with the AWS CLI", async () => {
    const prompt = "a tram in Oslo in the rain";
    const messageId = await sendWithCli(JSON.stringify({ prompt, width: 320, height: 320 }));

    await expectImageFor(messageId, prompt, [320, 320]);
  });

  it.skipIf(skipWithoutAwsCli)("plain-text body with Norwegian letters and emoji, sent with the AWS CLI", async () => {
    const prompt = "Nordlys over Tromsø, blåbær og rømmegrøt 🌌🫐";
    const messageId = await sendWithCli(prompt);

    await expectImageFor(messageId, prompt, [1024, 1024]);
  });

  it("Norwegian letters and emoji in a JSON body, sent with the SDK", async () => {
    const prompt = "Ærlig talt, en elg på Øvre Årdal 🦌👨‍👩‍👧";
    const messageId = await sendMessage(env, JSON.stringify({ prompt, width: 320, height: 320 }));

    await expectImageFor(messageId, prompt, [320, 320]);
  });
});

// SQS delivers at least once: a message comes back when its consumer did not delete it in time (a Lambda timeout
// after StartExecution, a lost DeleteMessage). The local poller deletes each message within milliseconds, so the
// queue cannot be made to redeliver on cue without racing the poller. The first delivery therefore goes through the
// real queue and poller; the redeliveries are what the event source mapping would invoke the function with, handed
// to the same start-job SQS handler the stack loaded: the same message id and body, ApproximateReceiveCount 2 and 3.
describe("the same message delivered twice", () => {
  function redelivery(messageId: string, body: string, receiveCount: number): SQSEvent {
    const now = String(Date.now());
    return {
      Records: [
        {
          messageId,
          receiptHandle: `redelivery-${receiveCount}`,
          body,
          attributes: {
            ApproximateReceiveCount: String(receiveCount),
            SentTimestamp: now,
            SenderId: LOCAL_ACCOUNT,
            ApproximateFirstReceiveTimestamp: now,
          },
          messageAttributes: {},
          md5OfBody: "",
          eventSource: "aws:sqs",
          eventSourceARN: `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:couch-imagegen-jobs`,
          awsRegion: LOCAL_REGION,
        },
      ],
    };
  }

  it("starts one execution and stores one image, whether it comes back while the job runs or after it ended", async () => {
    const { sqsHandler } = await import("../../functions/start-job/handler");
    env.stack.bedrock.setFaults({ latencyMs: 300 });
    const bedrockCallsBefore = env.stack.bedrock.stats.requests;
    const body = JSON.stringify({ prompt: "a lost parcel delivered twice", width: 320, height: 320 });

    const messageId = await sendMessage(env, body);
    const executionArn = executionArnOf(env, messageId);
    await pollUntil(
      `the poller to start execution ${messageId}`,
      async () => (await listExecutions(env)).find((execution) => execution.name === messageId)?.status,
      (status) => status === "RUNNING",
    );
    const whileRunning = await sqsHandler(redelivery(messageId, body, 2));
    await waitForExecution(env, executionArn);
    const afterEnded = await sqsHandler(redelivery(messageId, body, 3));

    expect(whileRunning.batchItemFailures).toEqual([]);
    expect(afterEnded.batchItemFailures).toEqual([]);
    expect((await listExecutions(env)).filter((execution) => execution.name === messageId)).toHaveLength(1);
    expect((await waitForJob(env, messageId)).status).toBe("SUCCEEDED");
    expect(env.stack.bedrock.stats.requests - bedrockCallsBefore).toBe(1);
    expect(await objectExists(env, imageKeyOf(env, messageId))).toBe(true);
  });

  // The waiting room's own queue delivers at least once too. A generate message seen again while its job runs is the
  // fault tests' (test/fault/generator-dies.test.ts: the staged image is answered, not drawn again); after the job.
  it("a generate message delivered again after its job ended is dropped, without a Bedrock call", async () => {
    const messageId = await sendMessage(
      env,
      JSON.stringify({ prompt: "a generate message, twice", width: 320, height: 320 }),
    );
    await waitForJob(env, messageId);
    const first = generateRecords.get(messageId);
    const bedrockCallsBefore = env.stack.bedrock.stats.requests;

    const again = await generator({
      Records: [{ ...first!, attributes: { ...first!.attributes, ApproximateReceiveCount: "2" } }],
    });

    expect(first).toBeDefined();
    // Its heartbeat found the task over (TaskDoesNotExist): done, so the event source deletes it.
    expect(again.batchItemFailures).toEqual([]);
    expect(env.stack.bedrock.stats.requests).toBe(bedrockCallsBefore);
    expect((await waitForJob(env, messageId)).status).toBe("SUCCEEDED");
    expect((await listExecutions(env)).filter((execution) => execution.name === messageId)).toHaveLength(1);
  });
});

describe("bad messages end REJECTED with a readable cause, never with an image", () => {
  const cases: { name: string; body: string; cause: RegExp }[] = [
    {
      name: "an empty JSON prompt",
      body: '{"prompt": ""}',
      cause: /^"prompt" is empty: send at least one non-whitespace character$/,
    },
    { name: "a whitespace-only body", body: "   \n\t  ", cause: /^"prompt" is empty/ },
    {
      name: "a 1,025-character plain-text body",
      body: "d".repeat(1025),
      cause: /^"prompt" is 1025 characters long; Amazon Nova Canvas \(amazon\.nova-canvas-v1:0\) accepts at most 1024$/,
    },
    { name: '{"prompt": 5}', body: '{"prompt": 5}', cause: /^"prompt" must be a string, got a number$/ },
    { name: "a JSON body without a prompt", body: '{"text": "a lighthouse"}', cause: /^"prompt" is required/ },
    {
      name: "a control character escaped in JSON",
      body: '{"prompt": "a bell \\u0007 rings"}',
      cause: /control character U\+0007 at position 7; only printable text, tabs and line breaks are accepted$/,
    },
    {
      name: "a C1 control character in plain text",
      body: "next line\u0085here",
      cause: /control character U\+0085 at position 9/,
    },
    {
      name: "JSON nested 5,000 levels deep (it once failed every delivery into the DLQ)",
      body: `{"prompt": "a lighthouse", "seed": ${"[".repeat(5000)}${"]".repeat(5000)}}`,
      cause:
        /^The message body is nested 5001 levels deep; at most 20 levels are accepted: send a flat JSON object like \{"prompt": "\.\.\."\} or the prompt as plain text$/,
    },
    {
      name: "a 15 KB bad quality: the cause quotes a short excerpt",
      body: JSON.stringify({ prompt: "a lighthouse", quality: "q".repeat(15 * 1024) }),
      cause:
        /^"quality" must be one of standard, premium for Amazon Nova Canvas \(amazon\.nova-canvas-v1:0\), got "q{56}\.\.\.$/,
    },
    {
      name: "a size the model refuses",
      body: '{"prompt": "a lighthouse", "width": 100, "height": 100}',
      cause:
        /"width" must be a multiple of 16 from 320 to 4096 for Amazon Nova Canvas \(amazon\.nova-canvas-v1:0\), got 100/,
    },
  ];

  it.each(cases)("$name", async ({ body, cause }) => {
    const bedrockCallsBefore = env.stack.bedrock.stats.requests;
    const messageId = await sendMessage(env, body);

    const job = await waitForJob(env, messageId);

    expect(job).toMatchObject({ jobId: messageId, status: "REJECTED", error: "InvalidPrompt" });
    expect(job.cause).toMatch(cause);
    const execution = await waitForExecution(env, executionArnOf(env, messageId));
    // A rejection is not a failed execution (no alarm, no failure email): the record says why.
    expect(execution).toMatchObject({ status: "SUCCEEDED" });
    expect(await objectExists(env, imageKeyOf(env, messageId))).toBe(false);
    expect(env.stack.bedrock.stats.requests).toBe(bedrockCallsBefore);
  });

  it("an oversizedBodyBytes field in the body is the producer's, not the pipeline's: the job runs", async () => {
    const messageId = await sendMessage(
      env,
      JSON.stringify({ prompt: "a lighthouse", oversizedBodyBytes: 1, pipeline: { oversizedBodyBytes: 1 } }),
    );

    expect(await waitForJob(env, messageId)).toMatchObject({
      status: "SUCCEEDED",
      source: "sqs",
      prompt: "a lighthouse",
    });
  });

  it("an empty body never reaches the pipeline: SQS itself refuses it", async () => {
    await expect(sendMessage(env, "")).rejects.toMatchObject({ name: "MissingParameter" });
  });
});
