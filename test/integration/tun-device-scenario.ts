/**
 * Runs INSIDE the network namespace tun-device.test.ts creates (`ip netns exec <ns> bun
 * this-file`): opens a real TUN device with 100.64.0.1 peer 100.64.0.2 and a route for
 * 10.99.0.0/24, sends UDP to 10.99.0.5 from a socket on 100.64.0.1, answers it by writing a
 * crafted UDP reply into the device, then closes the device and lists what is left. Prints one
 * JSON report on stdout. Traffic never leaves the namespace: 10.99.0.0/24 exists only here.
 */
import { runScenario } from "../helpers/netns.ts";
import { IPPROTO_UDP, parseIpv4, parseUdp, udpPacket } from "../helpers/ip-packets.ts";
import { openTun, type TunDevice } from "../../src/net/tun-device.ts";
import { ADDRESS, BURST, CONFLICT, FIRST_ROUTE, PEER, ROUTE, ROUTE6, TARGET, TARGET_PORT } from "./tun-device-fixture.ts";


const text = new TextEncoder();
const untext = new TextDecoder();

/** Rejects after `ms`: a packet that never comes must fail the test, not hang it. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function ipJson<T>(args: string[]): Promise<T> {
  return (await Bun.$`ip -j ${args}`.json()) as T;
}

/** Resolves with the first UDP packet the device reads that goes to TARGET (IPv6 noise is skipped). */
function nextUdpToTarget(tun: TunDevice, onOther: (packet: Uint8Array) => void = () => {}) {
  return new Promise<{ packet: ReturnType<typeof parseIpv4> & {}; udp: ReturnType<typeof parseUdp> }>((resolve) => {
    tun.onPacket((packet) => {
      const ip = parseIpv4(packet);
      if (ip?.destination === TARGET && ip.protocol === IPPROTO_UDP) resolve({ packet: ip, udp: parseUdp(ip.payload) });
      else onOther(packet);
    });
  });
}

await runScenario(async (report) => {
  const tun = await openTun({ mtu: 1400, address: ADDRESS, peer: PEER, routes: [ROUTE, ROUTE6] });
  report.name = tun.name;
  const [link] = await ipJson<{ mtu: number; flags: string[]; operstate: string }[]>(["link", "show", "dev", tun.name]);
  report.link = { mtu: link!.mtu, flags: link!.flags, operstate: link!.operstate };
  const [addr] = await ipJson<{ addr_info: { family: string; local: string; address?: string; prefixlen: number }[] }[]>(["addr", "show", "dev", tun.name]);
  report.addresses = addr!.addr_info.filter((a) => a.family === "inet").map((a) => ({ local: a.local, address: a.address, prefixlen: a.prefixlen }));
  report.routes = (await ipJson<{ dst: string }[]>(["route", "show", "dev", tun.name])).map((r) => r.dst);
  report.routes6 = (await ipJson<{ dst: string }[]>(["-6", "route", "show", "dev", tun.name])).map((r) => r.dst);

  // One datagram out through the device, one crafted reply back in.
  const replies = Promise.withResolvers<{ data: string; address: string; port: number }>();
  const socket = await Bun.udpSocket({
    hostname: ADDRESS,
    port: 0,
    socket: { data: (_s, data, port, address) => replies.resolve({ data: untext.decode(data), address, port }) },
  });
  const sent = nextUdpToTarget(tun);
  socket.send(text.encode("hello through the tun"), TARGET_PORT, TARGET);
  const { packet, udp } = await within(5000, "packet read from the TUN device", sent);
  report.received = { ...packet, payload: undefined, sourcePort: udp.sourcePort, destinationPort: udp.destinationPort, data: untext.decode(udp.data) };
  report.written = tun.write(udpPacket({ address: TARGET, port: TARGET_PORT }, { address: ADDRESS, port: udp.sourcePort }, text.encode("hello back")));
  report.reply = await within(5000, "reply on the socket", replies.promise);
  report.garbageWritten = tun.write(Uint8Array.of(0x00, 0x01, 0x02, 0x03));

  // A burst in rounds smaller than the device's queue (txqueuelen 500), so none is dropped.
  const started = performance.now();
  let packets = 0;
  let bytes = 0;
  const payload = new Uint8Array(BURST.size);
  for (let round = 0; round < BURST.rounds; round++) {
    const all = Promise.withResolvers<void>();
    let seen = 0;
    tun.onPacket((p) => {
      if (parseIpv4(p)?.destination !== TARGET) return;
      packets++;
      bytes += p.byteLength;
      if (++seen === BURST.perRound) all.resolve();
    });
    for (let i = 0; i < BURST.perRound; i++) socket.send(payload, TARGET_PORT, TARGET);
    await within(5000, `round ${round} of the burst`, all.promise);
  }
  report.burst = { packets, bytes, ms: Math.round((performance.now() - started) * 10) / 10 };
  socket.close();

  report.stats = { ...tun.stats() };
  const closing = performance.now();
  await tun.close();
  report.closeMs = Math.round(performance.now() - closing);
  report.after = {
    links: (await ipJson<{ ifname: string }[]>(["link", "show"])).map((l) => l.ifname),
    routes: (await ipJson<{ dst: string; dev: string }[]>(["route", "show"])).map((r) => `${r.dst} dev ${r.dev}`),
    routes6: (await ipJson<{ dst: string; dev: string }[]>(["-6", "route", "show"])).map((r) => `${r.dst} dev ${r.dev}`),
    addresses: (await ipJson<{ addr_info: { local: string }[] }[]>(["addr", "show"])).flatMap((l) => l.addr_info.map((a) => a.local)),
  };
  await tun.close();
  report.secondClose = "resolved";

  // A CIDR that is routed already fails the open, and what was set up is taken down again.
  await Bun.$`ip route add ${CONFLICT} dev lo`;
  const conflict = await openTun({ name: "cpxconflict", mtu: 1400, address: ADDRESS, peer: PEER, routes: [FIRST_ROUTE, CONFLICT] }).catch((e: unknown) => e);
  report.conflict = {
    code: (conflict as { code?: string }).code,
    message: (conflict as Error).message,
    links: (await ipJson<{ ifname: string }[]>(["link", "show"])).map((l) => l.ifname),
    routes: (await ipJson<{ dst: string; dev: string }[]>(["route", "show"])).map((r) => `${r.dst} dev ${r.dev}`),
  };
  await Bun.$`ip route del ${CONFLICT} dev lo`;
});
