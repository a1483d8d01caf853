/** The agent's side of IPv6 (protocol 1.2): what HELLO offers, the TUN's IPv6 pair, and the checks on IPv6 packets. */
import { describe, expect, test } from "bun:test";
import { ipv6Header } from "../../test/helpers/ip-packets.ts";
import type { TunOptions } from "../net/tun-device.ts";
import { FakeTun } from "../tunnel/_fake-tun.ts";
import { FakeClock, settle } from "../tunnel/_fake-tunnel-clock.ts";
import { CAPABILITY_IPV6, CAPABILITY_STRIPES, encodeHelloAck, encodePacket, type HelloFrame } from "../tunnel/framing.ts";
import { createAddressPool } from "./address-pool.ts";
import { FakeConnection } from "./_fake-connection.ts";
import type { AgentClients } from "./agent-client.ts";
import { AgentSession, type AgentSessionOptions } from "./agent-session.ts";

const POOL6 = "fd63:7078:1:2::/64";

function rig(overrides: Partial<AgentSessionOptions> = {}, tuns: FakeTun[] = []) {
  const connection = new FakeConnection();
  const session = new AgentSession({
    connection,
    pool: createAddressPool("100.64.0.0/24", POOL6),
    openTun: async (options: TunOptions) => {
      const tun = new FakeTun(`cpa${tuns.length}`, options);
      tuns.push(tun);
      return tun;
    },
    clock: new FakeClock(),
    ...overrides,
  });
  session.start();
  return { session, connection, tuns, hello: connection.of("hello")[0] as HelloFrame };
}

const ack = (capabilities: number, minor = 2, stripe = { index: 0, count: 1 }) =>
  encodeHelloAck({ version: { major: 1, minor }, capabilities, clientId: new Uint8Array(16), stripeIndex: stripe.index, stripeCount: stripe.count, hostname: "laptop.test", clientVersion: "test", cidrs: ["fd7a:115c::/64"] });


describe("an agent with an IPv6 prefix", () => {
  test("offers CAPABILITY_IPV6 and the pair at the index of the IPv4 one", () => {
    const { hello } = rig();
    expect(hello.capabilities & (CAPABILITY_STRIPES | CAPABILITY_IPV6)).toBe(CAPABILITY_STRIPES | CAPABILITY_IPV6);
    expect(hello.ipv6).toEqual({ clientAddress6: "fd63:7078:1:2::3", agentAddress6: "fd63:7078:1:2::2" });
  });

  test("a client that accepts it gets the pair on the agent's TUN; its own IPv6 passes, anything else does not", async () => {
    const r = rig();
    r.session.receive(ack(CAPABILITY_IPV6));
    await settle();
    expect(r.tuns[0]!.options).toMatchObject({ address: "100.64.0.2", peer: "100.64.0.3", address6: "fd63:7078:1:2::2", peer6: "fd63:7078:1:2::3" });
    const out = ipv6Header("fd63:7078:1:2::3", "fd7a:115c::10");
    r.session.receive(encodePacket(out));
    r.session.receive(encodePacket(ipv6Header("fd63:7078:1:2::5", "fd7a:115c::10")));
    expect(r.tuns[0]!.written).toEqual([out]);
    const back = ipv6Header("fd7a:115c::10", "fd63:7078:1:2::3");
    r.tuns[0]!.read(back);
    r.tuns[0]!.read(ipv6Header("fd7a:115c::10", "fd63:7078:1:2::5"));
    expect(r.connection.of("packet").map((p) => p.packet)).toEqual([back]);
    expect(r.session.stats().drops).toMatchObject({ spoofed: 1, filtered: 1 });
  });

  test("a client that does not accept it (1.1) gets no IPv6 on the TUN, and its IPv6 is refused", async () => {
    const r = rig();
    r.session.receive(ack(CAPABILITY_STRIPES, 1));
    await settle();
    expect(r.tuns[0]!.options.address6).toBeUndefined();
    r.session.receive(encodePacket(ipv6Header("fd63:7078:1:2::3", "fd7a:115c::10")));
    expect(r.tuns[0]!.written).toEqual([]);
    expect(r.session.stats().drops.spoofed).toBe(1);
  });

  test("an agent that cannot forward IPv6 says why in HELLO and does not offer it", () => {
    const { hello } = rig({ ipv6Unavailable: "the instance has no IPv6 default route" });
    expect(hello.capabilities & CAPABILITY_IPV6).toBe(0);
    expect(hello.ipv6).toEqual({ unavailable: "the instance has no IPv6 default route" });
  });

  test("every striped session of one client gets the client's IPv6 pair in STRIPE_JOINED, and they share one TUN", async () => {
    const pool = createAddressPool("100.64.0.0/24", POOL6);
    const clients: AgentClients = new Map();
    const tuns: FakeTun[] = [];
    const one = rig({ pool, clients }, tuns);
    const two = rig({ pool, clients }, tuns);
    one.session.receive(ack(CAPABILITY_STRIPES | CAPABILITY_IPV6, 2, { index: 0, count: 2 }));
    await settle();
    two.session.receive(ack(CAPABILITY_STRIPES | CAPABILITY_IPV6, 2, { index: 1, count: 2 }));
    await settle();
    const joined = { type: "stripe_joined" as const, clientAddress: "100.64.0.3", agentAddress: "100.64.0.2", ipv6: { clientAddress6: "fd63:7078:1:2::3", agentAddress6: "fd63:7078:1:2::2" } };
    expect(one.connection.of("stripe_joined")).toEqual([joined]);
    expect(two.connection.of("stripe_joined")).toEqual([joined]);
    expect(tuns).toHaveLength(1);
  });
});
