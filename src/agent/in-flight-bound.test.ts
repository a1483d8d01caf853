import { describe, expect, test } from "bun:test";
import { InFlightBound } from "./in-flight-bound.ts";
import { WindowedExtreme } from "./windowed-extreme.ts";

const T0 = 1_000_000;

/**
 * A path like the SSM agent's: a FIFO drained at `bytesPerMs` after `baseMs` of delay, with the
 * client reporting every `reportEveryMs`. A greedy sender (cubic filling every queue) offers a
 * 1400-byte packet whenever the bound admits one (up to 20 a millisecond). Time moves in 1 ms steps.
 */
function simulate(bound: InFlightBound, ms: number, path = { bytesPerMs: 800, baseMs: 2, reportEveryMs: 10 }) {
  const queue: { bytes: number; sentAt: number }[] = [];
  let delivered = 0;
  let queuedBytes = 0;
  let peakQueueMs = 0;
  let budget = 0;
  bound.report(0, T0);
  for (let t = T0; t < T0 + ms; t++) {
    // At most 20 packets a millisecond: a fast sender, but a finite loop whatever the bound says.
    for (let n = 0; n < 20 && bound.admit(1400, t); n++) {
      bound.sent(1400, t);
      queue.push({ bytes: 1400, sentAt: t });
      queuedBytes += 1400;
    }
    budget += path.bytesPerMs;
    while (queue.length > 0 && queue[0]!.bytes <= budget && t - queue[0]!.sentAt >= path.baseMs) {
      budget -= queue[0]!.bytes;
      queuedBytes -= queue[0]!.bytes;
      delivered += queue.shift()!.bytes;
    }
    if (queue.length === 0) budget = Math.min(budget, path.bytesPerMs);
    if (t > T0 + 2000) peakQueueMs = Math.max(peakQueueMs, queuedBytes / path.bytesPerMs);
    if ((t - T0) % path.reportEveryMs === 0) bound.report(delivered, t);
  }
  return { delivered, peakQueueMs };
}

