import { describe, expect, test } from "bun:test";
import type { networkInterfaces } from "node:os";
import { fixedLocalPeers, guardRoutes, hostLocalPeers } from "./local-peer.ts";
import type { Handler } from "./listen.ts";

type Interfaces = ReturnType<typeof networkInterfaces>;
const iface = (address: string) => ({ address }) as NonNullable<Interfaces[string]>[number];

describe("hostLocalPeers", () => {
  test("accepts loopback, the host's interface addresses and the extra ones, in any notation", () => {
    const peers = hostLocalPeers({ extra: ["169.254.170.2"], interfaces: () => ({ eth0: [iface("10.1.2.3"), iface("fe80::1")] }) });
    for (const peer of ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "10.1.2.3", "::ffff:10.1.2.3", "fe80::1", "169.254.170.2"]) {
      expect({ peer, ok: peers.has(peer) }).toEqual({ peer, ok: true });
    }
    for (const peer of ["10.1.2.4", "192.0.2.2", "::2", "", "not-an-ip", undefined]) {
      expect({ peer, ok: peers.has(peer) }).toEqual({ peer, ok: false });
    }
  });

  test("re-reads the interfaces for an unknown peer at most once per refresh interval", () => {
    let reads = 0;
    let list: Interfaces = { eth0: [iface("10.1.2.3")] };
    let clock = 0;
    const peers = hostLocalPeers({ refreshMs: 1000, now: () => clock, interfaces: () => (reads++, list) });
    expect(reads).toBe(1);
    list = { eth0: [iface("10.1.2.3")], eth1: [iface("10.9.9.9")] };
    expect(peers.has("10.9.9.9")).toBe(false); // within the interval: no re-read
    expect(peers.has("127.0.0.1")).toBe(true);
    expect(reads).toBe(1);
    clock = 1000;
    expect(peers.has("10.9.9.9")).toBe(true);
    expect(reads).toBe(2);
    expect(peers.has("192.0.2.2")).toBe(false);
    expect(reads).toBe(2);
  });
});

test("fixedLocalPeers accepts loopback and the given addresses only", () => {
  const peers = fixedLocalPeers(["169.254.169.254", "0.0.0.0"]);
  expect(peers.has("::ffff:169.254.169.254")).toBe(true);
  expect(peers.has("0.0.0.0")).toBe(false);
  expect(peers.has("10.0.0.1")).toBe(false);
});

test("guardRoutes wraps every method of every route", async () => {
  const ok: Handler = () => new Response("ok");
  const seen: string[] = [];
  const guarded = guardRoutes({ "/a": { GET: ok, HEAD: ok }, "/b": { POST: ok } }, (next) => (req, server) => (seen.push(req.method), next(req, server)));
  const server = {} as Parameters<Handler>[1];
  for (const [path, methods] of Object.entries(guarded)) {
    for (const [method, handler] of Object.entries(methods)) await handler!(new Request(`http://x${path}`, { method }), server);
  }
  expect(seen.sort()).toEqual(["GET", "HEAD", "POST"]);
});
