import { imagePriceUsd, resolveModel } from "../functions/shared/models/catalog";

/**
 * Public on-demand prices of everything beyond Bedrock, us-east-1, as docs/ARCHITECTURE.md §2.2 lists them with the copy
 * each was read from and its date (this sandbox has no internet; the architecture document's sources are the project's
 * one record of them). The Bedrock price per image is per model: MODEL_PRICES below, whose figures are the model catalog's
 * (functions/shared/models/catalog.ts, which GenerateImage's spend metric reads too), with docs/MODELS.md, Prices.
 * No free tiers are applied: a production account at volume is past them. Re-check before a budget decision.
 */
export const PRICE_SOURCE = "docs/ARCHITECTURE.md §2.2 (prices used)";

export interface Price {
  usd: number;
  unit: string;
  /** The copy the price was read from, and its date, as docs/ARCHITECTURE.md cites it. */
  source: string;
}

export const PRICES = {
  standardTransition: {
    usd: 0.025 / 1000,
    unit: "state transition (Standard), retries included",
    source: "aws.amazon.com/step-functions/pricing (rules); wring.co, 2026-03-14 (figure)",
  },
  expressRequest: {
    usd: 1.0 / 1_000_000,
    unit: "execution started (Express)",
    source: "aws.amazon.com/step-functions/pricing; wring.co, 2026-03-14",
  },
  expressGbSecond: {
    usd: 0.00001667,
    unit: "GB-second (Express: duration rounded up to 100 ms, memory in 64 MB chunks)",
    source: "aws.amazon.com/step-functions/pricing; wring.co, 2026-03-14",
  },
  lambdaRequest: {
    usd: 0.2 / 1_000_000,
    unit: "Lambda invocation",
    source: "aws.amazon.com/lambda/pricing via api-evangelist/aws-lambda, 2026-05-05",
  },
  lambdaArmGbSecond: {
    usd: 0.0000133334,
    unit: "Lambda GB-second, arm64",
    source: "aws.amazon.com/lambda/pricing via api-evangelist/aws-lambda, 2026-05-05",
  },
  dynamodbWrite: {
    usd: 0.625 / 1_000_000,
    unit: "DynamoDB on-demand write request unit (1 KB)",
    source: "airbyte.com DynamoDB pricing (undated; after the November 2024 cut)",
  },
  dynamodbRead: {
    usd: 0.125 / 1_000_000,
    unit: "DynamoDB on-demand read request unit (4 KB, strongly consistent)",
    source: "airbyte.com DynamoDB pricing (undated; after the November 2024 cut)",
  },
  s3Put: {
    usd: 0.005 / 1000,
    unit: "S3 Standard PUT, COPY, POST or LIST request (DELETE is free)",
    source: "c3x.dev S3 request fees, 2026",
  },
  s3Get: { usd: 0.0004 / 1000, unit: "S3 Standard GET or HEAD request", source: "c3x.dev S3 request fees, 2026" },
  s3GbMonth: { usd: 0.023, unit: "S3 Standard GB-month", source: "not looked up (docs/ARCHITECTURE.md: assumption)" },
  apiGatewayRequest: {
    usd: 3.5 / 1_000_000,
    unit: "API Gateway REST API request, first 333 million/month",
    source: "AWS whitepaper, API Gateway private APIs, Table 4 (undated)",
  },
  sqsRequest: {
    usd: 0.4 / 1_000_000,
    unit: "SQS Standard request, any action (send, receive, delete, change visibility), each 64 KB chunk of payload",
    source:
      "cloudburn.io Amazon SQS pricing, 2026-03-14 ($0.40 per million, first 100 billion a month); 64 KB chunks: aws.amazon.com/jp/sqs/features (stored copy, undated)",
  },
  stepFunctionsApiRequest: {
    usd: 0,
    unit: "Step Functions API request (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat): not billed, Standard bills state transitions",
    source:
      "aws.amazon.com/step-functions/pricing (stored copy, undated): charged by state transitions; other services a workflow uses bill their own requests",
  },
  logsIngestedGb: {
    usd: 0.5,
    unit: "CloudWatch Logs GB ingested",
    source: "c3x.dev CloudWatch Logs cost optimization, June 2026",
  },
  xrayTrace: {
    usd: 5.0 / 1_000_000,
    unit: "X-Ray trace recorded",
    source: "aws.amazon.com/xray/pricing (stored copies)",
  },
} as const satisfies Record<string, Price>;

/** The model whose price the headline figures (bedrockPer1000, the target "share of the Bedrock price") use. */
export const DEFAULT_MODEL_ID = "stability.stable-image-core-v1:1";

/** One Bedrock on-demand price per generated image, for one model id (and, for Nova Canvas, one quality tier). */
export interface ModelPrice extends Price {
  modelId: string;
  /** Set where one model id has several prices (Nova Canvas standard / premium). */
  variant?: string;
  name: string;
  family: "stability-image" | "amazon-image";
  /** Lifecycle as the Bedrock "Model lifecycle" pages and model cards give it (docs/MODELS.md, Lifecycle). */
  lifecycle: string;
  /** The Region the price is for. */
  region: string;
  /** False where no AWS page with the figure was found: the figure is a third-party one or an assumption. */
  confirmed: boolean;
}

