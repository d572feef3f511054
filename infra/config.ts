import {
  DEFAULT_BEDROCK_REGION,
  DEFAULT_MODEL_ID,
  findModel,
  SUPPORTED_MODEL_IDS,
} from "../functions/shared/models/catalog";
import { DEPLOYED_STATE_MACHINE } from "../statemachine/deployed-settings";

/** Deploy parameters, read from CDK context (`-c key=value` or cdk.json), validated once. */
export interface ImagegenConfig {
  /** Receives alarm notices and failed-execution notices. */
  readonly alertEmail: string;
  /** An existing bucket to store images in; `undefined` when the stack creates its own. */
  readonly bucketName: string | undefined;
  /** Key prefix without leading or trailing `/`; `""` for the bucket root. */
  readonly keyPrefix: string;
  /** The default model: a foundation model id or a cross-region inference profile id (`us.…`). */
  readonly modelId: string;
  /** Every model a request may name in `model`, the default first. */
  readonly allowedModelIds: readonly string[];
  /** Region Bedrock is called in; may differ from the stack's region. */
  readonly bedrockRegion: string;
  /** Age of the oldest queued message, in seconds, that raises the queue alarm. */
  readonly queueAgeAlarmSeconds: number;
  /**
   * How many Bedrock calls run at once: the most generators the generate queue's event source runs together. Jobs
   * past it wait in the queue (the waiting room), not in retries.
   */
  readonly bedrockConcurrency: number;
  /** Age of the oldest job in the waiting room, in seconds, that raises the waiting-room alarm. */
  readonly waitingRoomAgeAlarmSeconds: number;
  /** Whether API callers must send an API key (`x-api-key`). */
  readonly apiKeyRequired: boolean;
  /** API stage steady-state rate limit, requests per second. */
  readonly throttlingRateLimit: number;
  /** API stage burst limit, requests. */
  readonly throttlingBurstLimit: number;
  /**
   * Requests each API key may make per day (the usage plan's quota; `GET /jobs` polls count too); `undefined` when
   * apiKeyRequired is false: without keys there is no usage plan to carry it.
   */
  readonly dailyRequestQuota: number | undefined;
  /** Days a job's status record is kept (DynamoDB TTL). */
  readonly statusRetentionDays: number;
  /**
   * Days a generated image is kept (S3 lifecycle) in the bucket the stack creates; `undefined` with `bucketName`:
   * the stack adds no lifecycle rules to a bucket it does not own.
   */
  readonly imageRetentionDays: number | undefined;
  /**
   * Which execution history events the state machine writes to its log group: ERROR (the default) only failures;
   * ALL every state's events, at about 30 KB a job with execution data (docs/ARCHITECTURE.md §1.15).
   */
  readonly stateMachineLogLevel: StateMachineLogLevel;
  /** Whether logged events carry their input and output, i.e. the prompt and every state's result. */
  readonly stateMachineLogExecutionData: boolean;
  /** Share of a model's Bedrock calls, in percent, throttled over 5 minutes that raises its throttle-rate alarm. */
  readonly bedrockThrottleAlarmPercent: number;
}

/** Step Functions' log levels (LoggingConfiguration `Level`). */
export const STATE_MACHINE_LOG_LEVELS = ["ALL", "ERROR", "FATAL", "OFF"] as const;
export type StateMachineLogLevel = (typeof STATE_MACHINE_LOG_LEVELS)[number];

/** The queue keeps messages this long; an age alarm above it could never fire. */
export const QUEUE_RETENTION_DAYS = 4;

/**
 * Bounds of an SQS event source's MaximumConcurrency, and so of bedrockConcurrency: "Minimum value of 2. Maximum value
 * of 1000." (Lambda API reference, ScalingConfig: https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html).
 */
export const EVENT_SOURCE_CONCURRENCY = { min: 2, max: 1_000 } as const;

/**
 * GenerateImage's HeartbeatSeconds and TimeoutSeconds in statemachine/image-pipeline.asl.json (test/infra keeps them
 * equal): a job no generator takes within `heartbeat` seconds fails, and one still in the waiting room after `timeout`
 * has failed already, so a waiting-room age alarm above it would report only jobs that are gone.
 */
export const GENERATE_TASK_SECONDS = { heartbeat: 1_200, timeout: 3_300 } as const;

