import { Duration } from "aws-cdk-lib";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import {
  GENERATE_MAX_RECEIVES,
  GENERATE_VISIBILITY_TIMEOUT_SECONDS,
  GENERATOR_ENV,
} from "../../functions/shared/waiting-room";
import { EVENT_SOURCE_CONCURRENCY } from "../config";
import { acknowledgeWildcardResource } from "../nag";
import type { LambdaFunction } from "./lambda-function";
import { redrivenQueue } from "./redriven-queue";

export interface WaitingRoomProps {
  /**
   * The function that takes jobs off the generate queue, calls Bedrock and answers each job's task token. Its
   * timeout must be at most a sixth of the queue's visibility timeout (GENERATE_VISIBILITY_TIMEOUT_SECONDS).
   */
  readonly generator: LambdaFunction;
  /** Most generators running at once, so most Bedrock calls at once: the event source's MaximumConcurrency. */
  readonly bedrockConcurrency: number;
}

/**
 * The waiting room in front of Bedrock: the generate queue (and its DLQ) that GenerateImage's callback task puts each
 * job on with its task token, and the event source that hands the jobs, one at a time, to at most
 * `bedrockConcurrency` generators. A job past that waits in the queue at no cost instead of being throttled and
 * retried. The generator gets the queue's environment together with the grants it needs: consuming the queue (the
 * event source's grant, whose ChangeMessageVisibility also puts a throttled job back) and answering task tokens.
 */
export class WaitingRoom extends Construct {
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: WaitingRoomProps) {
    super(scope, id);
    checkBedrockConcurrency(props.bedrockConcurrency);
    const { generator } = props;
    // Lambda's default timeout is 3 s.
    const generatorTimeout = generator.function.timeout?.toSeconds() ?? 3;
    // Lambda's guidance for an SQS event source: a visibility timeout of six times the function timeout, so a job
    // is not handed to a second generator while the first is still on it.
    if (6 * generatorTimeout > GENERATE_VISIBILITY_TIMEOUT_SECONDS) {
      throw new Error(
        `the generator's timeout (${generatorTimeout} s) must be at most a sixth of the generate queue's visibility ` +
          `timeout (${GENERATE_VISIBILITY_TIMEOUT_SECONDS} s): shorten the function's timeout`,
      );
    }

    ({ queue: this.queue, deadLetterQueue: this.deadLetterQueue } = redrivenQueue(this, {
      visibilityTimeout: Duration.seconds(GENERATE_VISIBILITY_TIMEOUT_SECONDS),
      // Every Bedrock throttle is a receive, hence the large budget; the generator fails the task on the last one.
      maxReceiveCount: GENERATE_MAX_RECEIVES,
    }));

    generator.function.addEnvironment(GENERATOR_ENV.queueUrl, this.queue.queueUrl);
    generator.function.addEnvironment(GENERATOR_ENV.maxReceives, String(GENERATE_MAX_RECEIVES));
    generator.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: 1,
        maxConcurrency: props.bedrockConcurrency,
        reportBatchItemFailures: true,
      }),
    );

    generator.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
        resources: ["*"],
      }),
    );
    acknowledgeWildcardResource(
      generator.role,
      "*",
      "states:SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat list no resource types in the Service " +
        "Authorization Reference, so they must be granted on '*' " +
        "(https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html); a call " +
        "acts only on the task whose token it carries, and only the generate queue's messages carry tokens.",
    );
  }
}

/** Rejects a bedrockConcurrency Lambda would refuse as an SQS event source's MaximumConcurrency. */
export function checkBedrockConcurrency(bedrockConcurrency: number): void {
  const { min, max } = EVENT_SOURCE_CONCURRENCY;
  if (!Number.isInteger(bedrockConcurrency) || bedrockConcurrency < min || bedrockConcurrency > max) {
    throw new Error(
      `bedrockConcurrency must be a whole number from ${min} to ${max} (an SQS event source's MaximumConcurrency), ` +
        `got ${bedrockConcurrency}`,
    );
  }
}
