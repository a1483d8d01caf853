import { describe, expect, test } from "bun:test";
import { parseAuthority, parseSni, sameTarget, type CanonicalTarget } from "./canonical-host.ts";

function target(raw: string, options?: { defaultPort?: number }): CanonicalTarget {
  const parsed = parseAuthority(raw, options);
  if ("problem" in parsed) throw new Error(parsed.problem);
  return parsed;
}

describe("parseAuthority() reduces every spelling to one canonical authority", () => {
  test.each([
    ["example.com:443", "example.com:443", "name"],
    ["Api.Example.COM.:443", "api.example.com:443", "name"],
    ["API.EXAMPLE.COM:443", "api.example.com:443", "name"],
    ["api.example.com.:8443", "api.example.com:8443", "name"],
    ["localhost:1", "localhost:1", "name"],
    ["a_b.example:443", "a_b.example:443", "name"],
    ["_acme._tcp.example:443", "_acme._tcp.example:443", "name"],
    ["ünicode.example:443", "xn--nicode-2ya.example:443", "name"],
    ["ÜNICODE.example:443", "xn--nicode-2ya.example:443", "name"],
    ["xn--nicode-2ya.example:443", "xn--nicode-2ya.example:443", "name"],
    ["😀:443", "xn--e28h:443", "name"],
    ["123.example:443", "123.example:443", "name"],
    ["example\u3002com:443", "example.com:443", "name"],
    ["\uff41\uff50\uff49.example:443", "api.example:443", "name"],
    ["a-b.example:65535", "a-b.example:65535", "name"],
    ["127.0.0.1:443", "127.0.0.1:443", "ipv4"],
    ["127.1:443", "127.0.0.1:443", "ipv4"],
    ["0x7f.0.0.1:443", "127.0.0.1:443", "ipv4"],
    ["2130706433:443", "127.0.0.1:443", "ipv4"],
    ["0177.0.0.1:443", "127.0.0.1:443", "ipv4"],
    ["0x7f000001:443", "127.0.0.1:443", "ipv4"],
    ["127.0.0.1.:443", "127.0.0.1:443", "ipv4"],
    ["１２７.0.0.1:443", "127.0.0.1:443", "ipv4"],
    ["[::1]:443", "[::1]:443", "ipv6"],
    ["[0:0:0:0:0:0:0:1]:443", "[::1]:443", "ipv6"],
    ["[::ffff:127.0.0.1]:443", "[::ffff:7f00:1]:443", "ipv6"],
    ["[2001:DB8::0:1]:443", "[2001:db8::1]:443", "ipv6"],
    ["[2001:0db8:0000:0000:0000:0000:0000:0001]:80", "[2001:db8::1]:80", "ipv6"],
  ])("%s is %s", (raw, authority, kind) => {
    const parsed = target(raw);
    expect(parsed.authority).toBe(authority);
    expect(parsed.kind).toBe(kind as CanonicalTarget["kind"]);
  });
});