/** Deploy parameters that were renamed: passing the old name fails the synth with the reason, not silently. */
const RENAMED_KEYS: Record<string, { readonly to: string; readonly why: string }> = {
  generateConcurrency: {
    to: "bedrockConcurrency",
    why:
      "GenerateImage has no reserved concurrency any more: jobs wait in the generate queue (the waiting room), whose " +
      `event source runs at most bedrockConcurrency Bedrock calls at once (${EVENT_SOURCE_CONCURRENCY.min} to ` +
      `${EVENT_SOURCE_CONCURRENCY.max})`,
  },
};

/**
 * DynamoDB deletes an expired status record "typically within two days" and serves it until then (UpdateTimeToLive,
 * API reference), and job-status presigns a URL for every SUCCEEDED record it reads: an image must outlive its record
 * by at least this much, or that URL points at nothing.
 */
export const MIN_IMAGE_RETENTION_MARGIN_DAYS = 2;

/** Default margin of image retention over status retention: the two days above with room to spare. */
export const IMAGE_RETENTION_MARGIN_DAYS = 7;

export const CONFIG_DEFAULTS = {
  keyPrefix: "",
  modelId: DEFAULT_MODEL_ID,
  bedrockRegion: DEFAULT_BEDROCK_REGION,
  queueAgeAlarmSeconds: 120,
  bedrockConcurrency: 5,
  // Well before a job no generator takes fails (GENERATE_TASK_SECONDS.heartbeat, 1,200 s).
  waitingRoomAgeAlarmSeconds: 300,
  apiKeyRequired: true,
  throttlingRateLimit: 10,
  throttlingBurstLimit: 20,
  // A 1,000-user beta: at most $200 a day on Stable Image Core ($0.04 an image) if a key leaks (README).
  dailyRequestQuota: 5_000,
  statusRetentionDays: 30,
  stateMachineLogLevel: DEPLOYED_STATE_MACHINE.logLevel as StateMachineLogLevel,
  // Execution data would copy every prompt into the log group for its retention (docs/ARCHITECTURE.md §1.15).
  stateMachineLogExecutionData: DEPLOYED_STATE_MACHINE.includeExecutionData,
  // One call in five refused: the state machine's 8 Bedrock retries still absorb it (docs/RUNBOOK.md).
  bedrockThrottleAlarmPercent: 20,
} as const;

// imageRetentionDays defaults to statusRetentionDays + IMAGE_RETENTION_MARGIN_DAYS, so it is not in CONFIG_DEFAULTS.
const KNOWN_KEYS = [
  "alertEmail",
  "bucketName",
  "allowedModelIds",
  "imageRetentionDays",
  ...Object.keys(CONFIG_DEFAULTS),
];

/** One message per problem, each saying what to change. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid deploy parameters (CDK context):\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/**
 * Reads and validates the deploy parameters from a CDK context object. Values given with `-c` arrive as strings,
 * values from cdk.json keep their JSON type; both are accepted. Throws a `ConfigError` listing every problem.
 */
