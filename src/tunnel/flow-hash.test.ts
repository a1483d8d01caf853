import { describe, expect, test } from "bun:test";
import { tcpHeader } from "../../test/helpers/stripe-ports.ts";
import { flowHash, pickStripe } from "./flow-hash.ts";

const ALL4 = [0, 1, 2, 3];

function ipv4(protocol: number, source: string, destination: string, extra: number[] = [], flags = 0x40): Uint8Array {
  const packet = new Uint8Array(20 + extra.length);
  packet[0] = 0x45;
  packet[6] = flags;
  packet[9] = protocol;
  packet.set(source.split(".").map(Number), 12);
  packet.set(destination.split(".").map(Number), 16);
  packet.set(extra, 20);
  return packet;
}

function ipv6Udp(source: number, destination: number, sourcePort: number, destinationPort: number): Uint8Array {
  const packet = new Uint8Array(48);
  packet[0] = 0x60;
  packet[6] = 17;
  packet[8] = 0xfd;
  packet[23] = source;
  packet[24] = 0xfd;
  packet[39] = destination;
  new DataView(packet.buffer).setUint16(40, sourcePort);
  new DataView(packet.buffer).setUint16(42, destinationPort);
  return packet;
}

describe("flowHash", () => {
  test("a TCP packet and its answer hash alike (the endpoints are sorted)", () => {
    for (let port = 40000; port < 40200; port++) {
      expect(flowHash(tcpHeader("100.64.0.3", port, "10.99.0.2", 9000))).toBe(flowHash(tcpHeader("10.99.0.2", 9000, "100.64.0.3", port)));
    }
  });

  test("IPv6 UDP is symmetric too, and other protocols hash by the address pair alone", () => {
    expect(flowHash(ipv6Udp(1, 2, 5353, 53))).toBe(flowHash(ipv6Udp(2, 1, 53, 5353)));
    const ping = ipv4(1, "100.64.0.3", "10.99.0.2", [8, 0, 0x12, 0x34]);
    const reply = ipv4(1, "10.99.0.2", "100.64.0.3", [0, 0, 0x56, 0x78]);
    expect(flowHash(ping)).toBe(flowHash(reply));
  });

  test("ports count for TCP and UDP but not for fragments, which carry no ports after the first", () => {
    expect(flowHash(tcpHeader("100.64.0.3", 40000, "10.99.0.2", 9000))).not.toBe(flowHash(tcpHeader("100.64.0.3", 40001, "10.99.0.2", 9000)));
    const first = ipv4(17, "100.64.0.3", "10.99.0.2", [0x9c, 0x40, 0, 53], 0x20);
    const later = ipv4(17, "100.64.0.3", "10.99.0.2", [1, 2, 3, 4], 0x00 | 0x01);
    expect(flowHash(first)).toBe(flowHash(later));
  });

  test("a packet that is not IP has no flow", () => {
    expect(flowHash(new Uint8Array([0x10, 0, 0, 0]))).toBeUndefined();
    expect(flowHash(new Uint8Array(10).fill(0x45))).toBeUndefined();
  });
});

describe("pickStripe", () => {
  const hashes = Array.from({ length: 2000 }, (_, i) => flowHash(tcpHeader("100.64.0.3", 30000 + i, "10.99.0.2", 443))!);

  test("flows spread over all sessions, none with much more than its share", () => {
    const counts = [0, 0, 0, 0];
    for (const h of hashes) counts[pickStripe(h, ALL4)!]!++;
    for (const n of counts) expect(n).toBeGreaterThan(400);
  });

  test("the choice depends on the live set only, not its order, and is stable", () => {
    for (const h of hashes.slice(0, 200)) {
      expect(pickStripe(h, [3, 1, 0, 2])).toBe(pickStripe(h, ALL4)!);
      expect(pickStripe(h, ALL4)).toBe(pickStripe(h, ALL4)!);
    }
  });

  test("when a session drops only its flows move, and they come back when it is live again", () => {
    for (const h of hashes) {
      const before = pickStripe(h, ALL4)!;
      const without2 = pickStripe(h, [0, 1, 3])!;
      if (before === 2) expect(without2).not.toBe(2);
      else expect(without2).toBe(before);
      expect(pickStripe(h, ALL4)).toBe(before);
    }
  });

  test("the flows of a dropped session spread over the others rather than piling on one", () => {
    const moved = [0, 0, 0, 0];
    for (const h of hashes) if (pickStripe(h, ALL4) === 2) moved[pickStripe(h, [0, 1, 3])!]!++;
    expect(moved[2]).toBe(0);
    for (const i of [0, 1, 3]) expect(moved[i]).toBeGreaterThan(50);
  });

  test("no live session, no choice; one live session takes everything", () => {
    expect(pickStripe(hashes[0]!, [])).toBeUndefined();
    for (const h of hashes.slice(0, 50)) expect(pickStripe(h, [1])).toBe(1);
  });
});
