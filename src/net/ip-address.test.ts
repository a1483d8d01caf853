import { describe, expect, test } from "bun:test";
import { endsInNumber, parseIp, parseIpv4Legacy, parseIpv6, sameAddress } from "./ip-address.ts";

describe("parseIpv4Legacy()", () => {
  test.each([
    ["127.0.0.1", "127.0.0.1"],
    ["127.1", "127.0.0.1"],
    ["127.0.1", "127.0.0.1"],
    ["0x7f.0.0.1", "127.0.0.1"],
    ["0X7F.0.0.1", "127.0.0.1"],
    ["2130706433", "127.0.0.1"],
    ["0177.0.0.1", "127.0.0.1"],
    ["0x7f000001", "127.0.0.1"],
    ["017700000001", "127.0.0.1"],
    ["0x", "0.0.0.0"],
    ["0", "0.0.0.0"],
    ["10.0.0.5.", "10.0.0.5"],
    ["4294967295", "255.255.255.255"],
    ["1.0x10.0377", "1.16.0.255"],
  ])("%s reads as %s", (spelling, canonical) => {
    const address = parseIpv4Legacy(spelling);
    expect(address?.text).toBe(canonical);
    expect(address?.family).toBe(4);
    expect(address?.bytes.length).toBe(4);
  });

  test.each(["4294967296", "256.0.0.1", "1.2.3.256", "1.2.65536", "1.2.3.4.5", "08.0.0.1", "0x1g.0.0.1", "example.com", "", "1..2.3", "-1.0.0.1"])(
    "%s is not IPv4",
    (spelling) => {
      expect(parseIpv4Legacy(spelling)).toBeUndefined();
    },
  );

  test("a name whose last label is numeric ends in a number, a plain name does not", () => {
    expect(endsInNumber("example.123")).toBe(true);
    expect(endsInNumber("example.0x1f")).toBe(true);
    expect(endsInNumber("1.2.3.4.")).toBe(true);
    expect(endsInNumber("example.com")).toBe(false);
    expect(endsInNumber("123.example")).toBe(false);
    expect(endsInNumber("example.0xg")).toBe(false);
  });
});

describe("parseIpv6()", () => {
  test.each([
    ["::1", "::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["::", "::"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["::ffff:127.0.0.1", "::ffff:7f00:1"],
    ["::ffff:7f00:1", "::ffff:7f00:1"],
    ["64:ff9b::10.0.0.1", "64:ff9b::a00:1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["fe80::", "fe80::"],
    ["1::", "1::"],
  ])("%s is written %s", (spelling, canonical) => {
    const address = parseIpv6(spelling);
    expect(address?.text).toBe(canonical);
    expect(address?.bytes.length).toBe(16);
  });

  test.each(["fe80::1%eth0", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "::ffff:127.1", "::ffff:127.000.0.1", "g::", ":1::", "1::2:3:4:5:6:7:8", "[::1]", ""])(
    "%s is not IPv6",
    (spelling) => {
      expect(parseIpv6(spelling)).toBeUndefined();
    },
  );
});

describe("parseIp()", () => {
  test("accepts only strict dotted quads and IPv6 text", () => {
    expect(parseIp("10.0.0.5")?.text).toBe("10.0.0.5");
    expect(parseIp("2001:db8::5")?.family).toBe(6);
    expect(parseIp("127.1")).toBeUndefined();
    expect(parseIp("010.0.0.1")).toBeUndefined();
    expect(parseIp("0x7f.0.0.1")).toBeUndefined();
    expect(parseIp("fe80::1%lo")).toBeUndefined();
  });

  test("two spellings of one address are the same address", () => {
    expect(sameAddress(parseIp("::1")!, parseIpv6("0:0:0:0:0:0:0:1")!)).toBe(true);
    expect(sameAddress(parseIp("127.0.0.1")!, parseIpv4Legacy("127.1")!)).toBe(true);
    expect(sameAddress(parseIp("127.0.0.1")!, parseIp("::ffff:127.0.0.1")!)).toBe(false);
  });
});