export function loadConfig(context: Record<string, unknown>): ImagegenConfig {
  const problems: string[] = [];
  const reader = new ContextReader(context, problems);

  for (const key of Object.keys(context)) {
    const renamed = Object.entries(RENAMED_KEYS).find(([old]) => old.toLowerCase() === key.toLowerCase());
    if (renamed !== undefined) {
      const [old, { to, why }] = renamed;
      problems.push(`${old} was renamed to ${to} (${why}): pass -c ${to}=... instead of -c ${key}=...`);
      continue;
    }
    const known = KNOWN_KEYS.find((name) => name.toLowerCase() === key.toLowerCase());
    if (known !== undefined && known !== key) {
      problems.push(`"${key}" is not a parameter: did you mean "${known}"? (names are case-sensitive)`);
    }
  }

  const alertEmail = readAlertEmail(reader, problems);
  const bucketName = readBucketName(reader, problems);
  const keyPrefix = readKeyPrefix(reader, problems);
  const modelId = readModelId(reader, problems);
  // Read in the order of the parameters, so problems are listed in that order too; dependent ones come last.
  const independent = {
    alertEmail,
    bucketName,
    keyPrefix,
    modelId,
    allowedModelIds: readAllowedModelIds(reader, problems, modelId),
    bedrockRegion: readBedrockRegion(reader, problems),
    queueAgeAlarmSeconds: reader.integer("queueAgeAlarmSeconds", {
      min: 60,
      max: QUEUE_RETENTION_DAYS * 86_400,
      why: `seconds; CloudWatch samples the queue once a minute and messages expire after ${QUEUE_RETENTION_DAYS} days`,
    }),
    bedrockConcurrency: reader.integer("bedrockConcurrency", {
      ...EVENT_SOURCE_CONCURRENCY,
      why: "Bedrock calls at once, the generate queue's event source MaximumConcurrency, which Lambda bounds",
    }),
    waitingRoomAgeAlarmSeconds: reader.integer("waitingRoomAgeAlarmSeconds", {
      min: 60,
      max: GENERATE_TASK_SECONDS.timeout,
      why: "seconds; CloudWatch samples the queue once a minute and GenerateImage fails a job that waited longer",
    }),
    apiKeyRequired: reader.boolean("apiKeyRequired"),
    throttlingRateLimit: reader.number("throttlingRateLimit", {
      min: 1,
      max: 10_000,
      why: "requests per second, at most the account's API Gateway limit",
    }),
    throttlingBurstLimit: reader.integer("throttlingBurstLimit", {
      min: 1,
      max: 5_000,
      why: "requests, at most the account's API Gateway burst limit",
    }),
    statusRetentionDays: reader.integer("statusRetentionDays", {
      min: 1,
      max: 3_650,
      why: "days a status record is kept before DynamoDB TTL removes it",
    }),
    stateMachineLogLevel: readStateMachineLogLevel(reader, problems),
    stateMachineLogExecutionData: reader.boolean("stateMachineLogExecutionData"),
    bedrockThrottleAlarmPercent: reader.number("bedrockThrottleAlarmPercent", {
      min: 1,
      max: 100,
      why: "percent of a model's Bedrock calls throttled over 5 minutes",
    }),
  };
  const config: ImagegenConfig = {
    ...independent,
    dailyRequestQuota: readDailyRequestQuota(reader, problems, independent.apiKeyRequired),
    imageRetentionDays: readImageRetentionDays(reader, problems, bucketName, independent.statusRetentionDays),
  };

  if (config.throttlingBurstLimit < config.throttlingRateLimit) {
    problems.push(
      `throttlingBurstLimit (${config.throttlingBurstLimit}) is below throttlingRateLimit (${config.throttlingRateLimit}): ` +
        "the bucket could never hold one second of traffic; raise -c throttlingBurstLimit=... or lower the rate",
    );
  }
  if (config.stateMachineLogExecutionData && config.stateMachineLogLevel === "OFF") {
    problems.push(
      "stateMachineLogExecutionData=true logs nothing with stateMachineLogLevel=OFF: pass -c stateMachineLogLevel=ERROR " +
        "(or ALL) with it, or drop -c stateMachineLogExecutionData",
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function readAlertEmail(reader: ContextReader, problems: string[]): string {
  const email = reader.string("alertEmail");
  if (email === undefined || email === "") {
    problems.push(
      "alertEmail is required: pass -c alertEmail=you@example.com (alarms and failed executions are emailed there)",
    );
    return "";
  }
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
    problems.push(`alertEmail "${email}" is not an email address: pass -c alertEmail=you@example.com`);
  }
  return email;
}

function readBucketName(reader: ContextReader, problems: string[]): string | undefined {
  const name = reader.string("bucketName");
  // An empty value counts as not given, so CI can pass an unset variable through.
  if (name === undefined || name === "") return undefined;
  const valid =
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes("..") && !/^\d+\.\d+\.\d+\.\d+$/.test(name);
  if (!valid) {
    problems.push(
      `bucketName "${name}" is not a valid S3 bucket name: 3-63 lowercase letters, digits, '.' and '-', ` +
        "starting and ending with a letter or digit; omit -c bucketName to let the stack create a bucket",
    );
  }
  return name;
}

function readKeyPrefix(reader: ContextReader, problems: string[]): string {
  const raw = reader.string("keyPrefix") ?? CONFIG_DEFAULTS.keyPrefix;
  const prefix = raw.replace(/^\/+|\/+$/g, "");
  if (prefix === "") return "";
  const segments = prefix.split("/");
  // '*', '?' and '${' would act as IAM wildcards or policy variables in the S3 resource ARNs built from the prefix.
  const valid =
    prefix.length <= 200 && segments.every((segment) => /^[A-Za-z0-9._-]+$/.test(segment) && !/^\.+$/.test(segment));
  if (!valid) {
    problems.push(
      `keyPrefix "${raw}" is not usable: use up to 200 characters of path segments made of letters, digits, '.', '_' ` +
        "and '-', separated by single '/', e.g. -c keyPrefix=candidates/alice (omit it to use the bucket root)",
    );
  }
  return prefix;
}

function readModelId(reader: ContextReader, problems: string[]): string {
  const modelId = reader.string("modelId") ?? CONFIG_DEFAULTS.modelId;
  if (!findModel(modelId)) problems.push(`modelId "${modelId}" is not supported: ${supportedModels()}`);
  return modelId;
}

/** `-c allowedModelIds=a,b` or a JSON array in cdk.json; the default model is always allowed. */
function readAllowedModelIds(reader: ContextReader, problems: string[], modelId: string): string[] {
  const ids = reader.list("allowedModelIds") ?? [];
  for (const id of ids) {
    if (!findModel(id)) problems.push(`allowedModelIds names "${id}", which is not supported: ${supportedModels()}`);
  }
  return [modelId, ...new Set(ids.filter((id) => id !== modelId))];
}

function supportedModels(): string {
  return `use one of ${SUPPORTED_MODEL_IDS.join(", ")} (docs/MODELS.md says what each accepts)`;
}

/** A usage plan carries the quota, and only API keys have one: an open API is bounded by stage throttling alone. */
function readDailyRequestQuota(reader: ContextReader, problems: string[], apiKeyRequired: boolean): number | undefined {
  if (!apiKeyRequired) {
    if (reader.given("dailyRequestQuota")) {
      problems.push(
        "dailyRequestQuota applies only with API keys: with -c apiKeyRequired=false there is no usage plan to carry " +
          "it and stage throttling is the only bound; drop -c dailyRequestQuota or omit -c apiKeyRequired=false",
      );
    }
    return undefined;
  }
  return reader.integer("dailyRequestQuota", {
    min: 1,
    max: 1_000_000,
    why: "requests per API key per day, GET /jobs polls included",
  });
}

/** Only a bucket the stack creates gets lifecycle rules; an image must outlive the status record pointing at it. */
function readImageRetentionDays(
  reader: ContextReader,
  problems: string[],
  bucketName: string | undefined,
  statusRetentionDays: number,
): number | undefined {
  if (bucketName !== undefined) {
    if (reader.given("imageRetentionDays")) {
      problems.push(
        "imageRetentionDays applies only to a bucket the stack creates: the stack adds no lifecycle rules to the " +
          "existing bucket -c bucketName names; drop -c imageRetentionDays and set an expiration on that bucket's " +
          "generated_images/ prefix with its owner",
      );
    }
    return undefined;
  }
  const days = reader.derivedInteger(
    "imageRetentionDays",
    { min: 1, max: 36_500, why: "days a generated image is kept before S3 lifecycle deletes it" },
    statusRetentionDays + IMAGE_RETENTION_MARGIN_DAYS,
  );
  const least = statusRetentionDays + MIN_IMAGE_RETENTION_MARGIN_DAYS;
  if (days < least) {
    problems.push(
      `imageRetentionDays (${days}) must be at least statusRetentionDays (${statusRetentionDays}) + ` +
        `${MIN_IMAGE_RETENTION_MARGIN_DAYS}: DynamoDB deletes an expired status record up to about two days late and ` +
        `job-status hands out a URL for it until then; pass -c imageRetentionDays=${least} or more, or lower ` +
        "-c statusRetentionDays",
    );
  }
  return days;
}

function readStateMachineLogLevel(reader: ContextReader, problems: string[]): StateMachineLogLevel {
  const raw = reader.string("stateMachineLogLevel");
  if (raw === undefined) return CONFIG_DEFAULTS.stateMachineLogLevel;
  const level = STATE_MACHINE_LOG_LEVELS.find((candidate) => candidate === raw.toUpperCase());
  if (level === undefined) {
    problems.push(
      `stateMachineLogLevel "${raw}" is not a Step Functions log level: pass -c stateMachineLogLevel= one of ` +
        `${STATE_MACHINE_LOG_LEVELS.join(", ")}, or omit it for ${CONFIG_DEFAULTS.stateMachineLogLevel} (failures only)`,
    );
    return CONFIG_DEFAULTS.stateMachineLogLevel;
  }
  return level;
}

function readBedrockRegion(reader: ContextReader, problems: string[]): string {
  const region = reader.string("bedrockRegion") ?? CONFIG_DEFAULTS.bedrockRegion;
  if (!/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(region)) {
    problems.push(`bedrockRegion "${region}" is not an AWS region code: pass e.g. -c bedrockRegion=us-east-1`);
  }
  return region;
}

interface Bounds {
  readonly min: number;
  readonly max: number;
  /** What the number means, for the error message. */
  readonly why: string;
}

class ContextReader {
  constructor(
    private readonly context: Record<string, unknown>,
    private readonly problems: string[],
  ) {}

  string(key: string): string | undefined {
    const value = this.context[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") {
      this.problems.push(`${key} must be a string, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return value.trim();
  }

  /** A comma-separated string (`-c key=a,b`) or an array of strings (cdk.json). */
  list(key: string): string[] | undefined {
    const value = this.context[key];
    if (value === undefined || value === null) return undefined;
    const items = typeof value === "string" ? value.split(",") : Array.isArray(value) ? value : undefined;
    if (!items || items.some((item) => typeof item !== "string")) {
      this.problems.push(`${key} must be a comma-separated list, e.g. -c ${key}=a,b, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return (items as string[]).map((item) => item.trim()).filter((item) => item !== "");
  }

  boolean(key: BooleanKey): boolean {
    const value = this.context[key];
    if (value === undefined || value === null) return CONFIG_DEFAULTS[key];
    if (typeof value === "boolean") return value;
    if (typeof value === "string" && /^(true|false)$/i.test(value.trim())) return value.trim().toLowerCase() === "true";
    this.problems.push(
      `${key} must be true or false, got ${JSON.stringify(value)}: pass -c ${key}=${!CONFIG_DEFAULTS[key]} or omit it`,
    );
    return CONFIG_DEFAULTS[key];
  }

  /** Whether the context sets `key` at all (to anything, valid or not). */
  given(key: string): boolean {
    return this.context[key] !== undefined && this.context[key] !== null;
  }

  number(key: NumericKey, bounds: Bounds): number {
    return this.numeric(key, bounds, /^\d+(\.\d+)?$/, "a number", CONFIG_DEFAULTS[key]);
  }

  integer(key: NumericKey, bounds: Bounds): number {
    return this.numeric(key, bounds, /^\d+$/, "a whole number", CONFIG_DEFAULTS[key]);
  }

  /** A whole number whose default depends on other parameters, so is not in CONFIG_DEFAULTS. */
  derivedInteger(key: string, bounds: Bounds, fallback: number): number {
    return this.numeric(key, bounds, /^\d+$/, "a whole number", fallback);
  }

  private numeric(key: string, bounds: Bounds, pattern: RegExp, kind: string, fallback: number): number {
    const value = this.context[key];
    if (value === undefined || value === null) return fallback;
    const parsed =
      typeof value === "number" ? value : typeof value === "string" && pattern.test(value.trim()) ? Number(value) : NaN;
    const wholeEnough = kind !== "a whole number" || Number.isInteger(parsed);
    if (!Number.isFinite(parsed) || !wholeEnough || parsed < bounds.min || parsed > bounds.max) {
      this.problems.push(
        `${key} must be ${kind} from ${bounds.min} to ${bounds.max} (${bounds.why}), got ${JSON.stringify(value)}: ` +
          `pass e.g. -c ${key}=${fallback} or omit it for the default (${fallback})`,
      );
      return fallback;
    }
    return parsed;
  }
}

type BooleanKey = {
  [K in keyof typeof CONFIG_DEFAULTS]: (typeof CONFIG_DEFAULTS)[K] extends boolean ? K : never;
}[keyof typeof CONFIG_DEFAULTS];

type NumericKey = {
  [K in keyof typeof CONFIG_DEFAULTS]: (typeof CONFIG_DEFAULTS)[K] extends number ? K : never;
}[keyof typeof CONFIG_DEFAULTS];
