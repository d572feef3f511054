// Verifies bench/waiting-room-model.ts, the seeded model of the waiting room in front of Bedrock: from its trace of
// every delivery, that no more than C messages are ever in the generator, that the quota's sliding second never
// accepts more than R calls, that every job ends exactly once (an image or the DLQ), that throttled messages come
// back no sooner than a second later, and the exact figures of runs whose outcome follows from arithmetic alone.
// It cannot verify that SQS, the event source mapping or Bedrock behave as the model assumes: the local-stack burst
// (npm run bench) measures the pipeline itself.
import { describe, expect, it } from "vitest";
import {
  modelWaitingRoom,
  simulateWaitingRoom,
  type WaitingRoomSettings,
  type WaitingRoomTrace,
} from "../../bench/waiting-room-model";
import { seededRandom } from "../../local/bedrock-stand-in";

const BASE: WaitingRoomSettings = { jobs: 60, requestsPerSecond: 5, latencySeconds: 1, slots: 5, runs: 1 };

function traced(settings: WaitingRoomSettings, seed = 7) {
  const trace: WaitingRoomTrace = { deliveries: [], completions: [], deadLettered: [] };
  const run = simulateWaitingRoom(settings, seededRandom(seed), trace);
  return { run, trace };
}

/** Most slots held at one moment; a slot given back at t can be taken again at t. */
function peakSlots(trace: WaitingRoomTrace): number {
  const events = trace.deliveries
    .filter((delivery) => delivery.slotFreeAtMs > delivery.atMs)
    .flatMap((delivery) => [
      { atMs: delivery.atMs, change: 1 },
      { atMs: delivery.slotFreeAtMs, change: -1 },
    ])
    .sort((a, b) => a.atMs - b.atMs || a.change - b.change);
  let held = 0;
  let peak = 0;
  for (const event of events) {
    held += event.change;
    peak = Math.max(peak, held);
  }
  return peak;
}

/** Most calls the quota accepted in any window (t - 1 s, t], as the stand-in's RequestRateWindow counts them. */
function busiestSecond(trace: WaitingRoomTrace): number {
  const accepted = trace.deliveries
    // Only accepted calls take a place in the quota: a random refusal is released (RequestRateWindow.release).
    .filter((delivery) => delivery.outcome === "accepted")
    .map((delivery) => delivery.atMs)
    .sort((a, b) => a - b);
  let busiest = 0;
  let start = 0;
  for (let end = 0; end < accepted.length; end++) {
    while ((accepted[start] ?? 0) <= (accepted[end] ?? 0) - 1000) start++;
    busiest = Math.max(busiest, end - start + 1);
  }
  return busiest;
}

const CASES: [string, WaitingRoomSettings][] = [
  ["the design alone (C = R×L)", BASE],
  ["the quota shared (20% refused at random)", { ...BASE, randomThrottleShare: 0.2 }],
  ["twice the slots the quota allows", { ...BASE, slots: 10 }],
  ["latency that varies, C sized on the mean", { ...BASE, slots: 7, latencyJitterSeconds: 0.5 }],
  [
    "the generator's own time and a throttle that holds its slot",
    { ...BASE, overheadSeconds: 0.2, throttleSeconds: 0.3, randomThrottleShare: 0.3 },
  ],
  ["a receive budget of 2", { ...BASE, slots: 10, randomThrottleShare: 0.5, maxReceives: 2 }],
];

