// Fault injection on StartExecution, the call both start-job adapters make: a proxy between the handlers and the
// local Step Functions endpoint answers 400 ThrottlingException ("Rate exceeded"), as Step Functions does over its
// StartExecution rate. SQS path (visibility timeout 1 s, maxReceiveCount 3, as the event source mapping and the
// redrive policy work): a throttled message comes back and is started, once; a message throttled on every delivery
// lands in the DLQ, intact. API path: the caller gets 503 with Retry-After, and a retry with the same
// Idempotency-Key starts the job once. The SQS emulator, not SQS, counts the receives; the SDK's own retries run
// inside each delivery as they would in Lambda.

import { join } from "node:path";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { InterceptedRequest } from "../../bench/interposer";
import { SqsJournal } from "../../local/sqs-journal";
import { listExecutions, pollUntil, postGenerateImage, sendMessage, waitForJob } from "../e2e/helpers";
import { type FaultStack, SFN_THROTTLED, startFaultStack } from "./fault-stack";

const MAX_RECEIVE_COUNT = 3;

let env: FaultStack;

beforeAll(async () => {
  env = await startFaultStack({ sqs: { visibilityTimeoutSeconds: 1, maxReceiveCount: MAX_RECEIVE_COUNT } });
});

afterEach(() => {
  env.clearFaults();
});

afterAll(async () => {
  await env?.stop();
});

/** The StartExecution calls whose execution input carries `marker` (a job's unique prompt). */
function callsFor(marker: string): { name?: string; requestedAt: string }[] {
  return (env.requests.get("stepFunctions:StartExecution") ?? []).flatMap((request) => parseCall(request, marker));
}

function parseCall(request: InterceptedRequest, marker: string): { name?: string; requestedAt: string }[] {
  const call = JSON.parse(request.body.toString("utf8")) as { name?: string; input?: string };
  if (!call.input?.includes(marker)) return [];
  return [{ name: call.name, requestedAt: (JSON.parse(call.input) as { requestedAt?: string }).requestedAt ?? "" }];
}

/**
 * Each delivery of a message (and each POST) builds the execution input afresh, with its own `requestedAt`; the
 * SDK's retries within one delivery resend the same body. So the distinct `requestedAt` values of a job's
 * StartExecution calls count its deliveries, whatever the SDK's retry settings.
 */
function deliveriesOf(marker: string): number {
  return new Set(callsFor(marker).map((call) => call.requestedAt)).size;
}

/** Throttles every StartExecution of the job whose prompt is `marker` until its `throughDelivery`-th delivery. */
function throttleUntilDelivery(marker: string, throughDelivery: number) {
  return (request: InterceptedRequest) => {
    if (request.operation !== "StartExecution") return undefined;
    const [call] = parseCall(request, marker);
    if (!call) return undefined;
    const earlier = new Set(
      callsFor(marker)
        .map((seen) => seen.requestedAt)
        .filter((time) => time !== call.requestedAt),
    );
    return earlier.size + 1 < throughDelivery ? SFN_THROTTLED : undefined;
  };
}

describe("StartExecution throttled on the SQS path", () => {
  it("leaves the message on the queue, which delivers it again and starts the job once", async () => {
    const prompt = "a lighthouse, second time lucky";
    env.inject("stepFunctions", throttleUntilDelivery(prompt, 2));

    const messageId = await sendMessage(env, JSON.stringify({ prompt }));
    const job = await waitForJob(env, messageId, 30_000);

    expect(job.status).toBe("SUCCEEDED");
    expect(deliveriesOf(prompt)).toBe(2);
    expect((await listExecutions(env)).filter((execution) => execution.name === messageId)).toHaveLength(1);
  });

  it(`moves a message throttled on all ${MAX_RECEIVE_COUNT} deliveries to the DLQ, intact, with no execution`, async () => {
    const prompt = "a lighthouse the pipeline is too busy for";
    env.inject("stepFunctions", throttleUntilDelivery(prompt, Number.POSITIVE_INFINITY));
    const body = JSON.stringify({ prompt });

    const messageId = await sendMessage(env, body);
    const dead = await pollUntil(
      `message ${messageId} in the DLQ`,
      async () =>
        (
          await env.sqs.send(
            new ReceiveMessageCommand({ QueueUrl: env.stack.dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
          )
        ).Messages ?? [],
      (messages) => messages.some((message) => message.MessageId === messageId),
      30_000,
    );

    expect(dead.find((message) => message.MessageId === messageId)?.Body).toBe(body);
    // The local DLQ is in memory too: the journal keeps the message, so a restart puts it back in the DLQ
    // instead of losing it (test/e2e/local-dlq-restart.test.ts).
    const journal = new SqsJournal(join(env.stack.dataDir, "sqs-journal.jsonl"));
    expect(journal.pending().map((message) => message.messageId)).toContain(messageId);
    expect(deliveriesOf(prompt)).toBe(MAX_RECEIVE_COUNT);
    expect((await listExecutions(env)).filter((execution) => execution.name === messageId)).toHaveLength(0);
  });
});

describe("StartExecution throttled on the API path", () => {
  it("answers 503 with Retry-After, and the retry with the same Idempotency-Key starts the job once", async () => {
    const jobId = "fault-sfn-api";
    const prompt = "a lighthouse, busy";
    env.inject("stepFunctions", throttleUntilDelivery(prompt, 2));

    const busy = await postGenerateImage(env, { prompt }, { "Idempotency-Key": jobId });
    const retried = await postGenerateImage(env, { prompt }, { "Idempotency-Key": jobId });
    const job = await waitForJob(env, jobId);

    expect(busy.status).toBe(503);
    expect(busy.headers.get("retry-after")).toBe("5");
    expect(String(busy.body.message)).toMatch(/retry .* same Idempotency-Key/);
    expect(retried.status).toBe(202);
    expect(job.status).toBe("SUCCEEDED");
    expect((await listExecutions(env)).filter((execution) => execution.name === jobId)).toHaveLength(1);
  });
});
