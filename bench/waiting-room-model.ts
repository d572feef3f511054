import { GENERATE_MAX_RECEIVES, THROTTLE_DELAY_SECONDS } from "../functions/shared/waiting-room";
import { seededRandom } from "../local/bedrock-stand-in";
import { median, percentile } from "./stats";

/**
 * The waiting room of issue 9 under a burst: GenerateImage sends each job to the generate queue and waits for its
 * task token; the generator takes messages through an event source mapping capped at C (`bedrockConcurrency`) and
 * calls Bedrock once per message. A throttled message goes back on the queue for a whole number of seconds and the
 * slot takes the next message at once. The delays and the receive budget are the generator's own
 * (functions/shared/waiting-room.ts), so the model runs the schedule the pipeline runs.
 */
export interface WaitingRoomSettings {
  /** N: jobs, every one on the generate queue at t=0 (the burst bench/retry-model.ts runs). */
  jobs: number;
  /** R: calls Bedrock accepts in any rolling second, as the stand-in's `RequestRateWindow` counts them. */
  requestsPerSecond: number;
  /** L: seconds an accepted call takes. */
  latencySeconds: number;
  /** Up to this many seconds more per accepted call, drawn uniformly (the stand-in's latencyJitterMs). @default 0 */
  latencyJitterSeconds?: number;
  /** C: the mapping's MaximumConcurrency, messages in the generator at once. */
  slots: number;
  /**
   * o: the generator's own seconds per image outside Bedrock (staging object, status write, SendTaskSuccess); it
   * holds the slot after the accepted call. @default 0
   */
  overheadSeconds?: number;
  /** Seconds a throttled delivery holds its slot (the refusal, ChangeMessageVisibility). @default 0: none */
  throttleSeconds?: number;
  /**
   * p: share of calls within the quota that are refused anyway, drawn as the stand-in's `throttleRate` is: the quota
   * shared with another workload. A refused call takes no place in the window (RequestRateWindow.release). @default 0
   */
  randomThrottleShare?: number;
  /** Receives of one message: throttled on the last, its task fails. @default GENERATE_MAX_RECEIVES, as deployed */
  maxReceives?: number;
  /** Whole seconds a throttled message stays invisible, by its receive count. @default the generator's own */
  delaySeconds?: (receiveCount: number, random: () => number) => number;
  /** Seeded runs; run k uses `seededRandom(seed + k)`. */
  runs: number;
  /** @default 1 */
  seed?: number;
}

/** One delivery of a generate message to the generator: one Bedrock call. */
export interface DeliveryRecord {
  job: number;
  atMs: number;
  /** `accepted`: an image; `quota`: refused by the rate window; `random`: refused by the shared share p. */
  outcome: "accepted" | "quota" | "random";
  /** When the delivery gives its slot back. */
  slotFreeAtMs: number;
}

export interface WaitingRoomRun {
  makespanSeconds: number;
  /** makespan / (N/R). */
  ratio: number;
  calls: number;
  throttled: number;
  throttledShare: number;
  /** Receives of the message received most often. */
  maxReceives: number;
  failedJobs: number;
  p95LatencySeconds: number;
  /** Most generator slots busy at one moment. */
  peakSlots: number;
}

export interface WaitingRoomTrace {
  deliveries: DeliveryRecord[];
  /** Each image finished: its job and when (accepted call + L + o). */
  completions: { job: number; atMs: number }[];
  deadLettered: number[];
}

export interface WaitingRoomResult {
  /** Median over the runs, and the 10th–90th percentile: how much one burst varies by luck alone. */
  ratio: number;
  ratioRange: [number, number];
  throttledShare: number;
  /** Bedrock calls per job: each one delivery (receive) of its message. */
  callsPerJob: number;
  p95LatencySeconds: number;
  /** The worst run's: a single failure or a long redelivery chain is what the target is about. */
  maxReceives: number;
  failedJobs: number;
  peakSlots: number;
}

/** Median (and worst case where noted) of `runs` seeded runs. */
export function modelWaitingRoom(settings: WaitingRoomSettings): WaitingRoomResult {
  const seed = settings.seed ?? 1;
  const runs = Array.from({ length: settings.runs }, (_, run) =>
    simulateWaitingRoom(settings, seededRandom(seed + run)),
  );
  const ratios = runs.map((run) => run.ratio);
  return {
    ratio: median(ratios),
    ratioRange: [percentile(ratios, 10), percentile(ratios, 90)],
    throttledShare: median(runs.map((run) => run.throttledShare)),
    callsPerJob: median(runs.map((run) => run.calls / settings.jobs)),
    p95LatencySeconds: median(runs.map((run) => run.p95LatencySeconds)),
    maxReceives: Math.max(...runs.map((run) => run.maxReceives)),
    failedJobs: Math.max(...runs.map((run) => run.failedJobs)),
    peakSlots: Math.max(...runs.map((run) => run.peakSlots)),
  };
}

