import { describe, expect, test } from "bun:test";
import { RttEstimator } from "./rtt-estimator.ts";

describe("RttEstimator", () => {
  test("starts like the plugin: SRTT 100 ms, RTTVAR 0, RTO 200 ms", () => {
    const rtt = new RttEstimator();
    expect([rtt.srttMs, rtt.rttVarMs, rtt.rtoMs]).toEqual([100, 0, 200]);
  });

  test("one 50 ms sample moves SRTT by an eighth and RTTVAR by a quarter of the error", () => {
    const rtt = new RttEstimator();
    rtt.sample(50);
    expect([rtt.rttVarMs, rtt.srttMs, rtt.rtoMs]).toEqual([12.5, 93.75, 93.75 + 50]);
  });

  test("a steady fast path converges to SRTT plus the 10 ms clock-granularity floor", () => {
    const rtt = new RttEstimator();
    for (let i = 0; i < 200; i++) rtt.sample(2);
    expect(rtt.srttMs).toBeCloseTo(2, 5);
    expect(rtt.rtoMs).toBeCloseTo(12, 5);
  });

  test("a very slow sample is capped at the 1 s maximum", () => {
    const rtt = new RttEstimator();
    rtt.sample(5000);
    expect(rtt.rtoMs).toBe(1000);
  });

  test("a negative sample from a clock step counts as zero", () => {
    const rtt = new RttEstimator();
    rtt.sample(-500);
    expect([rtt.rttVarMs, rtt.srttMs]).toEqual([25, 87.5]);
  });
});
