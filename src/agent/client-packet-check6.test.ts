import { describe, expect, test } from "bun:test";
import { ipv6Header, udpPacket } from "../../test/helpers/ip-packets.ts";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { clientPacketCheck } from "./client-packet-check.ts";
import { clientPacketCheck6, dualStackCheck } from "./client-packet-check6.ts";

const cidr = (text: string) => parseCidr(text) as Cidr;

/** An IPv6 header from `source` to `destination` (the check reads only the addresses). */

describe("the check on IPv6 packets from a client", () => {
  test("only the client's own /128 may be the source: not link-local, not another client's", () => {
    const check = clientPacketCheck6("fd63::3", undefined);
    expect(check.check(ipv6Header("fd63::3", "fd7a:115c::10"))).toBe("ok");
    expect(check.check(ipv6Header("fd63::5", "fd7a:115c::10"))).toBe("spoofed");
    expect(check.check(ipv6Header("fe80::1", "fd7a:115c::10"))).toBe("spoofed");
    expect(check.check(new Uint8Array(39).fill(0x60))).toBe("malformed");
    expect(check.drops).toEqual({ malformed: 1, spoofed: 2, notAllowed: 0 });
  });

  test("--allow-cidr: the IPv6 entries decide, and with IPv4 entries only nothing passes over IPv6", () => {
    const mixed = clientPacketCheck6("fd63::3", [cidr("10.0.0.0/8"), cidr("fd7a:115c::/64")]);
    expect(mixed.check(ipv6Header("fd63::3", "fd7a:115c::10"))).toBe("ok");
    expect(mixed.check(ipv6Header("fd63::3", "2001:db8::1"))).toBe("not_allowed");
    const v4only = clientPacketCheck6("fd63::3", [cidr("10.0.0.0/8")]);
    expect(v4only.check(ipv6Header("fd63::3", "fd7a:115c::10"))).toBe("not_allowed");
  });

  test("dualStackCheck() judges each packet by its version and sums the drops", () => {
    const check = dualStackCheck(clientPacketCheck("100.64.0.3", undefined), clientPacketCheck6("fd63::3", undefined));
    const v4 = udpPacket({ address: "100.64.0.3", port: 5000 }, { address: "10.99.0.2", port: 53 }, new Uint8Array(4));
    const spoofed4 = udpPacket({ address: "100.64.0.9", port: 5000 }, { address: "10.99.0.2", port: 53 }, new Uint8Array(4));
    expect([check.check(v4), check.check(ipv6Header("fd63::3", "fd7a::1")), check.check(spoofed4), check.check(ipv6Header("fd63::9", "fd7a::1"))]).toEqual(["ok", "ok", "spoofed", "spoofed"]);
    expect(check.drops).toEqual({ malformed: 0, spoofed: 2, notAllowed: 0 });
    const v4Only = clientPacketCheck("100.64.0.3", undefined);
    expect(dualStackCheck(v4Only, undefined)).toBe(v4Only);
  });
});
