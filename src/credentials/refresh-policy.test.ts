import { describe, expect, test } from "bun:test";
import { refreshLeadMs, retryDelayMs } from "./refresh-policy";

const MIN = 60_000;

describe("refreshLeadMs", () => {
  test("is 20 minutes for credentials of 40 minutes or more, above botocore's 15-minute window", () => {
    expect(refreshLeadMs(60 * MIN, 5 * MIN)).toBe(20 * MIN);
    expect(refreshLeadMs(12 * 60 * MIN, 5 * MIN)).toBe(20 * MIN);
  });

  test("is half the lifetime for shorter credentials", () => {
    expect(refreshLeadMs(15 * MIN, 5 * MIN)).toBe(7.5 * MIN);
  });

  test("is never less than the refresh buffer", () => {
    expect(refreshLeadMs(60 * MIN, 30 * MIN)).toBe(30 * MIN);
    expect(refreshLeadMs(15 * MIN, 10 * MIN)).toBe(10 * MIN);
  });

  test("leaves at least a minute between refreshes when the buffer is as long as the lifetime", () => {
    expect(refreshLeadMs(15 * MIN, 60 * MIN)).toBe(14 * MIN);
  });
});

describe("retryDelayMs", () => {
  test("starts at 1 s and doubles until the cap", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(n, 60_000, () => 0))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000,
    ]);
  });

  test("stays at the cap after many failures", () => {
    expect(retryDelayMs(1_000, 60_000, () => 0)).toBe(60_000);
  });

  test("jitter takes off at most half of the step", () => {
    expect(retryDelayMs(3, 60_000, () => 0.999999)).toBeGreaterThan(2_000);
    expect(retryDelayMs(3, 60_000, () => 0.5)).toBe(3_000);
  });
});
