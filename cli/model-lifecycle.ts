import {
  BedrockClient,
  type FoundationModelLifecycle,
  GetFoundationModelAvailabilityCommand,
  type GetFoundationModelAvailabilityResponse,
  GetFoundationModelCommand,
} from "@aws-sdk/client-bedrock";
import { type CatalogModel, findModel, SUPPORTED_MODEL_IDS } from "../functions/shared/models/catalog";
import type { BedrockSettings } from "./config";
import { CliError, ExitCode, usageError } from "./exit-codes";

/** ACTIVE and LEGACY as Bedrock says; EOL past the end-of-life date; NOT_FOUND in the region; UNKNOWN to couchgen. */
export type ModelStatus = "ACTIVE" | "LEGACY" | "EOL" | "NOT_FOUND" | "UNKNOWN";

/** ok; warning: usable today but not for long, or not invocable by this caller; unusable: `--check` fails. */
export type ModelVerdict = "ok" | "warning" | "unusable";

export interface ModelReport {
  /** The id as asked about: a foundation model id or an inference profile id (`us.<model>`). */
  readonly id: string;
  /** The foundation model Bedrock was asked about; absent for an id unknown to couchgen. */
  readonly foundationModelId?: string;
  readonly name?: string;
  readonly status: ModelStatus;
  /** ISO dates: Bedrock's `modelLifecycle` where it gives one, else the catalog's. */
  readonly legacySince?: string;
  readonly endOfLife?: string;
  /** When the legacy period's extended access (higher prices) starts, when Bedrock says. */
  readonly publicExtendedAccessFrom?: string;
  /** Whether this caller may invoke it in the region (GetFoundationModelAvailability); absent when not asked. */
  readonly invocable?: boolean;
  /** Why not, when `invocable` is false: "not authorized", "not entitled", "agreement PENDING", "not in region". */
  readonly notInvocableBecause?: readonly string[];
  /** GetFoundationModelAvailability's answer as it came. */
  readonly availability?: ModelAvailability;
  /** The model to move to, from the catalog, for a LEGACY or EOL model. */
  readonly replacement?: string;
  readonly verdict: ModelVerdict;
  /** What is wrong or coming, one sentence each; empty when the verdict is ok. */
  readonly notes: readonly string[];
}

export interface ModelAvailability {
  readonly agreement?: string;
  readonly authorization?: string;
  readonly entitlement?: string;
  readonly region?: string;
}

export interface ModelLifecycleReport {
  readonly region: string;
  readonly models: readonly ModelReport[];
}

/**
 * Asks Bedrock's control plane, in `region`, about each model: its lifecycle (GetFoundationModel) and whether this
 * caller can invoke it (GetFoundationModelAvailability). Ids unknown to the catalog are reported, not asked about.
 * AWS errors other than a model that is not found are thrown as the SDK raised them.
 */
export async function checkModelLifecycle(
  bedrock: BedrockClient,
  ids: readonly string[],
  options: { region: string; now: Date },
): Promise<ModelLifecycleReport> {
  const unique = [...new Set(ids)];
  const models = await Promise.all(unique.map((id) => checkModel(bedrock, id, options)));
  return { region: options.region, models };
}

