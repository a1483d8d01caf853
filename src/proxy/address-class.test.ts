import { describe, expect, test } from "bun:test";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { parseIp, type IpAddress } from "../net/ip-address.ts";
import { checkDestination, classifyAddress, embeddedIpv4 } from "./address-class.ts";

const ip = (text: string): IpAddress => {
  const address = parseIp(text);
  if (!address) throw new Error(`bad test address ${text}`);
  return address;
};
const cidr = (text: string): Cidr => {
  const parsed = parseCidr(text);
  if ("problem" in parsed) throw new Error(parsed.problem);
  return parsed;
};

describe("classifyAddress()", () => {
  test.each([
    ["8.8.8.8", "public"],
    ["1.1.1.1", "public"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["127.0.0.1", "loopback"],
    ["127.255.255.255", "loopback"],
    ["10.0.0.1", "private"],
    ["10.255.255.255", "private"],
    ["9.255.255.255", "public"],
    ["11.0.0.0", "public"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["172.15.255.255", "public"],
    ["172.32.0.0", "public"],
    ["192.168.1.1", "private"],
    ["100.64.0.0", "cgnat"],
    ["100.127.255.255", "cgnat"],
    ["100.63.255.255", "public"],
    ["100.63.255.254", "public"],
    ["100.128.0.0", "public"],
    ["100.128.0.1", "public"],
    ["169.254.169.254", "metadata"],
    ["169.254.170.2", "metadata"],
    ["169.254.1.1", "link-local"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["192.0.2.1", "documentation"],
    ["198.18.0.1", "benchmarking"],
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback"],
    ["2606:4700:4700::1111", "public"],
    ["fe80::1", "link-local"],
    ["febf:ffff::1", "link-local"],
    ["fc00::1", "ula"],
    ["fd12:3456::1", "ula"],
    ["fd00:ec2::254", "metadata"],
    ["ff02::2", "multicast"],
    ["ff05::1:3", "multicast"],
    ["2001:db8::1", "documentation"],
    ["100::1", "reserved"],
    ["4000::1", "reserved"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:169.254.169.254", "metadata"],
    ["::ffff:8.8.8.8", "public"],
    ["::127.0.0.1", "loopback"],
    ["::10.0.0.1", "private"],
    ["::8.8.8.8", "public"],
    ["64:ff9b::127.0.0.1", "loopback"],
    ["64:ff9b::10.0.0.1", "private"],
    ["64:ff9b::169.254.169.254", "metadata"],
    ["64:ff9b::8.8.8.8", "public"],
    ["64:ff9b:1::a00:1", "reserved"],
    ["2002:7f00:1::", "loopback"],
    ["2002:a00:1::1", "private"],
    ["2002:a9fe:a9fe::", "metadata"],
    ["2002:808:808::1", "public"],
    ["2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"],
    ["2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"],
    ["2001:0:4136:e378:8000:63bf:f7f7:f7f7", "public"],
  ])("%s is %s", (text, expected) => {
    expect(classifyAddress(ip(text)).class).toBe(expected as ReturnType<typeof classifyAddress>["class"]);
  });

  test("the detail of an embedded form names the form and the IPv4 address", () => {
    expect(classifyAddress(ip("64:ff9b::a00:1")).detail).toBe("NAT64 (64:ff9b::/96) form of 10.0.0.1 (RFC 1918 10.0.0.0/8)");
    expect(embeddedIpv4(ip("2001:0:4136:e378:8000:63bf:f5ff:fffe"))?.ipv4.text).toBe("10.0.0.1");
    expect(embeddedIpv4(ip("2002:c000:0201::"))?.ipv4.text).toBe("192.0.2.1");
    expect(embeddedIpv4(ip("2606:4700::1"))).toBeUndefined();
  });
});

describe("checkDestination()", () => {
  const none = { allow: [], self: [] };

  test("public addresses pass and refused classes are refused with a reason", () => {
    expect(checkDestination(ip("8.8.8.8"), 443, none)).toEqual({ ok: true });
    expect(checkDestination(ip("10.0.0.5"), 443, none)).toEqual({
      ok: false,
      class: "private",
      reason: "10.0.0.5 is a private address (RFC 1918 10.0.0.0/8)",
    });
  });

  test("an allow range wins over a refused class, only inside the range", () => {
    const allow = [cidr("10.1.0.0/16"), cidr("fd00:ec2::254")];
    expect(checkDestination(ip("10.1.2.3"), 443, { allow, self: [] })).toEqual({ ok: true });
    expect(checkDestination(ip("10.2.0.1"), 443, { allow, self: [] }).ok).toBe(false);
    expect(checkDestination(ip("fd00:ec2::254"), 80, { allow, self: [] })).toEqual({ ok: true });
  });

  test("an IPv4 allow range also covers the IPv4-mapped spelling of its addresses", () => {
    const allow = [cidr("10.1.0.0/16")];
    expect(checkDestination(ip("::ffff:10.1.0.9"), 443, { allow, self: [] })).toEqual({ ok: true });
    expect(checkDestination(ip("64:ff9b::a01:9"), 443, { allow, self: [] }).ok).toBe(false);
  });

  test("the proxy's own address is refused on its own port only, even when allowed", () => {
    const options = { allow: [cidr("127.0.0.0/8")], self: [{ address: ip("127.0.0.1"), port: 3128 }] };
    expect(checkDestination(ip("127.0.0.1"), 3128, options)).toMatchObject({ ok: false, class: "self" });
    expect(checkDestination(ip("::ffff:127.0.0.1"), 3128, options)).toMatchObject({ ok: false, class: "self" });
    expect(checkDestination(ip("127.0.0.1"), 3129, options)).toEqual({ ok: true });
    expect(checkDestination(ip("127.0.0.2"), 3128, options)).toEqual({ ok: true });
  });

  test("a public self address is refused on the proxy port and fine elsewhere", () => {
    const options = { allow: [], self: [{ address: ip("203.0.114.7"), port: 8080 }] };
    expect(checkDestination(ip("203.0.114.7"), 8080, options)).toMatchObject({ ok: false, class: "self" });
    expect(checkDestination(ip("203.0.114.7"), 443, options)).toEqual({ ok: true });
  });

  test("an unspecified self entry covers loopback on that port", () => {
    const options = { allow: [cidr("0.0.0.0/0"), cidr("::/0")], self: [{ address: ip("::"), port: 3128 }] };
    expect(checkDestination(ip("127.0.0.1"), 3128, options)).toMatchObject({ ok: false, class: "self" });
    expect(checkDestination(ip("::1"), 3128, options)).toMatchObject({ ok: false, class: "self" });
    expect(checkDestination(ip("8.8.8.8"), 3128, options)).toEqual({ ok: true });
  });
});
