import { describe, expect, test } from "bun:test";
import { CredproxyError, ErrorCode } from "../errors";
import { createFakeClock, createFakeSts } from "./_fake-clock";
import { createRefreshingCredentials, type RefreshDetail, type RefreshingCredentialsOptions } from "./refreshing-credentials";
import { rejection } from "./_rejection";

const S = 1000;

function setup(overrides: Partial<RefreshingCredentialsOptions> & { lifetimeSeconds?: number } = {}) {
  const clock = createFakeClock();
  const sts = createFakeSts(clock, overrides.lifetimeSeconds ?? 3600);
  const events: { outcome: string; detail: RefreshDetail }[] = [];
  const creds = createRefreshingCredentials({
    name: "web",
    fetch: sts.fetch,
    refreshBufferSeconds: 300,
    retryDelaySeconds: 60,
    requestTimeoutSeconds: 30,
    now: clock.now,
    random: () => 0,
    timers: clock.timers,
    onRefresh: (outcome, detail) => events.push({ outcome, detail }),
    ...overrides,
  });
  return { clock, sts, creds, events };
}


describe("createRefreshingCredentials", () => {
  test("peek() answers only from a usable cache and starts the due refresh without waiting for it", async () => {
    const { clock, sts, creds } = setup();
    expect(creds.peek()).toBeUndefined();
    expect(sts.calls).toHaveLength(0); // peek never fetches on an empty cache
    const first = await creds.get();
    expect(creds.peek()).toBe(first);
    creds.stop(); // no background timer: only peek() can notice the refresh is due
    await clock.advance(2400 * S); // 3600 s credentials are due 20 minutes before expiry
    expect(sts.calls).toHaveLength(1);
    expect(creds.peek()).toBe(first); // still served while the refresh runs
    expect(sts.calls).toHaveLength(2);
    await clock.flush();
    expect(creds.peek()?.accessKeyId).not.toBe(first.accessKeyId);
  });

  test("ten concurrent get() calls on an empty cache make one fetch and all get the same credentials", async () => {
    const { sts, creds } = setup();
    const results = await Promise.all(Array.from({ length: 10 }, () => creds.get()));
    expect(sts.calls).toHaveLength(1);
    for (const r of results) expect(r).toBe(results[0]!);
  });

  test("start() while a get() is fetching joins that fetch instead of starting another", async () => {
    const { clock, sts, creds } = setup();
    const pending = creds.get();
    creds.start();
    expect(await pending).toBe(await creds.get());
    await clock.flush();
    expect(sts.calls).toHaveLength(1);
  });

  test("get() during back-off joins a fetch already in flight instead of failing fast", async () => {
    const { sts, creds } = setup();
    sts.mode = "fail";
    await rejection(creds.get());
    sts.mode = "ok";
    creds.start(); // fetches at once, inside the 1 s back-off
    expect((await creds.get()).accessKeyId).toBe("ASIAFAKE2");
    expect(sts.calls).toHaveLength(2);
  });

  test("get() answers from the cache without calling STS while the credentials are fresh", async () => {
    const { clock, sts, creds } = setup();
    const first = await creds.get();
    await clock.advance(1000 * S);
    expect(await creds.get()).toBe(first);
    expect(sts.calls).toHaveLength(1);
  });

  test("start() fetches at once so status() is ready before the first request", async () => {
    const { clock, sts, creds } = setup();
    expect(creds.status().state).toBe("pending");
    creds.start();
    await clock.flush();
    expect(sts.calls).toHaveLength(1);
    expect(creds.status()).toMatchObject({ state: "ready", serving: true, consecutiveFailures: 0 });
  });

  test("one-hour credentials are refreshed in the background 20 minutes before they expire", async () => {
    const { clock, sts, creds } = setup({ lifetimeSeconds: 3600 });
    creds.start();
    await clock.advance(2400 * S - 1);
    expect(sts.calls).toHaveLength(1);
    await clock.advance(1);
    expect(sts.calls).toHaveLength(2);
    expect((await creds.get()).accessKeyId).toBe("ASIAFAKE2");
  });

  test("15-minute credentials are refreshed at half their lifetime", async () => {
    const { clock, sts, creds } = setup({ lifetimeSeconds: 900 });
    creds.start();
    await clock.advance(450 * S - 1);
    expect(sts.calls).toHaveLength(1);
    await clock.advance(1);
    expect(sts.calls).toHaveLength(2);
  });

  test("a refresh buffer longer than the default lead moves the refresh earlier", async () => {
    const { clock, sts, creds } = setup({ lifetimeSeconds: 3600, refreshBufferSeconds: 1500 });
    creds.start();
    await clock.advance(2100 * S - 1);
    expect(sts.calls).toHaveLength(1);
    await clock.advance(1);
    expect(sts.calls).toHaveLength(2);
  });

  test("served credentials always keep at least refresh_buffer_seconds of life", async () => {
    for (const [lifetimeSeconds, refreshBufferSeconds] of [[3600, 300], [900, 300], [900, 600], [43200, 3600]] as const) {
      const { clock, creds } = setup({ lifetimeSeconds, refreshBufferSeconds });
      creds.start();
      for (let t = 0; t < lifetimeSeconds * 3; t += 7) {
        const served = await creds.get();
        expect(served.expiration.getTime() - clock.now()).toBeGreaterThanOrEqual(refreshBufferSeconds * S);
        await clock.advance(7 * S);
      }
      creds.stop();
    }
  });

  test("a refresh buffer as long as the lifetime refreshes about once a minute, not in a loop", async () => {
    const { clock, sts, creds } = setup({ lifetimeSeconds: 900, refreshBufferSeconds: 3600 });
    creds.start();
    await clock.advance(900 * S);
    expect(sts.calls.length).toBeGreaterThanOrEqual(14);
    expect(sts.calls.length).toBeLessThanOrEqual(16);
  });

  test("get() does not wait for a refresh that is in flight while cached credentials are valid", async () => {
    const { clock, sts, creds } = setup();
    const first = await creds.get();
    sts.mode = "hang";
    await clock.advance(2400 * S);
    expect(sts.calls).toHaveLength(2);
    expect(creds.status().state).toBe("refreshing");
    expect(await creds.get()).toBe(first);
  });

  test("without timers, get() inside the lead returns the cached credentials and starts one background refresh", async () => {
    const { clock, sts, creds } = setup();
    const first = await creds.get();
    creds.stop(); // no background schedule from here on
    await clock.advance(2500 * S);
    expect(sts.calls).toHaveLength(1);
    expect(await creds.get()).toBe(first);
    expect(await creds.get()).toBe(first);
    expect(sts.calls).toHaveLength(2);
    await clock.flush();
    expect((await creds.get()).accessKeyId).toBe("ASIAFAKE2");
  });

  test("while refreshes fail the last good credentials are served until they are about to expire", async () => {
    const { clock, sts, creds } = setup({ lifetimeSeconds: 900 });
    creds.start();
    await clock.flush();
    sts.mode = "fail";
    await clock.advance(600 * S);
    expect(sts.calls.length).toBeGreaterThan(2);
    expect((await creds.get()).accessKeyId).toBe("ASIAFAKE1");
    expect(creds.status()).toMatchObject({ state: "failing", serving: true, code: ErrorCode.AssumeRole });
    await clock.advance(290 * S - 1); // 10 s before expiry: still served
    expect((await creds.get()).accessKeyId).toBe("ASIAFAKE1");
    await clock.advance(1);
    const err = await rejection(creds.get());
    expect(err.code).toBe(ErrorCode.AssumeRole);
    expect(err.message).toContain("service 'web'");
    expect(err.message).toContain("AccessDenied");
    expect(err.hint).toBe("check the trust policy");
    expect(creds.status().serving).toBe(false);
  });

  test("retries start after 1 s and double up to retry_delay", async () => {
    const { clock, sts, creds } = setup({ retryDelaySeconds: 60 });
    sts.mode = "fail";
    creds.start();
    await clock.advance(600 * S);
    const gaps = sts.calls.slice(1, 10).map((t, i) => (t - sts.calls[i]!) / S);
    expect(gaps).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60]);
  });

  test("jitter spreads each retry between half and all of its back-off step", async () => {
    const { clock, sts, creds } = setup({ retryDelaySeconds: 10, random: () => 0.5 });
    sts.mode = "fail";
    creds.start();
    await clock.advance(60 * S);
    const gaps = sts.calls.slice(1, 7).map((t, i) => (t - sts.calls[i]!) / S);
    expect(gaps).toEqual([0.75, 1.5, 3, 6, 7.5, 7.5]);
  });

  test("during back-off with nothing valid cached, get() fails fast with the last error and does not call STS", async () => {
    const { clock, sts, creds } = setup();
    sts.mode = "fail";
    const first = await rejection(creds.get());
    const second = await rejection(creds.get());
    expect(second).toBe(first);
    expect(sts.calls).toHaveLength(1);
    await clock.advance(1 * S);
    expect(sts.calls).toHaveLength(2);
  });

  test("recovers by itself when STS answers again", async () => {
    const { clock, sts, creds } = setup();
    sts.mode = "fail";
    creds.start();
    await clock.advance(7 * S); // attempts at 0, 1, 3, 7 s
    expect(creds.status()).toMatchObject({ state: "failing", consecutiveFailures: 4 });
    sts.mode = "ok";
    await clock.advance(8 * S);
    expect(creds.status()).toMatchObject({ state: "ready", serving: true, consecutiveFailures: 0 });
    expect(creds.status().reason).toBeUndefined();
    expect((await creds.get()).accessKeyId).toBe("ASIAFAKE5");
    expect(creds.status().nextAttemptAt?.getTime()).toBe(clock.now() + 2400 * S);
  });

  test("a fetch that does not answer within request_timeout fails with E_STS_TIMEOUT and its signal is aborted", async () => {
    const { clock, sts, creds } = setup({ requestTimeoutSeconds: 5 });
    sts.mode = "hang";
    const pending = rejection(creds.get());
    await clock.advance(5 * S);
    const err = await pending;
    expect(err.code).toBe(ErrorCode.StsTimeout);
    expect(err.message).toBe("Cannot get credentials for service 'web' as the request timed out after 5 s");
    expect(sts.signals[0]?.aborted).toBe(true);
  });

  test("status() reports the failure, its code and when the next attempt runs", async () => {
    const { clock, sts, creds } = setup();
    sts.mode = "fail";
    await rejection(creds.get());
    expect(creds.status()).toEqual({
      state: "failing",
      serving: false,
      consecutiveFailures: 1,
      code: ErrorCode.AssumeRole,
      reason: "Cannot get credentials for service 'web': sts:AssumeRole failed: AccessDenied: call 1 denied",
      nextAttemptAt: new Date(clock.now() + 1 * S),
    });
  });

  test("credentials that STS returns already expired count as a failure", async () => {
    const { sts, creds } = setup({ lifetimeSeconds: 5 });
    const err = await rejection(creds.get());
    expect(err.message).toContain("already expired");
    expect(creds.status()).toMatchObject({ state: "failing", serving: false });
    expect(sts.calls).toHaveLength(1);
  });

  test("invalidate() drops the cached credentials so the next get() fetches new ones", async () => {
    const { sts, creds } = setup();
    expect((await creds.get()).accessKeyId).toBe("ASIAFAKE1");
    creds.invalidate();
    expect(creds.status()).toMatchObject({ state: "pending", serving: false });
    expect((await creds.get()).accessKeyId).toBe("ASIAFAKE2");
    expect(sts.calls).toHaveLength(2);
  });

  test("credentials from a fetch begun before invalidate() are not cached", async () => {
    const { clock, sts } = setup();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const fetch = sts.fetch;
    const slow = createRefreshingCredentials({
      name: "web", fetch: async (s) => { const c = await fetch(s); if (c.accessKeyId === "ASIAFAKE1") await gate; return c; },
      refreshBufferSeconds: 300, retryDelaySeconds: 60, requestTimeoutSeconds: 30, now: clock.now, timers: clock.timers,
    });
    const before = slow.get();
    slow.invalidate();
    const after = await slow.get();
    release();
    expect((await before).accessKeyId).toBe("ASIAFAKE1");
    expect(after.accessKeyId).toBe("ASIAFAKE2");
    expect((await slow.get()).accessKeyId).toBe("ASIAFAKE2");
    slow.stop();
  });

  test("stop() clears every timer, aborts the in-flight fetch and nothing runs afterwards", async () => {
    const { clock, sts, creds } = setup();
    sts.mode = "hang";
    creds.start();
    const waiting = rejection(creds.get());
    expect(clock.pending()).toBe(1); // the request timeout
    creds.stop();
    expect(sts.signals[0]?.aborted).toBe(true);
    expect((await waiting).message).toContain("stopping");
    expect(clock.pending()).toBe(0);
    await clock.advance(24 * 3600 * S);
    expect(sts.calls).toHaveLength(1);
  });

  test("onRefresh reports every success and failure with the new expiry", async () => {
    const { clock, sts, events, creds } = setup();
    await creds.get();
    sts.mode = "fail";
    await clock.advance(2400 * S);
    expect(events.map((e) => e.outcome)).toEqual(["success", "failure"]);
    expect(events[0]?.detail.expiration?.getTime()).toBe(clock.now() - 2400 * S + 3600 * S);
    expect(events[1]?.detail).toMatchObject({ consecutiveFailures: 1 });
    expect(events[1]?.detail.error?.code).toBe(ErrorCode.AssumeRole);
  });

  test("errors that are not CredproxyErrors are wrapped with the service name", async () => {
    const { clock } = setup();
    const creds = createRefreshingCredentials({
      name: "api", fetch: async () => { throw new TypeError("boom"); },
      refreshBufferSeconds: 300, retryDelaySeconds: 60, requestTimeoutSeconds: 30, now: clock.now, timers: clock.timers,
    });
    const err = await rejection(creds.get());
    expect(err.message).toBe("Cannot get credentials for service 'api': boom");
    expect(err.code).toBe(ErrorCode.AssumeRole);
    creds.stop();
  });
});