describe("waiting-room model: invariants, from the trace of every delivery", () => {
  it.each(CASES)("%s: never more than C messages in the generator at once", (_, settings) => {
    const { run, trace } = traced(settings);
    expect(peakSlots(trace)).toBeLessThanOrEqual(settings.slots);
    expect(run.peakSlots).toBe(peakSlots(trace));
  });

  it.each(CASES)("%s: never more than R calls accepted in any one-second window", (_, settings) => {
    const { trace } = traced(settings);
    expect(busiestSecond(trace)).toBeLessThanOrEqual(settings.requestsPerSecond);
  });

  it.each(CASES)(
    "%s: every job ends exactly once, an image or the DLQ, and nothing happens to it after",
    (_, settings) => {
      const { run, trace } = traced(settings);
      const ended = [...trace.completions.map((completion) => completion.job), ...trace.deadLettered];
      expect(ended.sort((a, b) => a - b)).toEqual(Array.from({ length: settings.jobs }, (_, job) => job));
      expect(run.failedJobs).toBe(trace.deadLettered.length);
      for (const { job } of trace.completions) {
        const deliveries = trace.deliveries.filter((delivery) => delivery.job === job);
        expect(deliveries.filter((delivery) => delivery.outcome === "accepted")).toHaveLength(1);
        expect(deliveries.at(-1)?.outcome).toBe("accepted");
      }
    },
  );

  it.each(CASES)(
    "%s: a throttled message comes back a whole second or more later, within its budget",
    (_, settings) => {
      const { run, trace } = traced(settings);
      const byJob = new Map<number, WaitingRoomTrace["deliveries"]>();
      for (const delivery of trace.deliveries) byJob.set(delivery.job, [...(byJob.get(delivery.job) ?? []), delivery]);
      for (const deliveries of byJob.values()) {
        for (let index = 1; index < deliveries.length; index++) {
          expect(deliveries[index - 1]?.outcome).not.toBe("accepted");
          expect((deliveries[index]?.atMs ?? 0) - (deliveries[index - 1]?.atMs ?? 0)).toBeGreaterThanOrEqual(1000);
        }
        expect(deliveries.length).toBeLessThanOrEqual(settings.maxReceives ?? 100);
      }
      expect(run.calls).toBe(trace.deliveries.length);
      expect(run.throttled).toBe(trace.deliveries.filter((delivery) => delivery.outcome !== "accepted").length);
      expect(run.maxReceives).toBe(Math.max(...[...byJob.values()].map((deliveries) => deliveries.length)));
    },
  );

  it("gives the same figures for the same seed, and other figures for another", () => {
    const settings = { ...BASE, randomThrottleShare: 0.2, runs: 3 };
    expect(modelWaitingRoom(settings)).toEqual(modelWaitingRoom(settings));
    expect(traced(settings, 1).trace).toEqual(traced(settings, 1).trace);
    expect(traced(settings, 1).trace).not.toEqual(traced(settings, 2).trace);
  });
});

describe("waiting-room model: figures that follow from arithmetic", () => {
  it("keeps the quota busy and throttles nothing when C = R×L: makespan N/R exactly", () => {
    const result = modelWaitingRoom({ jobs: 300, requestsPerSecond: 10, latencySeconds: 1, slots: 10, runs: 5 });
    expect(result).toMatchObject({ ratio: 1, ratioRange: [1, 1], throttledShare: 0, maxReceives: 1, failedJobs: 0 });
  });

  it("meets issue 9's scale check: N=10,000, R=50/s, L=1 s, C=50 at N/R", () => {
    const result = modelWaitingRoom({ jobs: 10_000, requestsPerSecond: 50, latencySeconds: 1, slots: 50, runs: 3 });
    expect(result.ratio).toBeLessThanOrEqual(1.05);
    expect(result).toMatchObject({ throttledShare: 0, maxReceives: 1, failedJobs: 0, peakSlots: 50 });
  });

  it("runs at C/L images a second when C is below R×L, and at C/(L+o) with the generator's own time", () => {
    const room = { jobs: 300, requestsPerSecond: 10, latencySeconds: 1, runs: 1 };
    expect(modelWaitingRoom({ ...room, slots: 5 }).ratio).toBe(2);
    expect(modelWaitingRoom({ ...room, slots: 10, overheadSeconds: 0.05 }).ratio).toBeCloseTo(1.05, 10);
  });

  it("keeps the quota busy when a fifth of the calls are refused at random: the refused take no place in it", () => {
    const result = modelWaitingRoom({
      jobs: 300,
      requestsPerSecond: 10,
      latencySeconds: 1,
      slots: 10,
      randomThrottleShare: 0.2,
      runs: 11,
    });
    // Each refusal costs its message one second out of the queue, not the quota a call: only the tail is longer.
    expect(result.ratio).toBeGreaterThan(1);
    expect(result.ratio).toBeLessThan(1.25);
    expect(result.throttledShare).toBeGreaterThan(0.15);
    expect(result.throttledShare).toBeLessThan(0.25);
  });

  it("fails a job whose message is throttled on its last receive, as the generator does", () => {
    const { run, trace } = traced({ ...BASE, slots: 10, randomThrottleShare: 0.5, maxReceives: 1 });
    expect(run.failedJobs).toBeGreaterThan(0);
    expect(run.maxReceives).toBe(1);
    expect(trace.completions.length + trace.deadLettered.length).toBe(BASE.jobs);
  });
});

describe("waiting-room model: settings", () => {
  it("refuses settings it cannot run, naming each one and what is accepted", () => {
    expect(() => modelWaitingRoom({ ...BASE, slots: 0, latencySeconds: -1, randomThrottleShare: 1 })).toThrow(
      /latencySeconds must be a number > 0, got -1; slots must be a whole number > 0, got 0; randomThrottleShare must be from 0 to below 1, got 1/,
    );
  });

  it("refuses a delay that would hand a message straight back", () => {
    expect(() => modelWaitingRoom({ ...BASE, slots: 10, delaySeconds: () => 0 })).toThrow(
      "delaySeconds must give whole seconds >= 1, got 0",
    );
  });
});
