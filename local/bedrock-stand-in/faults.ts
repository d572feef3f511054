/** The stand-in's settable misbehaviour; change it at runtime with `setFaults`. */
export interface FaultSettings {
  /** Added to every request that reaches the model (not to throttled, invalid or blocked ones). @default 0 */
  readonly latencyMs: number;
  /** Up to this much more latency, drawn uniformly per request. @default 0 */
  readonly latencyJitterMs: number;
  /** Requests accepted in any rolling second; those over it get ThrottlingException. @default Infinity */
  readonly maxRequestsPerSecond: number;
  /** Probability (0–1) of a ThrottlingException (429) regardless of the rate. @default 0 */
  readonly throttleRate: number;
  /** Probability (0–1) of a ModelTimeoutException (408), sent after the latency. @default 0 */
  readonly timeoutRate: number;
  /** Probability (0–1) of a ServiceUnavailableException (503), sent after the latency. @default 0 */
  readonly serverErrorRate: number;
  /** Probability (0–1) of an InternalServerException (500), sent after the latency. @default 0 */
  readonly internalErrorRate: number;
  /**
   * A prompt containing this word (any case) is refused as the model's family refuses content (Stability: 200 with
   * finish reason "Filter reason: prompt"; Amazon: ValidationException); "" turns it off. @default "forbidden-landmark"
   */
  readonly contentFilterWord: string;
}

export const DEFAULT_FAULTS: FaultSettings = {
  latencyMs: 0,
  latencyJitterMs: 0,
  maxRequestsPerSecond: Number.POSITIVE_INFINITY,
  throttleRate: 0,
  timeoutRate: 0,
  serverErrorRate: 0,
  internalErrorRate: 0,
  contentFilterWord: "forbidden-landmark",
};

const RATE_FIELDS = ["throttleRate", "timeoutRate", "serverErrorRate", "internalErrorRate"] as const;

export type RandomFault = (typeof RATE_FIELDS)[number];

/** Merges `changes` into `current` and checks the result; throws a message that says which setting to change. */
export function mergeFaults(current: FaultSettings, changes: Partial<FaultSettings>): FaultSettings {
  // Only fault fields are taken, so a whole options object (port, log, ...) can be passed.
  const defined = Object.fromEntries(
    Object.keys(DEFAULT_FAULTS).flatMap((field) => {
      const value = changes[field as keyof FaultSettings];
      return value === undefined ? [] : [[field, value]];
    }),
  );
  const merged: FaultSettings = { ...current, ...defined };
  for (const field of ["latencyMs", "latencyJitterMs"] as const) {
    if (!Number.isFinite(merged[field]) || merged[field] < 0) {
      throw new Error(`${field} must be a finite number of milliseconds >= 0, got ${merged[field]}`);
    }
  }
  if (Number.isNaN(merged.maxRequestsPerSecond) || merged.maxRequestsPerSecond <= 0) {
    throw new Error(`maxRequestsPerSecond must be > 0 (Infinity for no quota), got ${merged.maxRequestsPerSecond}`);
  }
  for (const field of RATE_FIELDS) {
    if (!(merged[field] >= 0 && merged[field] <= 1)) {
      throw new Error(`${field} must be a probability from 0 to 1, got ${merged[field]}`);
    }
  }
  const total = RATE_FIELDS.reduce((sum, field) => sum + merged[field], 0);
  if (total > 1 + 1e-9) {
    throw new Error(`${RATE_FIELDS.join(" + ")} must add up to at most 1, got ${total}`);
  }
  if (typeof merged.contentFilterWord !== "string") {
    throw new Error('contentFilterWord must be a string ("" turns the filter off)');
  }
  return merged;
}

/**
 * One draw per request decides which random fault, if any, it gets: the rates partition [0, 1),
 * so a seeded source replays the same faults for the same sequence of requests.
 */
export function drawRandomFault(settings: FaultSettings, random: () => number): RandomFault | undefined {
  const draw = random();
  let bound = 0;
  for (const field of RATE_FIELDS) {
    bound += settings[field];
    if (draw < bound) return field;
  }
  return undefined;
}

export function drawLatencyMs(settings: FaultSettings, random: () => number): number {
  return settings.latencyMs + (settings.latencyJitterMs > 0 ? random() * settings.latencyJitterMs : 0);
}

/** A sliding one-second window of accepted requests: the quota holds over any second, not per clock second. */
export class RequestRateWindow {
  private readonly accepted: number[] = [];

  constructor(private readonly now: () => number) {}

  /** Records the request and returns true when it fits in the quota; a refused request is not recorded. */
  tryAccept(maxRequestsPerSecond: number): boolean {
    if (maxRequestsPerSecond === Number.POSITIVE_INFINITY) return true;
    const now = this.now();
    while (this.accepted.length > 0 && this.accepted[0]! <= now - 1000) this.accepted.shift();
    if (this.accepted.length >= maxRequestsPerSecond) return false;
    this.accepted.push(now);
    return true;
  }

  /**
   * Takes back the request just accepted: a call refused after all (the random `throttleRate`) takes no place in the
   * quota, as Bedrock neither bills nor counts a throttled call.
   */
  release(): void {
    this.accepted.pop();
  }
}
