import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stateDirectory } from "../net/loopback-state.ts";
import {
  ensureTunnelsDirectory,
  findTunnels,
  pidStartTime,
  queryControlSocket,
  removeTunnelFiles,
  serveControlSocket,
  tunnelsDirectory,
  writeTunnelRecord,
  type TunnelRecord,
} from "./tunnel-state.ts";

const root = mkdtempSync(join(tmpdir(), "tunnel-state-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function record(name: string, overrides: Partial<TunnelRecord> = {}): TunnelRecord {
  return {
    name,
    pid: process.pid,
    pidStartTime: pidStartTime("self"),
    interface: "cpx0",
    clientAddress: "100.64.0.2",
    agentAddress: "100.64.0.1",
    routes: ["10.99.0.0/24"],
    cidrs: ["10.99.0.0/24"],
    instanceId: "i-0123456789abcdef0",
    region: "us-east-1",
    sessionId: "user-0123456789abcdef0",
    startedAt: new Date(0).toISOString(),
    logFile: `/var/log/${name}.log`,
    ...overrides,
  };
}

describe("the runtime directory of tunnels", () => {
  test("is $CREDPROXY_RUNTIME_DIR when set, else /run/credproxy for root, else $XDG_RUNTIME_DIR/credproxy", () => {
    expect(tunnelsDirectory({ CREDPROXY_RUNTIME_DIR: "/tmp/rt" })).toBe("/tmp/rt/tunnels");
    expect(stateDirectory({}, 0)).toBe("/run/credproxy");
    expect(stateDirectory({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000)).toBe("/run/user/1000/credproxy");
    expect(stateDirectory({}, 1000)).toBeUndefined();
  });

  test("on macOS, root's is /var/run/credproxy/tunnels (macOS has no /run); $CREDPROXY_RUNTIME_DIR still wins", () => {
    expect(tunnelsDirectory({}, "darwin", 0)).toBe("/var/run/credproxy/tunnels");
    expect(tunnelsDirectory({ CREDPROXY_RUNTIME_DIR: "/tmp/rt" }, "darwin", 0)).toBe("/tmp/rt/tunnels");
    expect(tunnelsDirectory({}, "darwin", 501)).toBeUndefined();
  });
});

describe("tunnel records", () => {
  const dir = join(root, "tunnels");

  test("are written 0600 in a 0700 directory, read back whole, and the live one is alive", () => {
    ensureTunnelsDirectory(dir);
    writeTunnelRecord(dir, record("work"));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "work.json")).mode & 0o777).toBe(0o600);
    const [found] = findTunnels(dir);
    expect(found).toMatchObject({ record: record("work"), file: join(dir, "work.json"), socket: join(dir, "work.sock"), alive: true });
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("a record whose pid now belongs to another process (other start time) or to nobody is stale", () => {
    writeTunnelRecord(dir, record("reused", { pidStartTime: "1" }));
    writeTunnelRecord(dir, record("gone", { pid: 2 ** 22 + 1 }));
    const byName = Object.fromEntries(findTunnels(dir).map((t) => [t.record.name, t.alive]));
    expect(byName).toEqual({ gone: false, reused: false, work: true });
  });

  test("unreadable or foreign files in the directory are skipped", async () => {
    await Bun.write(join(dir, "junk.json"), "{not json");
    await Bun.write(join(dir, "other.json"), JSON.stringify({ hello: 1 }));
    expect(findTunnels(dir).map((t) => t.record.name)).toEqual(["gone", "reused", "work"]);
    expect(findTunnels(join(root, "missing"))).toEqual([]);
    expect(findTunnels(undefined)).toEqual([]);
  });

  test("removing a tunnel's files leaves the others", () => {
    removeTunnelFiles(dir, "gone");
    removeTunnelFiles(dir, "reused");
    expect(findTunnels(dir).map((t) => t.record.name)).toEqual(["work"]);
  });
});

describe("the control socket", () => {
  test("answers every connection with the status as one JSON line; nobody listening is undefined", async () => {
    const path = join(root, "t.sock");
    let calls = 0;
    const server = await serveControlSocket(path, () => ({ state: "up", calls: ++calls }));
    expect(await queryControlSocket(path)).toEqual({ state: "up", calls: 1 });
    expect(await queryControlSocket(path)).toEqual({ state: "up", calls: 2 });
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(await queryControlSocket(path, 500)).toBeUndefined();
  });
});
