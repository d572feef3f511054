import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { FamilyName } from "../../functions/shared/models/catalog";
import { amazonImageStandIn } from "./amazon-image-request";
import {
  BedrockErrorResponse,
  INVALID_MODEL_MESSAGE,
  internalServerError,
  modelEndOfLife,
  modelTimeout,
  serviceUnavailable,
  throttled,
  validationError,
} from "./bedrock-errors";
import { drawStandInImage } from "./draw-image";
import { drawLatencyMs, drawRandomFault, type FaultSettings, type RandomFault, type RequestRateWindow } from "./faults";
import { type ModelLifecycleTable, resolveInvokedModel } from "./model-lifecycle";
import { stabilityImageStandIn } from "./stability-image-request";
import type { DrawRequest, StandInFamily } from "./stand-in-family";

/** Counts since start (or the last `resetStats`); `concurrency` is requests in progress now. */
export interface BedrockStandInStats {
  /** InvokeModel requests received, whatever their outcome. */
  requests: number;
  /** Images drawn and sent. */
  images: number;
  /** ThrottlingException answers, from the rate quota and from `throttleRate`. */
  throttled: number;
  timeouts: number;
  /** ServiceUnavailableException and InternalServerException answers. */
  serverErrors: number;
  /** Prompts refused by the content filter (Stability's 200 with a filter finish reason, Amazon's 400). */
  blocked: number;
  /** ValidationException answers other than content-filter refusals (bad body, unknown model). */
  invalid: number;
  /** ResourceNotFoundException answers for models whose lifecycle is set to EOL. */
  endOfLife: number;
  /** Per foundation model id (a profile id or ARN counts under its model): requests received and images sent. */
  byModel: Record<string, { requests: number; images: number }>;
  concurrency: number;
  peakConcurrency: number;
}

export function emptyStats(concurrency: number): BedrockStandInStats {
  return {
    requests: 0,
    images: 0,
    throttled: 0,
    timeouts: 0,
    serverErrors: 0,
    blocked: 0,
    invalid: 0,
    endOfLife: 0,
    byModel: {},
    concurrency,
    peakConcurrency: concurrency,
  };
}

/** What InvokeModel answers with 200, and what its log line says. */
export interface InvokeModelAnswer {
  readonly body: object;
  /** The stand-in setting behind an answer that is a refusal sent as 200 (Stability's content filter). */
  readonly injectedBy?: string;
  readonly summary: string;
}

export interface InvokeModelDependencies {
  readonly faults: () => FaultSettings;
  /** The counters in force (replaced by `resetStats`). */
  readonly stats: () => BedrockStandInStats;
  readonly lifecycle: ModelLifecycleTable;
  readonly random: () => number;
  readonly rateWindow: RequestRateWindow;
  /** Aborts the latency wait when the stand-in closes. */
  readonly signal: AbortSignal;
}

export const MAX_BODY_BYTES = 5 * 1024 * 1024;

const FAMILIES: Readonly<Record<FamilyName, StandInFamily>> = {
  "stability-image": stabilityImageStandIn,
  "amazon-image": amazonImageStandIn,
};

/**
 * InvokeModel for every catalog model, checked in this order: rate quota, model id, lifecycle, body, content filter,
 * then the (faulty) model. Throws a `BedrockErrorResponse` for every refusal sent as an error.
 */
export async function invokeModel(
  modelId: string,
  body: Buffer | undefined,
  deps: InvokeModelDependencies,
): Promise<InvokeModelAnswer> {
  const stats = deps.stats();
  const faults = deps.faults();
  const resolved = resolveInvokedModel(modelId);
  if (resolved) modelCounts(stats, resolved.model.id).requests++;
  if (!deps.rateWindow.tryAccept(faults.maxRequestsPerSecond)) {
    stats.throttled++;
    throw throttled("maxRequestsPerSecond");
  }
  if (!resolved) {
    stats.invalid++;
    throw validationError(INVALID_MODEL_MESSAGE);
  }
  const lifecycle = deps.lifecycle.statusOf(resolved.model);
  if (lifecycle === "EOL") {
    stats.endOfLife++;
    throw modelEndOfLife("modelLifecycle");
  }
  const family = FAMILIES[resolved.model.family];
  let request: DrawRequest;
  try {
    if (body === undefined) throw validationError(`The request body is larger than ${MAX_BODY_BYTES} bytes.`);
    request = family.parseRequest(body.toString("utf8"), resolved, deps.random);
  } catch (error) {
    stats.invalid++;
    throw error;
  }
  const word = faults.contentFilterWord.toLowerCase();
  if (word !== "" && request.prompt.toLowerCase().includes(word)) {
    stats.blocked++;
    const refusal = family.filtered(request);
    if (refusal instanceof BedrockErrorResponse) throw refusal;
    return { body: refusal, injectedBy: "contentFilterWord", summary: `${modelId} refused by the content filter` };
  }
  const fault = drawRandomFault(faults, deps.random);
  if (fault === "throttleRate") {
    deps.rateWindow.release();
    stats.throttled++;
    throw throttled(fault);
  }
  const latencyMs = drawLatencyMs(faults, deps.random);
  if (latencyMs > 0) await sleep(latencyMs, undefined, { signal: deps.signal });
  if (fault) throw afterLatencyFault(fault, deps.stats());
  const images = Array.from({ length: request.numberOfImages }, (_, index) =>
    drawStandInImage({ ...request, index }, request.outputFormat).toString("base64"),
  );
  // Counted on the counters in force now: resetStats may have replaced them during the latency.
  const current = deps.stats();
  current.images += images.length;
  modelCounts(current, resolved.model.id).images += images.length;
  const legacy = lifecycle === "LEGACY" ? " (LEGACY)" : "";
  return {
    body: family.answer(images, request),
    summary:
      `${modelId}${legacy} ${request.width}x${request.height} ${request.outputFormat} seed=${request.seed} ` +
      `images=${images.length} prompt-sha256=${sha256(request.prompt).slice(0, 12)}`,
  };
}

function modelCounts(stats: BedrockStandInStats, modelId: string): { requests: number; images: number } {
  const counts = stats.byModel[modelId] ?? { requests: 0, images: 0 };
  stats.byModel[modelId] = counts;
  return counts;
}

function afterLatencyFault(fault: Exclude<RandomFault, "throttleRate">, stats: BedrockStandInStats) {
  if (fault === "timeoutRate") {
    stats.timeouts++;
    return modelTimeout(fault);
  }
  stats.serverErrors++;
  return fault === "serverErrorRate" ? serviceUnavailable(fault) : internalServerError(fault);
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
