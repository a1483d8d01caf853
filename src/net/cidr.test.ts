import { describe, expect, test } from "bun:test";
import { cidrContains, parseCidr, type Cidr } from "./cidr.ts";
import { parseIp } from "./ip-address.ts";

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if ("problem" in parsed) throw new Error(parsed.problem);
  return parsed;
}

const ip = (text: string) => parseIp(text)!;

describe("parseCidr()", () => {
  test("reads IPv4 and IPv6 ranges into canonical text", () => {
    expect(cidr("10.0.0.0/8").text).toBe("10.0.0.0/8");
    expect(cidr("2001:DB8:0::/32").text).toBe("2001:db8::/32");
    expect(cidr("0.0.0.0/0").prefix).toBe(0);
    expect(cidr("::/0").family).toBe(6);
  });

  test("a bare address is a single-address range", () => {
    expect(cidr("10.0.0.5").text).toBe("10.0.0.5/32");
    expect(cidr("fd00::1").text).toBe("fd00::1/128");
  });

  test("host bits set is a problem naming the network form", () => {
    expect(parseCidr("10.0.0.1/8")).toEqual({ problem: "10.0.0.1/8 has host bits set; write 10.0.0.0/8" });
    expect(parseCidr("fd00::1/64")).toEqual({ problem: "fd00::1/64 has host bits set; write fd00::/64" });
    expect(parseCidr("192.168.1.130/25")).toEqual({ problem: "192.168.1.130/25 has host bits set; write 192.168.1.128/25" });
  });

  test.each(["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1", "10.0.0.0/a", "10.0.0.0/8/8", "127.1/32", "example.com/24", ""])(
    "%s is a problem",
    (text) => {
      expect(parseCidr(text)).toHaveProperty("problem");
    },
  );
});

describe("cidrContains()", () => {
  test("matches addresses inside the range and not its neighbours", () => {
    const cgnat = cidr("100.64.0.0/10");
    expect(cidrContains(cgnat, ip("100.64.0.0"))).toBe(true);
    expect(cidrContains(cgnat, ip("100.127.255.255"))).toBe(true);
    expect(cidrContains(cgnat, ip("100.63.255.255"))).toBe(false);
    expect(cidrContains(cgnat, ip("100.128.0.0"))).toBe(false);
  });

  test("handles prefixes that are not byte-aligned in IPv6", () => {
    const ula = cidr("fc00::/7");
    expect(cidrContains(ula, ip("fdff::1"))).toBe(true);
    expect(cidrContains(ula, ip("fe00::1"))).toBe(false);
  });

  test("/0 matches everything of its family and nothing of the other", () => {
    expect(cidrContains(cidr("0.0.0.0/0"), ip("8.8.8.8"))).toBe(true);
    expect(cidrContains(cidr("0.0.0.0/0"), ip("::ffff:8.8.8.8"))).toBe(false);
    expect(cidrContains(cidr("::/0"), ip("8.8.8.8"))).toBe(false);
  });
});
