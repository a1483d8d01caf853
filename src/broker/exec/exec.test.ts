/**
 * runExec with a fake credential cache and real child processes (sh, python3): what the command
 * sees, exit statuses, signal forwarding and the endpoint's lifetime.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import type { RefreshingCredentials } from "../../credentials/refreshing-credentials.ts";
import type { RoleCredentials } from "../../credentials/types.ts";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { createLogger, silentLogger } from "../../log.ts";
import type { BrokerCredentials } from "../broker-credentials.ts";
import { exitStatus, procStat, runExec, type ExecOptions } from "./exec.ts";

const dir = mkdtempSync(join(tmpdir(), "credproxy-exec-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CREDS: RoleCredentials = {
  accessKeyId: "ASIAFAKEBROKER000001",
  secretAccessKey: "fake-secret-access-key-0000000000000000",
  sessionToken: "fake-session-token",
  expiration: new Date(Date.now() + 3600_000),
  roleArn: "arn:aws:iam::123456789012:role/base",
  accountId: "123456789012",
  assumedRoleArn: "arn:aws:sts::123456789012:assumed-role/base/credproxy-broker",
};

function fakeCache(get: () => Promise<RoleCredentials>): RefreshingCredentials & { gets: number } {
  const cache = {
    gets: 0,
    get() {
      cache.gets++;
      return get();
    },
    peek: () => CREDS,
    status: () => ({ state: "ready" as const, serving: true, consecutiveFailures: 0 }),
    start() {},
    stop() {},
    invalidate() {},
  };
  return cache;
}

function fakeCredentials(get: () => Promise<RoleCredentials> = async () => CREDS): BrokerCredentials & { base: ReturnType<typeof fakeCache> } {
  return {
    base: fakeCache(get),
    forRoleArn: () => new CredproxyError(ErrorCode.Usage, "not allowed"),
    stop() {},
  };
}

const parentEnv = { PATH: process.env.PATH, HOME: dir, AWS_ACCESS_KEY_ID: "AKIAPARENT0000000001", AWS_SECRET_ACCESS_KEY: "parent-secret", AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null" };

const exec = (command: string[], extra: Partial<ExecOptions> = {}) =>
  runExec({ command, credentials: fakeCredentials(), region: "eu-west-1", logger: silentLogger, env: parentEnv, ...extra });

async function waitForFile(path: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`);
    await Bun.sleep(10);
  }
}

describe("runExec", () => {
  test("mirrors the command's exit code", async () => {
    expect(await exec(["sh", "-c", "exit 7"])).toBe(7);
    expect(await exec(["true"])).toBe(0);
  });

  test("a command ended by a signal gives 128 + its number", async () => {
    expect(await exec(["sh", "-c", "kill -KILL $$"])).toBe(137);
    expect(await exec(["sh", "-c", "kill -TERM $$"])).toBe(143);
  });

  test("the command gets credentials from the endpoint with the token in its environment, and not the parent's keys", async () => {
    const out = join(dir, "env.json");
    const script = `
import json, os, urllib.request
req = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"], headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
body = json.load(urllib.request.urlopen(req))
json.dump({"env": dict(os.environ), "body": body}, open(${JSON.stringify(out)}, "w"))
`;
    expect(await exec(["python3", "-c", script])).toBe(0);
    const { env, body } = JSON.parse(readFileSync(out, "utf8")) as { env: Record<string, string>; body: Record<string, string> };
    expect(body.AccessKeyId).toBe(CREDS.accessKeyId);
    expect(env.AWS_CONTAINER_CREDENTIALS_FULL_URI).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(env.AWS_CONTAINER_AUTHORIZATION_TOKEN).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(env.AWS_REGION).toBe("eu-west-1");
    expect(env.AWS_DEFAULT_REGION).toBe("eu-west-1");
    expect(env).not.toHaveProperty("AWS_ACCESS_KEY_ID");
    expect(env).not.toHaveProperty("AWS_SECRET_ACCESS_KEY");
  });

  test("fetches credentials once before starting the command, and stops the endpoint after it exits", async () => {
    const credentials = fakeCredentials();
    const out = join(dir, "uri");
    expect(await exec(["sh", "-c", `printf %s "$AWS_CONTAINER_CREDENTIALS_FULL_URI" > ${out}`], { credentials })).toBe(0);
    expect(credentials.base.gets).toBe(1);
    await expect(fetch(readFileSync(out, "utf8"))).rejects.toThrow();
  });

  test("when the role cannot be assumed it throws the core's error and never starts the command", async () => {
    const marker = join(dir, "should-not-exist");
    const error = new CredproxyError(ErrorCode.AssumeRole, "Cannot get credentials for service 'broker': AccessDenied");
    const credentials = fakeCredentials(() => Promise.reject(error));
    await expect(exec(["touch", marker], { credentials })).rejects.toBe(error);
    expect(existsSync(marker)).toBe(false);
  });

  test("a command that is not found exits 127, one that cannot be executed 126", async () => {
    const stderr = process.stderr.write;
    process.stderr.write = () => true; // keep the expected error lines out of the test output
    try {
      expect(await exec(["credproxy-no-such-command-xyz"])).toBe(127);
      expect(await exec([dir])).toBe(126);
    } finally {
      process.stderr.write = stderr;
    }
  });

  test("logs a shadowing warning, naming the file, when ~/.aws/credentials has [default] keys", async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: "warn", write: (l) => lines.push(l) });
    const readFile = (path: string) => (path === "/home/x/.aws/credentials" ? "[default]\naws_access_key_id = AKIA\n" : undefined);
    expect(await exec(["true"], { logger, readFile, env: { PATH: process.env.PATH, HOME: "/home/x" } })).toBe(0);
    expect(lines.join("\n")).toContain("/home/x/.aws/credentials");
    lines.length = 0;
    expect(await exec(["true"], { logger, readFile, env: { PATH: process.env.PATH, HOME: "/home/x" }, isolateSharedFiles: true })).toBe(0);
    expect(lines).toEqual([]);
  });
});

describe("runExec signal forwarding", () => {
  // These signal the test process itself while runExec's handlers are installed. The command
  // gives up after ~10 s (exit 99) so a lost signal fails the test instead of leaving it behind.
  const trapping = (ready: string, traps: string) => ["sh", "-c", `${traps}; touch ${ready}; i=0; while [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done; exit 99`];
  const signalSelf = (signal: NodeJS.Signals): void => {
    // Only runExec may be listening: another listener (or none) could stop the test runner.
    if (process.listenerCount(signal) !== 1) throw new Error(`${signal} has ${process.listenerCount(signal)} listeners; not sending it to the test process`);
    process.kill(process.pid, signal);
  };

  // Every signal that would otherwise end credproxy (and with it the IMDS address it added).
  for (const signal of ["SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGINT", "SIGQUIT", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGIO"] as const) {
    test(`${signal} is forwarded to the command`, async () => {
      const ready = join(dir, `ready-${signal}`);
      const running = exec(trapping(ready, `trap 'exit 42' ${constants.signals[signal]}`), { keyboardSignalsReachChild: () => false });
      await waitForFile(ready);
      signalSelf(signal);
      expect(await running).toBe(42);
    });
  }

  test("SIGWINCH is forwarded too", async () => {
    const ready = join(dir, "ready-winch");
    const running = exec(trapping(ready, "trap 'exit 43' WINCH"));
    await waitForFile(ready);
    signalSelf("SIGWINCH");
    expect(await running).toBe(43);
  });

  test("a terminal's SIGINT is not sent a second time when the command already received it", async () => {
    const ready = join(dir, "ready-tty");
    const log = join(dir, "int-log");
    const running = exec(trapping(ready, `trap 'echo int >> ${log}' INT; trap 'exit 44' USR1`), { keyboardSignalsReachChild: () => true });
    await waitForFile(ready);
    signalSelf("SIGINT");
    await Bun.sleep(100);
    signalSelf("SIGUSR1");
    expect(await running).toBe(44);
    expect(existsSync(log)).toBe(false);
  });

  test("the handlers are removed once the command has exited", async () => {
    const before = process.listenerCount("SIGTERM");
    await exec(["true"]);
    expect(process.listenerCount("SIGTERM")).toBe(before);
  });
});

describe("exitStatus", () => {
  test("code as is; 128 + number for a signal, by name or number", () => {
    expect(exitStatus(0, null)).toBe(0);
    expect(exitStatus(3, null)).toBe(3);
    expect(exitStatus(null, "SIGINT")).toBe(130);
    expect(exitStatus(null, "SIGKILL")).toBe(137);
    expect(exitStatus(null, 15)).toBe(143);
  });
});

describe("procStat", () => {
  test("reads pgrp, tty_nr and tpgid after the command name, even one with spaces and parentheses", () => {
    const read = () => "4781 (my (odd) cmd) S 4777 4777 27342 34816 4777 4194304 97 0";
    expect(procStat("4781", read)).toEqual({ pgrp: 4777, ttyNr: 34816, tpgid: 4777 });
  });

  test("undefined without /proc or with a garbled line", () => {
    expect(procStat("1", () => undefined)).toBeUndefined();
    expect(procStat("1", () => "garbage")).toBeUndefined();
  });
});
