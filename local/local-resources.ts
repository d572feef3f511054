// What the CDK stack would create, made idempotently on the emulators, and the names and ARNs it would give them.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CreateTableCommand, type DynamoDBClient, ResourceInUseException } from "@aws-sdk/client-dynamodb";
import { CreateBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import { CreateTopicCommand, type SNSClient } from "@aws-sdk/client-sns";
import { CreateQueueCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { stagingKey } from "../functions/shared/image-keys";
import { LOCAL_ACCOUNT, LOCAL_REGION } from "./emulators";

export const QUEUE_NAME = "couch-imagegen-jobs";
export const DLQ_NAME = "couch-imagegen-jobs-dlq";
const GENERATE_QUEUE_NAME = "couch-imagegen-generate";
const GENERATE_DLQ_NAME = "couch-imagegen-generate-dlq";
const ALERTS_INBOX_NAME = "couch-imagegen-alerts-inbox";
export const STATE_MACHINE_ARN = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:ImagePipeline`;
export const FUNCTION_ARN = `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function`;

interface ResourceClients {
  sqs: SQSClient;
  dynamodb: DynamoDBClient;
  s3: S3Client;
  sns: SNSClient;
}

/**
 * What the CDK stack creates, made idempotently on the emulators, and the alerts inbox: `deliver` subscribes it to
 * the alerts topic.
 */
export async function createResources(
  clients: ResourceClients,
  names: { bucket: string; tableName: string; maxReceiveCount: number; generateMaxReceives: number },
  deliver: (topicArn: string, queueUrl: string) => Promise<void>,
) {
  const dlq = await clients.sqs.send(new CreateQueueCommand({ QueueName: DLQ_NAME }));
  const dlqArn = `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${DLQ_NAME}`;
  const queue = await clients.sqs.send(
    new CreateQueueCommand({
      QueueName: QUEUE_NAME,
      Attributes: {
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: names.maxReceiveCount }),
      },
    }),
  );
  const generateDlq = await clients.sqs.send(new CreateQueueCommand({ QueueName: GENERATE_DLQ_NAME }));
  const generateQueue = await clients.sqs.send(
    new CreateQueueCommand({
      QueueName: GENERATE_QUEUE_NAME,
      Attributes: {
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${GENERATE_DLQ_NAME}`,
          maxReceiveCount: names.generateMaxReceives,
        }),
      },
    }),
  );
  await clients.s3.send(new CreateBucketCommand({ Bucket: names.bucket })).catch((error: Error) => {
    if (error.name !== "BucketAlreadyOwnedByYou" && error.name !== "BucketAlreadyExists") throw error;
  });
  await clients.dynamodb
    .send(
      new CreateTableCommand({
        TableName: names.tableName,
        KeySchema: [{ AttributeName: "jobId", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "jobId", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    )
    .catch((error: Error) => {
      if (!(error instanceof ResourceInUseException)) throw error;
    });
  const topic = await clients.sns.send(new CreateTopicCommand({ Name: "couch-imagegen-alerts" }));
  const inbox = await clients.sqs.send(new CreateQueueCommand({ QueueName: ALERTS_INBOX_NAME }));
  await deliver(topic.TopicArn ?? "", inbox.QueueUrl ?? "");
  return {
    queueUrl: queue.QueueUrl ?? "",
    queueArn: `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${QUEUE_NAME}`,
    dlqUrl: dlq.QueueUrl ?? "",
    generateQueueUrl: generateQueue.QueueUrl ?? "",
    generateQueueArn: `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${GENERATE_QUEUE_NAME}`,
    generateDlqUrl: generateDlq.QueueUrl ?? "",
    alertsTopicArn: topic.TopicArn ?? "",
    alertsInboxUrl: inbox.QueueUrl ?? "",
  };
}

/**
 * s3rver deletes an object's directory once it is empty, racing a concurrent PutObject into it: the write stream
 * then fails with ENOENT on an 'error' event nobody listens to, and the whole process dies (seen in a 300-job burst).
 * A plain file in the staging directory (not an S3 object: s3rver lists only its own `._S3rver_object` files)
 * keeps it from ever being empty.
 */
export function pinStagingDirectory(dataDir: string, bucket: string, keyPrefix: string): void {
  const directory = join(dataDir, "s3", bucket, ...stagingKey(keyPrefix, "pin").split("/").slice(0, -1));
  mkdirSync(directory, { recursive: true });
  writeFileSync(join(directory, ".couch-imagegen-keeps-this-directory"), "");
}
