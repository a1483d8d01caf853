import { expect, test } from "bun:test";
import { backoffDelayMs, nextAttemptDelayMs } from "./reconnect-backoff.ts";

test("backoff doubles from 100 ms and stops growing at 5 s", () => {
  expect([0, 1, 2, 3, 5, 6, 20].map((n) => backoffDelayMs(n))).toEqual([100, 200, 400, 800, 3200, 5000, 5000]);
});

test("the retry budget is time: the last delay is cut to the deadline, and past it there is none", () => {
  expect(nextAttemptDelayMs(10, 1000, 3000)).toBe(2000);
  expect(nextAttemptDelayMs(0, 1000, 3000)).toBe(100);
  expect(nextAttemptDelayMs(0, 3000, 3000)).toBeUndefined();
});
