import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { AttributeType, BillingMode, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket, ObjectOwnership } from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { IMAGE_FORMATS, imageKey, prefixPath, stagingKey } from "../../functions/shared/image-keys";
import type { OutputFormat } from "../../functions/shared/models/family";

export interface ImageStorageProps {
  /**
   * Name of an existing bucket to store images in (e.g. a shared bucket, each deployment under its own prefix).
   * @default - the stack creates a private, encrypted bucket
   */
  readonly bucketName?: string;
  /**
   * Key prefix every object key starts with, without leading or trailing `/`.
   * @default "" - keys start at the bucket root
   */
  readonly keyPrefix?: string;
}

/**
 * Where results live: the image bucket (created or imported) with the key layout the functions use
 * (`{keyPrefix}/staging/{jobId}.png`, then `{keyPrefix}/generated_images/{jobId}.png`; `.jpg` for JPEG), and the job status table.
 */
export class ImageStorage extends Construct {
  public readonly bucket: IBucket;
  /** Set only when the stack created the image bucket. */
  public readonly accessLogsBucket: Bucket | undefined;
  public readonly keyPrefix: string;
  /** Key patterns of every staged image (one per output format), for IAM resources. */
  public readonly stagingKeys: readonly string[];
  /** Key patterns of every final image (one per output format), for IAM resources. */
  public readonly imageKeys: readonly string[];
  public readonly jobStatusTable: Table;

  constructor(scope: Construct, id: string, props: ImageStorageProps = {}) {
    super(scope, id);
    this.keyPrefix = props.keyPrefix ?? "";
    if (this.keyPrefix !== this.keyPrefix.replace(/^\/+|\/+$/g, "") || /[*?$]/.test(this.keyPrefix)) {
      throw new Error(
        `keyPrefix "${this.keyPrefix}" must have no leading or trailing '/' and no '*', '?' or '$' ` +
          "(they would act as IAM wildcards or policy variables)",
      );
    }
    // The same key builders as the functions, with the jobId as the wildcard: IAM and code cannot disagree.
    const formats = Object.keys(IMAGE_FORMATS) as OutputFormat[];
    this.stagingKeys = formats.map((format) => stagingKey(this.keyPrefix, "*", format));
    this.imageKeys = formats.map((format) => imageKey(this.keyPrefix, "*", format));

    if (props.bucketName === undefined) {
      this.accessLogsBucket = new Bucket(this, "AccessLogsBucket", {
        blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
        encryption: BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        // No ACLs: log delivery is allowed by bucket policy
        // (cdk.json: @aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy).
        objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycleRules: [{ id: "ExpireAccessLogs", expiration: Duration.days(90) }],
        removalPolicy: RemovalPolicy.RETAIN,
      });
      this.bucket = new Bucket(this, "ImageBucket", {
        blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
        encryption: BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned: false,
        serverAccessLogsBucket: this.accessLogsBucket,
        serverAccessLogsPrefix: "image-bucket/",
        lifecycleRules: [
          {
            id: "ExpireStagedImages",
            // StoreImage deletes each staged image; this catches those of executions that failed after GenerateImage.
            prefix: `${prefixPath(this.keyPrefix)}staging/`,
            expiration: Duration.days(1),
          },
          { id: "AbortIncompleteUploads", abortIncompleteMultipartUploadAfter: Duration.days(1) },
        ],
        // Generated images are the product: keep them if the stack is deleted.
        removalPolicy: RemovalPolicy.RETAIN,
      });
    } else {
      this.accessLogsBucket = undefined;
      this.bucket = Bucket.fromBucketName(this, "ImageBucket", props.bucketName);
    }

    this.jobStatusTable = new Table(this, "JobStatusTable", {
      partitionKey: { name: "jobId", type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      // ValidatePrompt computes expiresAt (epoch seconds) from STATUS_RETENTION_DAYS; DynamoDB deletes expired records.
      timeToLiveAttribute: "expiresAt",
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