describe("parseAuthority() refuses what it cannot read unambiguously", () => {
  test.each([
    ["", "empty"],
    [":", "empty"],
    [":443", "host is empty"],
    ["::", "brackets"],
    ["::1:443", "IPv6 address must be in brackets"],
    ["2001:db8::1", "IPv6 address must be in brackets"],
    ["[name]:443", "brackets hold only IPv6"],
    ["[name.]:1337", "brackets hold only IPv6"],
    ["[127.0.0.1]:443", "brackets hold only IPv6"],
    ["[[::1]]:443", "is not"],
    ["[[x]]:443", "not"],
    ["[::1:443", "without closing"],
    ["[::1]x:443", 'not ":port"'],
    ["ex[a]mple:443", "bracket"],
    ["host:", "port is empty"],
    ["host:91337", 'port "91337"'],
    ["host:65536", 'port "65536"'],
    ["host:0", 'port "0"'],
    ["host:-12", 'port "-12"'],
    ["host:007", 'port "007"'],
    ["host:https", 'port "https"'],
    ["host:+443", 'port "+443"'],
    ["host", "no port"],
    ["user@host:443", "userinfo"],
    ["user:pass@host:443", "userinfo"],
    ["a..b:443", "empty label"],
    [".example.com:443", "empty label"],
    ["example.com..:443", "empty label"],
    [".:443", "only dots"],
    ["...:443", "only dots"],
    ["host%2ecom:443", "%"],
    ["[fe80::1%eth0]:443", "%"],
    ["host/path:443", "slash"],
    ["host\\x:443", "slash"],
    ["ho st:443", "whitespace"],
    ["host\t:443", "whitespace"],
    ["host\u0000.example:443", "control"],
    ["host\u00a0.example:443", "whitespace"],
    ["1.2.3.256:443", "ends in a number"],
    ["example.123:443", "ends in a number"],
    ["example.0x1f:443", "ends in a number"],
    ["4294967296:443", "ends in a number"],
    ["1.2.3.4.5:443", "ends in a number"],
    [`${"a".repeat(64)}.example:443`, "longer than 63"],
    [`${"abcdefghi.".repeat(26)}example:443`, "longer than 253"],
    ["a*b.example:443", "character other than"],
    ["a!b.example:443", "character other than"],
    ["xn--zz.example:443", "not a valid host name"],
    ["a\uff0fb.example:443", "not a valid host name"],
    ["a.b.c.d.1:443", "ends in a number"],
  ])("%j is a problem mentioning %j", (raw, words) => {
    const parsed = parseAuthority(raw);
    expect(parsed).toHaveProperty("problem");
    expect((parsed as { problem: string }).problem).toContain(words);
  });

  test("a bad port is named in the problem sentence", () => {
    expect(parseAuthority("host:007")).toEqual({
      problem: 'port "007" must be a decimal number from 1 to 65535 without leading zeros',
    });
  });
});

describe("parseAuthority() with a default port, for Host headers and absolute URIs", () => {
  test("a missing port takes the default", () => {
    expect(target("Example.COM", { defaultPort: 443 }).authority).toBe("example.com:443");
    expect(target("[::1]", { defaultPort: 80 }).authority).toBe("[::1]:80");
    expect(target("127.1", { defaultPort: 80 }).authority).toBe("127.0.0.1:80");
  });

  test("an explicit port still wins and an empty one is still a problem", () => {
    expect(target("example.com:8443", { defaultPort: 443 }).port).toBe(8443);
    expect(parseAuthority("example.com:", { defaultPort: 443 })).toHaveProperty("problem");
  });
});

describe("sameTarget()", () => {
  test("a trailing dot, case and legacy IPv4 spellings name the same target", () => {
    expect(sameTarget(target("Api.Example.COM.:443"), target("api.example.com:443"))).toBe(true);
    expect(sameTarget(target("127.1:443"), target("2130706433:443"))).toBe(true);
    expect(sameTarget(target("[0:0:0:0:0:0:0:1]:443"), target("[::1]:443"))).toBe(true);
    expect(sameTarget(target("ünicode.example:443"), target("xn--nicode-2ya.example:443"))).toBe(true);
  });

  test("another port or another host is another target", () => {
    expect(sameTarget(target("example.com:443"), target("example.com:8443"))).toBe(false);
    expect(sameTarget(target("a.example:443"), target("b.example:443"))).toBe(false);
    expect(sameTarget(target("127.0.0.1:443"), target("[::ffff:127.0.0.1]:443"))).toBe(false);
  });
});

describe("parseSni()", () => {
  test("returns the canonical host a Host header or CONNECT would give", () => {
    expect(parseSni("Api.Example.COM.")).toBe("api.example.com");
    expect(parseSni("xn--e28h")).toBe("xn--e28h");
    expect(parseSni("a_b.example")).toBe("a_b.example");
  });

  test("IP literals, ports and malformed names are not SNI values", () => {
    for (const bad of ["127.0.0.1", "127.1", "2130706433", "::1", "[::1]", "example.com:443", "a..b", "", "user@host", "ho st", "1.2.3.256"]) {
      expect(parseSni(bad)).toBeUndefined();
    }
  });
});
