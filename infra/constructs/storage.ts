import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { AttributeType, BillingMode, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket, ObjectOwnership } from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { IMAGE_FORMATS, imageKey, stagingKey } from "../../functions/shared/image-keys";
import type { OutputFormat } from "../../functions/shared/models/family";
import { CONFIG_DEFAULTS, IMAGE_RETENTION_MARGIN_DAYS } from "../config";

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
  /**
   * Days a generated image is kept before S3 lifecycle deletes it, counted from when StoreImage wrote it. Only for
   * the bucket this construct creates: an existing bucket (`bucketName`) gets no lifecycle rules.
   * @default 37 - the default status retention (30 days) plus a week, so an image outlives the record pointing at it
   */
  readonly imageRetentionDays?: number;
}

/** The default `imageRetentionDays`, as infra/config.ts derives it from the default `statusRetentionDays`. */
const DEFAULT_IMAGE_RETENTION_DAYS = CONFIG_DEFAULTS.statusRetentionDays + IMAGE_RETENTION_MARGIN_DAYS;

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
    if (props.imageRetentionDays !== undefined) {
      if (props.bucketName !== undefined) {
        throw new Error(
          "imageRetentionDays applies only to a bucket this construct creates: omit it with bucketName " +
            "(the existing bucket's owner sets its lifecycle)",
        );
      }
      if (!Number.isInteger(props.imageRetentionDays) || props.imageRetentionDays < 1) {
        throw new Error(
          `imageRetentionDays must be a whole number of days, at least 1, got ${props.imageRetentionDays}`,
        );
      }
    }
    // The same key builders as the functions, with the jobId as the wildcard: IAM and code cannot disagree.
    const formats = Object.keys(IMAGE_FORMATS) as OutputFormat[];
    this.stagingKeys = formats.map((format) => stagingKey(this.keyPrefix, "*", format));
    this.imageKeys = formats.map((format) => imageKey(this.keyPrefix, "*", format));
    // Lifecycle rules match by prefix: the folder of those same keys.
    const folderOf = (key: string) => key.slice(0, key.lastIndexOf("/") + 1);

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
        // Unversioned: in a versioned bucket an expiration only adds a delete marker and the image stays, billed
        // (docs/ARCHITECTURE.md §1.12 says why nothing here needs old versions).
        versioned: false,
        serverAccessLogsBucket: this.accessLogsBucket,
        serverAccessLogsPrefix: "image-bucket/",
        lifecycleRules: [
          {
            id: "ExpireStagedImages",
            // StoreImage deletes each staged image; this catches those of executions that failed after GenerateImage.
            prefix: folderOf(this.stagingKeys[0]!),
            expiration: Duration.days(1),
          },
          {
            id: "ExpireGeneratedImages",
            // After the status record that points at the image (infra/config.ts: MIN_IMAGE_RETENTION_MARGIN_DAYS).
            prefix: folderOf(this.imageKeys[0]!),
            expiration: Duration.days(props.imageRetentionDays ?? DEFAULT_IMAGE_RETENTION_DAYS),
          },
          { id: "AbortIncompleteUploads", abortIncompleteMultipartUploadAfter: Duration.days(1) },
        ],
        // Kept if the stack is deleted: generated images are the product (ExpireGeneratedImages still ages them out).
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