async function checkModel(
  bedrock: BedrockClient,
  id: string,
  { region, now }: { region: string; now: Date },
): Promise<ModelReport> {
  const resolved = findModel(id);
  if (!resolved) {
    return {
      id,
      status: "UNKNOWN",
      verdict: "unusable",
      notes: [`"${id}" is unknown to couchgen: use one of ${SUPPORTED_MODEL_IDS.join(", ")}`],
    };
  }
  const model = resolved.model;
  const lifecycle = await foundationModelLifecycle(bedrock, model.id);
  const dates = lifecycleDates(model, lifecycle === "not found" ? undefined : lifecycle);
  const known = { id, foundationModelId: model.id, name: model.name, ...dates };
  // The end-of-life day itself counts as past: a deploy made that day would not outlive it.
  const pastEndOfLife = dates.endOfLife !== undefined && Date.parse(dates.endOfLife) <= now.getTime();

  if (lifecycle === "not found") {
    const where = `Bedrock has no ${model.id} in ${region}`;
    return pastEndOfLife
      ? unusable(known, model, "EOL", `${id} reached its end of life on ${dates.endOfLife}: ${where}`)
      : unusable(
          known,
          model,
          "NOT_FOUND",
          `${where}: it is past its end of life or not offered there (the catalog lists it in ${model.regions.join(", ")})`,
        );
  }
  if (pastEndOfLife) {
    return unusable(known, model, "EOL", `${id} reached its end of life on ${dates.endOfLife}`);
  }

  const availability = await bedrock.send(new GetFoundationModelAvailabilityCommand({ modelId: model.id }));
  const reasons = notInvocableBecause(availability);
  // A deprecation the catalog records counts even where a region's API does not show it yet.
  const legacy = lifecycle.status === "LEGACY" || model.lifecycle.status === "LEGACY";
  const notes: string[] = [];
  if (legacy) notes.push(legacyNote(id, model, dates.endOfLife, now));
  if (reasons.length > 0) notes.push(notInvocableNote(id, region, reasons));
  return {
    ...known,
    status: legacy ? "LEGACY" : "ACTIVE",
    invocable: reasons.length === 0,
    ...(reasons.length > 0 ? { notInvocableBecause: reasons } : {}),
    availability: availabilityOf(availability),
    ...(legacy ? replacementOf(model) : {}),
    verdict: notes.length > 0 ? "warning" : "ok",
    notes,
  };
}

/** The model's lifecycle as Bedrock reports it in the client's region, or "not found" there. */
async function foundationModelLifecycle(
  bedrock: BedrockClient,
  modelId: string,
): Promise<FoundationModelLifecycle | "not found"> {
  try {
    const answer = await bedrock.send(new GetFoundationModelCommand({ modelIdentifier: modelId }));
    return answer.modelDetails?.modelLifecycle ?? { status: undefined };
  } catch (error) {
    if (error instanceof Error && error.name === "ResourceNotFoundException") return "not found";
    throw error;
  }
}

function lifecycleDates(model: CatalogModel, lifecycle: FoundationModelLifecycle | undefined) {
  const legacySince = isoDate(lifecycle?.legacyTime) ?? model.lifecycle.legacySince;
  const endOfLife = isoDate(lifecycle?.endOfLifeTime) ?? model.lifecycle.endOfLife;
  const publicExtendedAccessFrom = isoDate(lifecycle?.publicExtendedAccessTime);
  return {
    ...(legacySince ? { legacySince } : {}),
    ...(endOfLife ? { endOfLife } : {}),
    ...(publicExtendedAccessFrom ? { publicExtendedAccessFrom } : {}),
  };
}

function isoDate(date: Date | undefined): string | undefined {
  return date && !Number.isNaN(date.getTime()) ? date.toISOString().slice(0, 10) : undefined;
}

/**
 * Only stated values count. The agreement's AVAILABLE and NOT_AVAILABLE are read both ways in the wild (accepted, or
 * offered and not yet accepted), so only PENDING and ERROR are reasons; `availability` in the report keeps them all.
 */
function notInvocableBecause(availability: GetFoundationModelAvailabilityResponse): string[] {
  const reasons: string[] = [];
  const agreement = availability.agreementAvailability;
  if (availability.authorizationStatus === "NOT_AUTHORIZED") reasons.push("not authorized");
  if (availability.entitlementAvailability === "NOT_AVAILABLE") reasons.push("not entitled");
  if (agreement?.status === "PENDING" || agreement?.status === "ERROR") {
    reasons.push(`agreement ${agreement.status}${agreement.errorMessage ? `: ${agreement.errorMessage}` : ""}`);
  }
  if (availability.regionAvailability === "NOT_AVAILABLE") reasons.push("not in region");
  return reasons;
}