/** The catalog's price of a 1024x1024 image of `modelId`: one copy of each figure, shared with the spend metric. */
function catalogUsd(modelId: string, quality: "standard" | "premium" = "standard"): number {
  return imagePriceUsd(resolveModel(modelId).model, { quality, width: 1024, height: 1024 });
}

/**
 * Bedrock price per image, per model id. Only Nova Canvas's figures come from an AWS source (the AWS Price List Bulk API,
 * as the project already cites it); the stored copies of aws.amazon.com/bedrock/pricing render no figures, and no AWS
 * page with the Stability or Titan prices was found (docs/MODELS.md, "Not confirmed"). Check the AWS Marketplace rate
 * card (bedrock:ListFoundationModelAgreementOffers) or the Price List before any budget decision.
 */
export const MODEL_PRICES: readonly ModelPrice[] = [
  {
    modelId: "stability.stable-image-core-v1:1",
    name: "Stable Image Core",
    family: "stability-image",
    lifecycle: "Active",
    region: "us-west-2",
    confirmed: false,
    usd: catalogUsd("stability.stable-image-core-v1:1"),
    unit: "image (any aspect ratio)",
    source:
      "NOT on an AWS page found here; third-party: AWS Marketplace rate card observed via ListFoundationModelAgreementOffers (public build notes), and public price maps",
  },
  {
    modelId: "stability.stable-image-ultra-v1:1",
    name: "Stable Image Ultra",
    family: "stability-image",
    lifecycle: "Active",
    region: "us-west-2",
    confirmed: false,
    usd: catalogUsd("stability.stable-image-ultra-v1:1"),
    unit: "image (any aspect ratio)",
    source:
      "NOT on an AWS page found here; third-party: Marketplace rate card observed (public build notes) and public price maps; one third-party note says ~$0.08",
  },
  {
    modelId: "stability.sd3-5-large-v1:0",
    name: "Stable Diffusion 3.5 Large",
    family: "stability-image",
    lifecycle: "Active",
    region: "us-west-2",
    confirmed: false,
    usd: catalogUsd("stability.sd3-5-large-v1:0"),
    unit: "image (any aspect ratio)",
    source: "NOT on an AWS page found here; third-party public price maps only (one third-party note says ~$0.06)",
  },
  {
    modelId: "amazon.nova-canvas-v1:0",
    variant: "standard",
    name: "Nova Canvas",
    family: "amazon-image",
    lifecycle: "Legacy 2026-03-30, EOL 2026-09-30",
    region: "us-east-1",
    confirmed: true,
    usd: catalogUsd("amazon.nova-canvas-v1:0", "standard"),
    unit: "image, standard, up to 1024x1024 (up to 2048x2048: $0.06)",
    source: "AWS Price List Bulk API, AmazonBedrock us-east-1, publication 2026-09-01",
  },
  {
    modelId: "amazon.nova-canvas-v1:0",
    variant: "premium",
    name: "Nova Canvas",
    family: "amazon-image",
    lifecycle: "Legacy 2026-03-30, EOL 2026-09-30",
    region: "us-east-1",
    confirmed: true,
    usd: catalogUsd("amazon.nova-canvas-v1:0", "premium"),
    unit: "image, premium, up to 1024x1024 (up to 2048x2048: $0.08)",
    source: "AWS Price List Bulk API, AmazonBedrock us-east-1, publication 2026-09-01",
  },
  {
    modelId: "amazon.titan-image-generator-v2:0",
    name: "Titan Image Generator G1 v2",
    family: "amazon-image",
    lifecycle: "Legacy 2025-12-30, EOL 2026-06-30",
    region: "us-east-1",
    confirmed: false,
    usd: catalogUsd("amazon.titan-image-generator-v2:0"),
    unit: "image, standard, 1024x1024",
    source: "assumption (docs/ARCHITECTURE.md §2.2: not found in stored material); third-party price maps say $0.008",
  },
  {
    modelId: "amazon.titan-image-generator-v1",
    name: "Titan Image Generator G1",
    family: "amazon-image",
    lifecycle: "not listed on the Model lifecycle pages read",
    region: "us-east-1",
    confirmed: false,
    usd: catalogUsd("amazon.titan-image-generator-v1"),
    unit: "image, standard, 1024x1024",
    source: "assumption, as for v2 (no AWS figure found); third-party price maps say $0.008",
  },
];

/** The price of one model id (and variant); the first entry for the id when no variant is given. */
export function modelPrice(modelId: string, variant?: string): ModelPrice {
  const price = MODEL_PRICES.find(
    (entry) => entry.modelId === modelId && (variant === undefined || entry.variant === variant),
  );
  if (!price) throw new Error(`no Bedrock price for model ${modelId}${variant ? ` (${variant})` : ""}`);
  return price;
}
