// Shared by the fault-injection files: the e2e local stack with a fault-injecting proxy between the pipeline and
// S3, DynamoDB and Step Functions (startLocalStack's `interpose` option), the faults AWS answers with, and readers
// of an execution's event history.

import { type InterceptedRequest, type Interception, type Interposer, startInterposer } from "../../bench/interposer";
import type { HistoryEvent } from "../../local/executions";
import type { InterposedService, LocalStackOptions } from "../../local/local-stack";
import { type E2eStack, executionArnOf, PIXEL_MODEL_ID, startE2eStack } from "../e2e/helpers";

/** What to do with a request; a promise holds it until it settles (a hung call). */
export type FaultRule = (request: InterceptedRequest) => Interception | Promise<Interception>;

export interface FaultStack extends E2eStack {
  /** Puts a rule on a service's proxy (replacing its previous one); requests it passes reach the emulator. */
  inject: (service: InterposedService, rule: FaultRule) => void;
  /** Removes every rule. */
  clearFaults: () => void;
  /** Requests the pipeline sent to each service since the stack started, by `<service>:<operation>`. */
  requests: Map<string, InterceptedRequest[]>;
}

/** The e2e stack (free ports, fresh data dir, retry intervals ×0.01) with a fault proxy in front of three services. */
export async function startFaultStack(
  options: Omit<LocalStackOptions, "ports" | "dataDir" | "fresh" | "log" | "interpose"> = {},
): Promise<FaultStack> {
  const rules = new Map<InterposedService, FaultRule>();
  const requests = new Map<string, InterceptedRequest[]>();
  const interposers: Interposer[] = [];
  const env = await startE2eStack({
    modelId: PIXEL_MODEL_ID,
    ...options,
    interpose: async (service, url) => {
      const interposer = await startInterposer(url, service, (request) => {
        const key = `${service}:${request.operation}`;
        requests.set(key, [...(requests.get(key) ?? []), request]);
        return rules.get(service)?.(request);
      });
      interposers.push(interposer);
      return interposer.url;
    },
  });
  return {
    ...env,
    inject: (service, rule) => {
      rules.set(service, rule);
    },
    clearFaults: () => rules.clear(),
    requests,
    stop: async () => {
      await env.stop();
      await Promise.all(interposers.map((interposer) => interposer.close()));
    },
  };
}

/** A rule that applies `fault` to the first `count` requests `matches` accepts, then lets them all through. */
export function firstMatching(
  count: number,
  matches: (request: InterceptedRequest) => boolean,
  fault: Interception,
): FaultRule & { applied: () => number } {
  let applied = 0;
  const rule = (request: InterceptedRequest) => {
    if (applied >= count || !matches(request)) return undefined;
    applied++;
    return fault;
  };
  return Object.assign(rule, { applied: () => applied });
}

/** Whether the request concerns this job: its key (S3) or its name or key attribute (JSON services) names it. */
export function concernsJob(request: InterceptedRequest, jobId: string): boolean {
  return request.url.includes(jobId) || request.body.toString("utf8").includes(jobId);
}

/** S3's answer when it sheds load: 503 SlowDown. */
export const S3_SLOW_DOWN: Interception = {
  respond: {
    status: 503,
    headers: { "content-type": "application/xml" },
    body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>FAULT</RequestId></Error>',
  },
};

/** CopyObject's documented quirk: 200 OK whose body is an error (the copy failed after the response began). */
export const S3_COPY_200_WITH_ERROR: Interception = {
  respond: {
    status: 200,
    headers: { "content-type": "application/xml" },
    body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>FAULT</RequestId></Error>',
  },
};

/** A DynamoDB JSON-protocol error, as the service sends it. */
export function dynamodbError(type: string, status: number, message: string): Interception {
  return {
    respond: {
      status,
      headers: { "content-type": "application/x-amz-json-1.0", "x-amzn-errortype": type },
      body: JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message }),
    },
  };
}

/** Step Functions refusing a call over its rate: 400 ThrottlingException "Rate exceeded". */
export const SFN_THROTTLED: Interception = {
  respond: {
    status: 400,
    headers: { "content-type": "application/x-amz-json-1.0" },
    body: JSON.stringify({ __type: "ThrottlingException", message: "Rate exceeded" }),
  },
};

/** The history of a finished execution, as GetExecutionHistory would list it. */
export function historyOf(env: E2eStack, jobId: string): HistoryEvent[] {
  return env.stack.executions.describe(executionArnOf(env, jobId)).history;
}

/**
 * Every attempt of a task state: its TaskScheduled events (a retry schedules the task again), and the errors of its
 * TaskFailed and TaskTimedOut ones, in order. TaskScheduled names the resource (`lambda` `invoke`, `sqs`
 * `sendMessage.waitForTaskToken`), not the state: the state is the one the last TaskStateEntered named.
 */
export function attemptsOf(history: readonly HistoryEvent[], state: string): { attempts: number; errors: string[] } {
  let attempts = 0;
  const errors: string[] = [];
  let current: string | undefined;
  for (const event of history) {
    if (event.type === "TaskStateEntered") current = String((event.stateEnteredEventDetails as { name?: string }).name);
    if (current !== state) continue;
    if (event.type === "TaskScheduled") attempts++;
    const failure = event.taskFailedEventDetails ?? event.taskTimedOutEventDetails;
    if (failure) errors.push(String((failure as { error?: string }).error));
  }
  return { attempts, errors };
}
