/**
 * Public on-demand prices, us-east-1, as docs/ARCHITECTURE.md §2.2 lists them with the copy each was read from and
 * its date (this sandbox has no internet; the architecture document's sources are the project's one record of them).
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
    unit: "SQS Standard request (each 64 KB chunk)",
    source: "cloudburn.io Amazon SQS pricing, 2026-03-14",
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
  novaCanvasImage: {
    usd: 0.04,
    unit: "Nova Canvas image, standard, up to 1024x1024 (premium $0.06; up to 2048x2048 $0.06 / $0.08)",
    source: "AWS Price List Bulk API, AmazonBedrock us-east-1, publication 2026-09-01",
  },
} as const satisfies Record<string, Price>;
