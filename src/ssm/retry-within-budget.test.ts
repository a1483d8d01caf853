import { expect, test } from "bun:test";
import { retryWithinBudget, type Outage, type RetryInput } from "./retry-within-budget.ts";

/** A fake clock that `sleep` advances; records every delay. */
function harness(results: (boolean | Error)[], overrides: Partial<RetryInput> = {}) {
  let clock = 1_000;
  const delays: number[] = [];
  const outage: Outage = { since: clock, attempts: 0 };
  let calls = 0;
  const input: RetryInput = {
    attempt: async () => {
      const result = results[Math.min(calls++, results.length - 1)]!;
      if (result instanceof Error) throw result;
      return result;
    },
    isFatal: (error) => error instanceof Error && error.message === "fatal",
    stopped: () => false,
    now: () => clock,
    outage,
    budgetMs: 2_000,
    sleep: async (ms) => {
      delays.push(ms);
      clock += ms;
    },
    ...overrides,
  };
  return { run: () => retryWithinBudget(input), delays, outage, calls: () => calls };
}

test("failures back off 100, 200, 400 ms until an attempt succeeds", async () => {
  const h = harness([new Error("dial"), new Error("dial"), new Error("dial"), true]);
  expect(await h.run()).toEqual({ kind: "up" });
  expect(h.delays).toEqual([100, 200, 400]);
  expect(h.calls()).toBe(4);
});

test("an outage that outlasts its budget ends exhausted, the last delay cut to the deadline", async () => {
  const h = harness([new Error("dial")]);
  const outcome = await h.run();
  expect(outcome.kind).toBe("exhausted");
  expect(h.delays).toEqual([100, 200, 400, 800, 500]);
  expect(h.delays.reduce((a, b) => a + b, 0)).toBe(2_000);
});

test("a fatal failure ends at once without waiting", async () => {
  const h = harness([new Error("fatal")]);
  expect((await h.run()).kind).toBe("fatal");
  expect(h.delays).toEqual([]);
});

test("the outage record carries on across loops: a second loop continues the backoff and the deadline", async () => {
  const first = harness([new Error("dial"), new Error("dial"), true]);
  await first.run();
  const second = harness([new Error("dial"), true], { outage: first.outage, now: () => 1_000 + 300 });
  await second.run();
  expect(second.delays).toEqual([400]);
});

test("a stopped caller ends the loop before the next attempt", async () => {
  let stopped = false;
  const h = harness([new Error("dial"), true], { stopped: () => stopped, sleep: async () => void (stopped = true) });
  expect(await h.run()).toEqual({ kind: "stopped" });
  expect(h.calls()).toBe(1);
});