describe("the agent's in-flight bound", () => {
  test("before the client's first report it admits everything (a client without reports keeps the old behaviour)", () => {
    const bound = new InFlightBound();
    for (let i = 0; i < 1000; i++) {
      expect(bound.admit(1400, T0)).toBe(true);
      bound.sent(1400, T0);
    }
    expect(bound.stats(T0)).toMatchObject({ reports: 0, drops: 0, inFlightBytes: 1_400_000, limitBytes: undefined });
  });

  test("until a rate is known the target is the floor; past twice the target every packet is dropped and counted", () => {
    const bound = new InFlightBound({ floorBytes: 4000 });
    bound.sent(1400, T0);
    bound.report(0, T0 + 1);
    let admitted = 0;
    while (bound.admit(1400, T0 + 1)) {
      bound.sent(1400, T0 + 1);
      admitted++;
    }
    // 1400 in flight, then four more up to 7000; the next would be 8400, over the hard 8000.
    expect(admitted).toBe(4);
    expect(bound.stats(T0 + 1)).toMatchObject({ reports: 1, drops: 1, dropBytes: 1400, inFlightBytes: 7000, limitBytes: 4000 });
  });

  test("over the target for an interval, one packet is dropped, the next after interval/√2, and so on until it is back under", () => {
    const bound = new InFlightBound({ floorBytes: 10_000, intervalMs: 40 });
    bound.sent(12_000, T0);
    bound.report(0, T0);
    const at = (ms: number) => bound.admit(1400, T0 + ms);
    expect([at(0), at(39), at(40), at(41), at(79), at(80), at(108), at(109)]).toEqual([true, true, false, true, true, false, true, false]);
    bound.report(5000, T0 + 110);
    expect([at(110), at(200)]).toEqual([true, true]);
    expect(bound.stats(T0 + 200).drops).toBe(3);
  });

  test("a small packet is not dropped over the target and may go a little over the hard limit, so a ping is not lost behind a bulk flow", () => {
    const bound = new InFlightBound({ floorBytes: 4000, smallHeadroomBytes: 1000, intervalMs: 40 });
    bound.sent(6000, T0);
    bound.report(0, T0);
    expect([bound.admit(84, T0), bound.admit(84, T0 + 100), bound.admit(84, T0 + 200)]).toEqual([true, true, true]);
    bound.sent(2000, T0 + 200);
    expect(bound.admit(1400, T0 + 200)).toBe(false);
    expect(bound.admit(84, T0 + 200)).toBe(true);
  });

  test("pacing: more may go only up to the target (small frames a little over it), nothing held before the first report or with nothing in flight", () => {
    const bound = new InFlightBound({ floorBytes: 4000, smallHeadroomBytes: 1000 });
    expect(bound.mayPace(1_000_000, T0)).toBe(true);
    bound.sent(3000, T0);
    bound.report(0, T0);
    expect([bound.mayPace(1000, T0), bound.mayPace(1001, T0), bound.mayPace(100, T0)]).toEqual([true, false, true]);
    bound.sent(1900, T0);
    expect([bound.mayPace(100, T0), bound.mayPace(101 + 128, T0)]).toEqual([true, false]);
    // Pacing refuses without counting a drop: the sender keeps the bytes.
    expect(bound.stats(T0).drops).toBe(0);
    bound.report(4900, T0 + 10);
    expect(bound.mayPace(20_000, T0 + 10)).toBe(true);
  });

  test("the minimum RTT is the report's time less the send time of the newest packet it covers", () => {
    const bound = new InFlightBound();
    bound.sent(1000, T0);
    bound.sent(1000, T0 + 5);
    bound.report(1000, T0 + 30);
    expect(bound.stats(T0 + 30).minRttMs).toBe(30);
    bound.report(2000, T0 + 12);
    expect(bound.stats(T0 + 12).minRttMs).toBe(7);
  });

  test("a report that shrinks or covers bytes never sent is ignored", () => {
    const bound = new InFlightBound();
    bound.sent(1000, T0);
    bound.report(800, T0 + 1);
    bound.report(700, T0 + 2);
    bound.report(5000, T0 + 3);
    expect(bound.stats(T0 + 3)).toMatchObject({ reports: 1, inFlightBytes: 200 });
  });

  test("under a greedy sender on an 800 B/ms path the queue stays near the margin and the path stays busy", () => {
    const bound = new InFlightBound({ floorBytes: 8192, marginMs: 10 });
    const { delivered, peakQueueMs } = simulate(bound, 10_000);
    const stats = bound.stats(T0 + 10_000);
    expect(delivered / (800 * 10_000)).toBeGreaterThan(0.95);
    // The queue is bounded by the limit (the floor, or the rate times minRTT plus the margin).
    expect(stats.limitBytes!).toBeLessThan(800 * 30);
    expect(peakQueueMs).toBeLessThan(35);
    expect(stats.rateBytesPerSecond!).toBeGreaterThan(700_000);
    expect(stats.rateBytesPerSecond!).toBeLessThan(900_000);
    expect(stats.drops).toBeGreaterThan(0);
  });

  test("on a long path the limit grows past the floor to the bandwidth-delay product, keeping the path busy", () => {
    const bound = new InFlightBound({ floorBytes: 8192, marginMs: 10 });
    const { delivered } = simulate(bound, 10_000, { bytesPerMs: 800, baseMs: 60, reportEveryMs: 10 });
    const stats = bound.stats(T0 + 10_000);
    expect(stats.minRttMs!).toBeGreaterThanOrEqual(60);
    expect(stats.limitBytes!).toBeGreaterThan(800 * 60);
    expect(delivered / (800 * 10_000)).toBeGreaterThan(0.85);
  });
});

describe("the windowed extreme", () => {
  test("keeps the minimum of the window and lets it go when it ages out", () => {
    const min = new WindowedExtreme("min", 100);
    min.add(5, 0);
    min.add(9, 50);
    min.add(7, 60);
    expect(min.get(60)).toBe(5);
    expect(min.get(101)).toBe(7);
    expect(min.get(161)).toBeUndefined();
  });

  test("keeps the maximum the same way", () => {
    const max = new WindowedExtreme("max", 100);
    for (let i = 0; i < 1000; i++) max.add(i % 10, i);
    expect(max.get(999)).toBe(9);
  });
});
