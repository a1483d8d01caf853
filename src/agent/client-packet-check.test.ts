import { describe, expect, test } from "bun:test";
import { udpPacket } from "../../test/helpers/ip-packets.ts";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { clientPacketCheck } from "./client-packet-check.ts";

/** A UDP datagram from `source` to `destination` (the check reads only the addresses). */
const ipv4 = (source: string, destination: string) => udpPacket({ address: source, port: 5000 }, { address: destination, port: 53 }, new Uint8Array(4));

const cidr = (text: string) => parseCidr(text) as Cidr;

describe("the check on packets from a client", () => {
  test("without an allow-list, a packet from the client's own address goes anywhere", () => {
    const check = clientPacketCheck("100.64.0.3", undefined);
    expect(check.check(ipv4("100.64.0.3", "10.99.0.2"))).toBe("ok");
    expect(check.check(ipv4("100.64.0.3", "8.8.8.8"))).toBe("ok");
    expect(check.drops).toEqual({ malformed: 0, spoofed: 0, notAllowed: 0 });
  });

  test("a packet with any other source is spoofed and dropped: another client's address, the agent's, or IPv6", () => {
    const check = clientPacketCheck("100.64.0.3", undefined);
    expect(check.check(ipv4("100.64.0.5", "10.99.0.2"))).toBe("spoofed");
    expect(check.check(ipv4("10.99.0.1", "10.99.0.2"))).toBe("spoofed");
    const v6 = new Uint8Array(40);
    v6[0] = 0x60;
    expect(check.check(v6)).toBe("spoofed");
    expect(check.drops.spoofed).toBe(3);
  });

  test("with --allow-cidr, only destinations inside one of the ranges pass", () => {
    const check = clientPacketCheck("100.64.0.3", [cidr("10.99.0.0/24"), cidr("172.16.5.7/32")]);
    expect(check.check(ipv4("100.64.0.3", "10.99.0.200"))).toBe("ok");
    expect(check.check(ipv4("100.64.0.3", "172.16.5.7"))).toBe("ok");
    expect(check.check(ipv4("100.64.0.3", "10.99.1.1"))).toBe("not_allowed");
    expect(check.check(ipv4("100.64.0.3", "100.64.0.2"))).toBe("not_allowed");
    expect(check.drops.notAllowed).toBe(2);
  });

  test("with the DNS forwarder, DNS to the agent's tunnel address passes the allow-list; other ports there do not", () => {
    const check = clientPacketCheck("100.64.0.3", [cidr("10.99.0.0/24")], "100.64.0.2");
    expect(check.check(ipv4("100.64.0.3", "100.64.0.2"))).toBe("ok");
    const otherPort = udpPacket({ address: "100.64.0.3", port: 5000 }, { address: "100.64.0.2", port: 22 }, new Uint8Array(4));
    expect(check.check(otherPort)).toBe("not_allowed");
    expect(check.check(ipv4("100.64.0.3", "10.99.1.53"))).toBe("not_allowed");
  });

  test("something too short or not IP is malformed", () => {
    const check = clientPacketCheck("100.64.0.3", undefined);
    expect(check.check(new Uint8Array([0x45, 0, 0]))).toBe("malformed");
    expect(check.check(new Uint8Array(20))).toBe("malformed");
    expect(check.drops.malformed).toBe(2);
  });
});
