/**
 * The macOS TunDevice for real: a utun opened through openTun() (the same entry point the tunnel
 * uses), its address and route set with ifconfig and route, a UDP datagram sent into the route
 * read back as a bare IPv4 packet (the 4-byte header stripped by the reader Worker), a packet
 * written with the header added, and nothing left once it is closed.
 *
 * macOS as root only: skipped elsewhere (the Linux device has test/integration/tun-device.test.ts).
 * Nothing leaves the machine: packets routed into the utun go to this test's own reader. This is
 * the test that turns "unverified on a Mac" into verified, the moment a macOS runner exists.
 */
import { describe, expect, test } from "bun:test";
import { createSocket } from "node:dgram";
import { openTun } from "../../src/net/tun-device.ts";
import { utunCommands } from "../../native/darwin/utun-commands.ts";
import { withTimeout } from "../helpers/wait.ts";

const RUNS_HERE = process.platform === "darwin" && process.geteuid?.() === 0;
// Addresses unique to this file; the route is a /24 nobody else uses.
const ADDRESS = "100.64.213.1";
const PEER = "100.64.213.2";
const ROUTE = { family: 4, text: "10.213.77.0/24" } as const;
const TARGET = "10.213.77.9";

/** An IPv4 UDP packet from PEER to ADDRESS with a zero checksum (allowed for UDP over IPv4). */
function udpPacket(payload: Uint8Array): Uint8Array {
  const packet = new Uint8Array(28 + payload.byteLength);
  const view = new DataView(packet.buffer);
  view.setUint8(0, 0x45);
  view.setUint16(2, packet.byteLength);
  view.setUint8(8, 64);
  view.setUint8(9, 17);
  packet.set(PEER.split(".").map(Number), 12);
  packet.set(ADDRESS.split(".").map(Number), 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += view.getUint16(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  view.setUint16(10, ~sum & 0xffff);
  view.setUint16(20, 9999);
  view.setUint16(22, 9);
  view.setUint16(24, 8 + payload.byteLength);
  packet.set(payload, 28);
  return packet;
}

describe("a utun through openTun() (macOS as root only: skipped elsewhere)", () => {
  test.skipIf(!RUNS_HERE)("routes a datagram into the utun, reads it as a bare IPv4 packet, writes one back, and leaves nothing once closed", async () => {
    const device = await openTun({ mtu: 1400, address: ADDRESS, peer: PEER, routes: [ROUTE.text] });
    const commands = utunCommands();
    try {
      expect(device.name).toMatch(/^utun\d+$/);
      expect(commands.routeInterface(ROUTE)).toBe(device.name);
      const seen = new Promise<Uint8Array>((resolve) => device.onPacket((packet) => packet[9] === 17 && resolve(packet)));
      const socket = createSocket("udp4");
      socket.send(new TextEncoder().encode("utun probe"), 9, TARGET);
      const packet = await withTimeout(seen, 5000, "the datagram to arrive through the utun");
      socket.close();
      expect(packet[0]! >> 4).toBe(4);
      expect([...packet.subarray(16, 20)].join(".")).toBe(TARGET);
      expect(device.write(udpPacket(new TextEncoder().encode("back")))).toBe(true);
      expect(device.stats()).toMatchObject({ packetsOut: 1, writeErrors: 0 });
    } finally {
      await device.close();
    }
    expect(commands.exists(device.name)).toBe(false);
    expect(commands.routeInterface(ROUTE)).not.toBe(device.name);
  });
});
