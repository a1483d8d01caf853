/**
 * Test support: a hand-driven clock and scheduler, plus a scriptable fake AssumeRole, so cache
 * tests move through hours of credential life without sleeping. Not used at run time.
 */
import { CredproxyError, ErrorCode } from "../errors";
import type { Timers } from "./call-with-timeout";
import type { RoleCredentials } from "./types";

export interface FakeClock {
  now(): number;
  readonly timers: Timers;
  /** Number of timers still scheduled. */
  pending(): number;
  /** Moves time forward, firing due timers in order and letting promises settle after each. */
  advance(ms: number): Promise<void>;
  /** Lets queued promise callbacks run without moving time. */
  flush(): Promise<void>;
}

export function createFakeClock(start = Date.UTC(2026, 0, 1, 12)): FakeClock {
  let time = start;
  let nextId = 1;
  const scheduled = new Map<number, { at: number; fn: () => void }>();
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  };
  return {
    now: () => time,
    timers: {
      set: (fn, delayMs) => {
        const id = nextId++;
        scheduled.set(id, { at: time + Math.max(0, delayMs), fn });
        return id;
      },
      clear: (handle) => void scheduled.delete(handle as number),
    },
    pending: () => scheduled.size,
    flush,
    async advance(ms) {
      const target = time + ms;
      await flush();
      for (;;) {
        let due: [number, { at: number; fn: () => void }] | undefined;
        for (const entry of scheduled) if (entry[1].at <= target && (!due || entry[1].at < due[1].at)) due = entry;
        if (!due) break;
        scheduled.delete(due[0]);
        time = due[1].at;
        due[1].fn();
        await flush();
      }
      time = target;
      await flush();
    },
  };
}

export type FakeStsMode = "ok" | "fail" | "hang";

export interface FakeSts {
  /** What the next calls do. */
  mode: FakeStsMode;
  lifetimeSeconds: number;
  /** The clock time of every call, in order. */
  readonly calls: number[];
  readonly signals: AbortSignal[];
  readonly fetch: (signal?: AbortSignal) => Promise<RoleCredentials>;
}

/** A RoleCredentialProvider stand-in: each successful call returns new keys (`ASIAFAKE<n>`). */
export function createFakeSts(clock: FakeClock, lifetimeSeconds = 3600): FakeSts {
  const sts: FakeSts = {
    mode: "ok",
    lifetimeSeconds,
    calls: [],
    signals: [],
    fetch: async (signal) => {
      sts.calls.push(clock.now());
      if (signal) sts.signals.push(signal);
      const n = sts.calls.length;
      if (sts.mode === "hang") return new Promise<RoleCredentials>(() => {});
      if (sts.mode === "fail") {
        throw new CredproxyError(ErrorCode.AssumeRole, `sts:AssumeRole failed: AccessDenied: call ${n} denied`, {
          hint: "check the trust policy",
        });
      }
      return {
        accessKeyId: `ASIAFAKE${n}`,
        secretAccessKey: `secret-${n}`,
        sessionToken: `token-${n}`,
        expiration: new Date(clock.now() + sts.lifetimeSeconds * 1000),
        roleArn: "arn:aws:iam::123456789012:role/dev",
        accountId: "123456789012",
        assumedRoleArn: "arn:aws:sts::123456789012:assumed-role/dev/credproxy",
      };
    },
  };
  return sts;
}