function availabilityOf(answer: GetFoundationModelAvailabilityResponse): ModelAvailability {
  return {
    ...(answer.agreementAvailability?.status ? { agreement: answer.agreementAvailability.status } : {}),
    ...(answer.authorizationStatus ? { authorization: answer.authorizationStatus } : {}),
    ...(answer.entitlementAvailability ? { entitlement: answer.entitlementAvailability } : {}),
    ...(answer.regionAvailability ? { region: answer.regionAvailability } : {}),
  };
}

function unusable(
  known: Omit<ModelReport, "status" | "verdict" | "notes">,
  model: CatalogModel,
  status: "EOL" | "NOT_FOUND",
  note: string,
): ModelReport {
  const replacement = replacementOf(model);
  const move = replacement.replacement ? `; move to ${replacement.replacement}` : "";
  return { ...known, status, ...replacement, verdict: "unusable", notes: [`${note}${move}`] };
}

function replacementOf(model: CatalogModel): { replacement?: string } {
  return model.replacement ? { replacement: model.replacement } : {};
}

function legacyNote(id: string, model: CatalogModel, endOfLife: string | undefined, now: Date): string {
  const move = model.replacement ? `; move to ${model.replacement}` : "";
  if (!endOfLife) return `${id} is LEGACY, with no end-of-life date announced${move}`;
  const days = Math.ceil((Date.parse(endOfLife) - now.getTime()) / 86_400_000);
  return `${id} is LEGACY: end of life ${endOfLife}, in ${days} day${days === 1 ? "" : "s"}${move}`;
}

function notInvocableNote(id: string, region: string, reasons: readonly string[]): string {
  const fixes = [
    reasons.includes("not authorized") ? "the caller's IAM policy or an SCP denies it" : undefined,
    reasons.includes("not entitled") || reasons.some((reason) => reason.startsWith("agreement"))
      ? "enable model access (accept the offer) in the Bedrock console for this account and region"
      : undefined,
  ].filter(Boolean);
  return `${id} is not invocable by this caller in ${region} (${reasons.join(", ")})${fixes.length > 0 ? `: ${fixes.join("; ")}` : ""}`;
}

export function createBedrockClient(settings: BedrockSettings): BedrockClient {
  // The SDK's notice that its 2027 releases need Node 22 is for this project's maintainers, not for each run.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  return new BedrockClient({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
  });
}

/** The IAM actions `couchgen models` needs; named in its AccessDenied message and in docs/CLI.md. */
export const MODEL_LIFECYCLE_ACTIONS = ["bedrock:GetFoundationModel", "bedrock:GetFoundationModelAvailability"];

/** The SDK's errors as something to act on: which setting or permission to fix, or whether a retry may help. */
export function bedrockError(error: unknown, settings: BedrockSettings): CliError {
  if (!(error instanceof Error)) return new CliError(`Bedrock failed: ${String(error)}`, ExitCode.Unexpected);
  const where = `Bedrock in ${settings.region}${settings.local ? ` (--local: ${settings.endpoint})` : ""}`;
  if (error.name === "CredentialsProviderError") {
    return usageError(
      "No AWS credentials for Bedrock: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (or use --local for the local stack)",
    );
  }
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const network = (error as { code?: string }).code;
  if (status === undefined && network) {
    const hint = settings.local ? "\nIs the local stack running? Start it with: npm start" : "";
    return new CliError(`Could not reach ${where} (${network})${hint}`, ExitCode.Unavailable, {}, { cause: error });
  }
  if (error.name === "AccessDeniedException") {
    return new CliError(
      `${where} denied access: ${error.message}\nThe caller needs ${MODEL_LIFECYCLE_ACTIONS.join(" and ")}`,
      ExitCode.Refused,
      { status, error: error.name },
      { cause: error },
    );
  }
  const fault = (error as { $fault?: string }).$fault;
  const refused = fault !== "server" && status !== undefined && status < 500 && status !== 429;
  return new CliError(
    `${where} ${refused ? "refused the request" : "failed"}: ${error.name}${status ? ` ${status}` : ""}: ${error.message}`,
    refused ? ExitCode.Refused : ExitCode.Unavailable,
    { status, error: error.name },
    { cause: error },
  );
}