/** One run; pass `trace` to receive every delivery and completion (the unit tests check the model against it). */
export function simulateWaitingRoom(
  settings: WaitingRoomSettings,
  random: () => number,
  trace?: WaitingRoomTrace,
): WaitingRoomRun {
  validate(settings);
  const { jobs, requestsPerSecond, slots } = settings;
  // Whole milliseconds, as the stand-in's window counts them: float sums of L would move calls across its edge.
  const latencyMs = Math.round(settings.latencySeconds * 1000);
  const jitterMs = (settings.latencyJitterSeconds ?? 0) * 1000;
  const overheadMs = Math.round((settings.overheadSeconds ?? 0) * 1000);
  const throttleMs = Math.round((settings.throttleSeconds ?? 0) * 1000);
  const share = settings.randomThrottleShare ?? 0;
  const delaySeconds = settings.delaySeconds ?? (() => THROTTLE_DELAY_SECONDS);
  const maxReceives = settings.maxReceives ?? GENERATE_MAX_RECEIVES;

  const receives = new Array<number>(jobs).fill(0);
  const finishedAt: number[] = [];
  // Messages by the time they become visible; ties in the order they were (re)queued, roughly what SQS hands out.
  const queue = new MinHeap<[number, number, number]>((a, b) => a[0] - b[0] || a[1] - b[1]);
  let order = 0;
  for (let job = 0; job < jobs; job++) queue.push([0, order++, job]);
  const busyUntil = new MinHeap<number>((a, b) => a - b);
  const window: number[] = [];
  let windowStart = 0;
  let free = slots;
  let remaining = jobs;
  let now = 0;
  let calls = 0;
  let throttled = 0;
  let failed = 0;
  let peak = 0;

  while (remaining > 0) {
    while (busyUntil.size > 0 && (busyUntil.peek() ?? 0) <= now) {
      busyUntil.pop();
      free++;
    }
    while (free > 0 && queue.size > 0 && (queue.peek()?.[0] ?? 0) <= now) {
      const [, , job] = queue.pop() as [number, number, number];
      receives[job] = (receives[job] ?? 0) + 1;
      calls++;
      while (windowStart < window.length && (window[windowStart] ?? 0) <= now - 1000) windowStart++;
      let outcome: DeliveryRecord["outcome"] = "quota";
      if (window.length - windowStart < requestsPerSecond) {
        outcome = share > 0 && random() < share ? "random" : "accepted";
        // A refused call takes no place in the quota, as the stand-in counts it (RequestRateWindow.release).
        if (outcome === "accepted") window.push(now);
      }
      let slotFreeAtMs = now + throttleMs;
      if (outcome === "accepted") {
        slotFreeAtMs = now + latencyMs + (jitterMs > 0 ? Math.round(random() * jitterMs) : 0) + overheadMs;
        finishedAt.push(slotFreeAtMs);
        trace?.completions.push({ job, atMs: slotFreeAtMs });
        remaining--;
      } else {
        throttled++;
        if ((receives[job] ?? 0) >= maxReceives) {
          failed++;
          trace?.deadLettered.push(job);
          remaining--;
        } else {
          const delay = delaySeconds(receives[job] ?? 1, random);
          // SQS visibility is whole seconds; 0 would hand the message straight back to the slot that refused it.
          if (!Number.isInteger(delay) || delay < 1)
            throw new Error(`delaySeconds must give whole seconds >= 1, got ${delay}`);
          queue.push([now + delay * 1000, order++, job]);
        }
      }
      trace?.deliveries.push({ job, atMs: now, outcome, slotFreeAtMs });
      if (slotFreeAtMs > now) {
        busyUntil.push(slotFreeAtMs);
        free--;
        peak = Math.max(peak, slots - free);
      }
    }
    const next = Math.min(
      busyUntil.peek() ?? Number.POSITIVE_INFINITY,
      free > 0 ? (queue.peek()?.[0] ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY,
    );
    if (!Number.isFinite(next)) break;
    now = Math.max(now, next);
  }

  const makespanMs = finishedAt.reduce((latest, at) => Math.max(latest, at), 0);
  const sorted = finishedAt.sort((a, b) => a - b);
  const idealMs = (jobs / requestsPerSecond) * 1000;
  return {
    makespanSeconds: makespanMs / 1000,
    ratio: makespanMs / idealMs,
    calls,
    throttled,
    throttledShare: calls === 0 ? 0 : throttled / calls,
    maxReceives: receives.reduce((most, count) => Math.max(most, count), 0),
    failedJobs: failed,
    p95LatencySeconds: (sorted[Math.max(0, Math.ceil(0.95 * sorted.length) - 1)] ?? 0) / 1000,
    peakSlots: peak,
  };
}

function validate(settings: WaitingRoomSettings): void {
  const problems: string[] = [];
  const positive = (name: keyof WaitingRoomSettings, integer: boolean) => {
    const value = settings[name];
    if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value)))
      problems.push(`${name} must be ${integer ? "a whole number" : "a number"} > 0, got ${value}`);
  };
  positive("jobs", true);
  positive("requestsPerSecond", false);
  positive("latencySeconds", false);
  positive("slots", true);
  positive("runs", true);
  for (const name of ["latencyJitterSeconds", "overheadSeconds", "throttleSeconds"] as const) {
    const value = settings[name];
    if (value !== undefined && !(value >= 0 && Number.isFinite(value)))
      problems.push(`${name} must be a number of seconds >= 0, got ${value}`);
  }
  const share = settings.randomThrottleShare;
  if (share !== undefined && !(share >= 0 && share < 1))
    problems.push(`randomThrottleShare must be from 0 to below 1, got ${share}`);
  if (settings.maxReceives !== undefined && !(Number.isInteger(settings.maxReceives) && settings.maxReceives >= 1))
    problems.push(`maxReceives must be a whole number >= 1, got ${settings.maxReceives}`);
  if (problems.length > 0) throw new Error(`Waiting-room model settings: ${problems.join("; ")}`);
}

/** A binary min-heap: the model's event queues, O(log n) per event so N=10,000 runs in milliseconds. */
class MinHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (this.compare(items[index] as T, items[parent] as T) >= 0) break;
      [items[index], items[parent]] = [items[parent] as T, items[index] as T];
      index = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < items.length && this.compare(items[left] as T, items[smallest] as T) < 0) smallest = left;
      if (right < items.length && this.compare(items[right] as T, items[smallest] as T) < 0) smallest = right;
      if (smallest === index) return top;
      [items[index], items[smallest]] = [items[smallest] as T, items[index] as T];
      index = smallest;
    }
  }
}
