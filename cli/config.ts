import { DEFAULT_BEDROCK_REGION } from "../functions/shared/models/catalog";
import { usageError } from "./exit-codes";

/** The options every command accepts (they may stand before or after the command name). */
export interface GlobalOptions {
  json?: boolean;
  local?: boolean;
  debug?: boolean;
  queueUrl?: string;
  apiUrl?: string;
  apiKey?: string;
}

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * The local stack's default endpoints (local/local-stack-defaults.ts DEFAULT_PORTS, local/local-resources.ts
 * QUEUE_NAME in account 123456789012); test/cli/config.test.ts keeps the two in step. The SQS emulator and the Bedrock
 * stand-in take any credentials.
 */
export const LOCAL_STACK = {
  apiUrl: "http://127.0.0.1:4600",
  queueUrl: "http://127.0.0.1:4602/123456789012/couch-imagegen-jobs",
  bedrockUrl: "http://127.0.0.1:4606",
  region: "us-east-1",
  credentials: { accessKeyId: "local", secretAccessKey: "local" },
} as const;

export interface ApiSettings {
  /** Base URL of the REST API, stage included, ending in "/". */
  baseUrl: URL;
  apiKey?: string;
  local: boolean;
}

export interface QueueSettings {
  queueUrl: string;
  /** Left undefined when neither the queue URL nor the environment names one: the SDK's chain (AWS_PROFILE) decides. */
  region?: string;
  /** Set for queues outside AWS (emulators); AWS queue URLs route themselves. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  local: boolean;
}

/** Where `couchgen models` asks Bedrock's control plane (GetFoundationModel) about models. */
export interface BedrockSettings {
  /** The region the pipeline calls Bedrock in: lifecycle and availability differ by region. */
  region: string;
  /** Set for the local stand-in; AWS endpoints route themselves (AWS_ENDPOINT_URL_BEDROCK overrides them). */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  local: boolean;
}

interface Setting {
  variable: string;
  flag: string;
  what: string;
  example: string;
}

const API_URL: Setting = {
  variable: "COUCHGEN_API_URL",
  flag: "--api-url",
  what: "API URL",
  example: "https://abc123.execute-api.eu-west-1.amazonaws.com/v1",
};
const QUEUE_URL: Setting = {
  variable: "SQS_QUEUE_URL",
  flag: "--queue-url",
  what: "queue URL",
  example: "https://sqs.eu-west-1.amazonaws.com/123456789012/couch-imagegen-jobs",
};

/** Flags win over --local, which wins over the environment (so --local works in a shell set up for AWS). */
export function resolveApiSettings(options: GlobalOptions, env: Environment): ApiSettings {
  const raw = pick(options.apiUrl, options.local ? LOCAL_STACK.apiUrl : undefined, env[API_URL.variable]);
  const url = parseUrl(required(raw, API_URL), API_URL);
  if (!url.pathname.endsWith("/")) url.pathname = `${url.pathname}/`;
  const apiKey = pick(options.apiKey, env.COUCHGEN_API_KEY);
  return { baseUrl: url, ...(apiKey ? { apiKey } : {}), local: Boolean(options.local) };
}

export function resolveQueueSettings(options: GlobalOptions, env: Environment): QueueSettings {
  const raw = pick(options.queueUrl, options.local ? LOCAL_STACK.queueUrl : undefined, env[QUEUE_URL.variable]);
  const queueUrl = required(raw, QUEUE_URL);
  const url = parseUrl(queueUrl, QUEUE_URL);
  const awsRegion = regionOfAwsQueueUrl(url);
  const settings: QueueSettings = { queueUrl, local: Boolean(options.local) };
  // The region in an AWS queue URL is where the queue lives: signing for any other region fails.
  const region =
    awsRegion ?? pick(env.AWS_REGION, env.AWS_DEFAULT_REGION) ?? (options.local ? LOCAL_STACK.region : undefined);
  if (region) settings.region = region;
  if (!awsRegion) settings.endpoint = url.origin;
  if (options.local) settings.credentials = { ...LOCAL_STACK.credentials };
  return settings;
}

const AWS_REGION_CODE = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/** The region: --region, else BEDROCK_REGION (the deploy parameter's name), else the catalog's default region. */
export function resolveBedrockSettings(
  options: GlobalOptions,
  flags: { region?: string },
  env: Environment,
): BedrockSettings {
  const region = pick(flags.region, env.BEDROCK_REGION) ?? DEFAULT_BEDROCK_REGION;
  if (!AWS_REGION_CODE.test(region)) {
    throw usageError(
      `The Bedrock region ${JSON.stringify(region)} (from --region or BEDROCK_REGION) is not an AWS region code, e.g. ${DEFAULT_BEDROCK_REGION}`,
    );
  }
  if (!options.local) return { region, local: false };
  return { region, endpoint: LOCAL_STACK.bedrockUrl, credentials: { ...LOCAL_STACK.credentials }, local: true };
}

/** `https://sqs.eu-west-1.amazonaws.com/...` (and the legacy `eu-west-1.queue.amazonaws.com`) name their region. */
export function regionOfAwsQueueUrl(url: URL): string | undefined {
  const match =
    /^sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(url.hostname) ??
    /^([a-z0-9-]+)\.queue\.amazonaws\.com(\.cn)?$/.exec(url.hostname);
  return match?.[1];
}

/** The first value that is set and not blank. */
function pick(...values: (string | undefined)[]): string | undefined {
  return values.map((value) => value?.trim()).find((value): value is string => Boolean(value));
}

function required(value: string | undefined, setting: Setting): string {
  if (value !== undefined) return value;
  throw usageError(
    `No ${setting.what}: set ${setting.variable} or pass ${setting.flag} (e.g. ${setting.example}), or use --local for the local stack`,
  );
}

function parseUrl(value: string, setting: Setting): URL {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw usageError(
      `The ${setting.what} ${JSON.stringify(value)} (from ${setting.variable} or ${setting.flag}) is not an http(s) URL; e.g. ${setting.example}`,
    );
  }
  return url;
}
