/**
 * `tunnel down --force` on macOS, with the real argv builders over a fake command runner: only
 * routes still through the recorded utun are deleted (its number may belong to another VPN by
 * now), a utun that is gone needs nothing, and the record goes either way. Linux's rtnetlink
 * path is tested for real in test/e2e/tunnel-cli.test.ts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import type { IfconfigResult } from "../../native/darwin/ifconfig.ts";
import { interfaceShowArgv, routeArgv, routeGetArgv, utunCommands } from "../../native/darwin/utun-commands.ts";
import { cleanupAll, tempDirSync } from "../../test/helpers/cleanup.ts";
import { removeTunnelLeftovers } from "./remove-tunnel-leftovers.ts";
import { tunnelPaths, writeTunnelRecord, type TunnelRecord } from "./tunnel-state.ts";

afterAll(cleanupAll);

const DEAD_PID = 2 ** 22 + 7;
const OURS = { family: 4, text: "10.99.0.0/24" } as const;
const TAKEN = { family: 4, text: "10.98.0.0/16" } as const;

function record(name: string, overrides: Partial<TunnelRecord> = {}): TunnelRecord {
  return {
    name, pid: DEAD_PID, pidStartTime: undefined, interface: "utun7", clientAddress: "100.64.0.2", agentAddress: "100.64.0.1",
    routes: [OURS.text, TAKEN.text], cidrs: [OURS.text, TAKEN.text], instanceId: "i-0123456789abcdef0", region: "us-east-1",
    sessionId: undefined, startedAt: new Date(0).toISOString(), logFile: undefined, ...overrides,
  };
}

/** A Mac where utun7 exists (or not), 10.99.0.0/24 still goes through it and 10.98.0.0/16 through en0. */
function fakeMac(utun7Exists: boolean) {
  const runs: string[][] = [];
  const run = (path: string, args: readonly string[]): IfconfigResult => {
    const argv = [path, ...args];
    runs.push(argv);
    if (argv[0] === "/sbin/ifconfig") return utun7Exists ? { exitCode: 0, stdout: "utun7: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> mtu 1400\n", stderr: "" } : { exitCode: 1, stdout: "", stderr: "ifconfig: interface utun7 does not exist\n" };
    if (argv[2] === "get") return { exitCode: 0, stdout: `  interface: ${argv.includes(OURS.text) ? "utun7" : "en0"}\n`, stderr: "" };
    return { exitCode: 0, stdout: "", stderr: "" };
  };
  return { commands: utunCommands({ run }), runs };
}

describe("removeTunnelLeftovers() on macOS", () => {
  test("deletes only the recorded routes that still go through the utun, reports it held, and removes the record", async () => {
    const dir = tempDirSync("leftovers-darwin-");
    writeTunnelRecord(dir, record("work"));
    const mac = fakeMac(true);
    const outcome = await removeTunnelLeftovers(dir, record("work"), { platform: "darwin", commands: mac.commands });
    expect(outcome).toEqual({ device: "held", routesRemoved: [OURS.text], dnsRemoved: [] });
    expect(mac.runs).toEqual([interfaceShowArgv("utun7"), routeGetArgv(OURS), routeArgv("delete", OURS, "utun7"), routeGetArgv(TAKEN)]);
    expect(existsSync(tunnelPaths(dir, "work").record)).toBe(false);
  });

  test("a utun that is gone (the kernel took it and its routes) needs no route command", async () => {
    const dir = tempDirSync("leftovers-darwin-");
    writeTunnelRecord(dir, record("work"));
    const mac = fakeMac(false);
    expect(await removeTunnelLeftovers(dir, record("work"), { platform: "darwin", commands: mac.commands })).toEqual({ device: "gone", routesRemoved: [], dnsRemoved: [] });
    expect(mac.runs).toEqual([interfaceShowArgv("utun7")]);
    expect(existsSync(tunnelPaths(dir, "work").record)).toBe(false);
  });

  test("a utun a live tunnel claims now is left alone", async () => {
    const dir = tempDirSync("leftovers-darwin-");
    writeTunnelRecord(dir, record("live", { pid: process.pid }));
    const mac = fakeMac(true);
    expect(await removeTunnelLeftovers(dir, record("dead"), { platform: "darwin", commands: mac.commands })).toEqual({ device: "kept", routesRemoved: [], dnsRemoved: [] });
    expect(mac.runs).toEqual([]);
  });
});
