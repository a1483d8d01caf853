import { describe, expect, test } from "bun:test";
import { hostPatternMatches, matchesAny, parseHostPattern, type HostPattern } from "./host-pattern.ts";

function pattern(text: string): HostPattern {
  const parsed = parseHostPattern(text);
  if ("problem" in parsed) throw new Error(parsed.problem);
  return parsed;
}

function problem(text: string): string {
  const parsed = parseHostPattern(text);
  if (!("problem" in parsed)) throw new Error(`expected a problem for ${text}`);
  return parsed.problem;
}

describe("parseHostPattern()", () => {
  const accepted: [string, string, boolean, number | undefined][] = [
    ["api.example.com", "api.example.com", false, undefined],
    ["API.Example.COM", "api.example.com", false, undefined],
    ["api.example.com.", "api.example.com", false, undefined],
    ["api.example.com:8443", "api.example.com", false, 8443],
    ["api.example.com.:8443", "api.example.com", false, 8443],
    ["*.example.com", "example.com", true, undefined],
    ["*.Example.com:443", "example.com", true, 443],
    ["localhost", "localhost", false, undefined],
    ["a_b.example.com", "a_b.example.com", false, undefined],
    ["bücher.de", "xn--bcher-kva.de", false, undefined],
    ["*.例え.jp", "xn--r8jz45g.jp", true, undefined],
    ["xn--bcher-kva.de", "xn--bcher-kva.de", false, undefined],
    ["192.0.2.10", "192.0.2.10", false, undefined],
    ["192.0.2.10:65535", "192.0.2.10", false, 65535],
    ["[::1]", "::1", false, undefined],
    ["[2001:DB8:0:0:0:0:0:1]:1", "2001:db8::1", false, 1],
  ];
  for (const [text, host, wildcard, port] of accepted) {
    test(`"${text}" is host ${host}${wildcard ? " and its subdomains" : ""} on ${port ?? "ports 80 and 443"}`, () => {
      expect(parseHostPattern(text)).toEqual({ text, host, wildcard, port });
    });
  }

  const refused: [string, RegExp][] = [
    ["", /empty/],
    [" api.example.com", /spaces/],
    ["*", /policy: permissive/],
    ["*:443", /policy: permissive/],
    ["sts.*.amazonaws.com", /only a leading \*\. is a wildcard; sts\.\*\.amazonaws\.com is not supported, write \*\.amazonaws\.com/],
    ["*.*.example.com", /only a leading \*\./],
    ["*example.com", /only a leading \*\./],
    ["api.example.com:0", /1 to 65535/],
    ["api.example.com:65536", /1 to 65535/],
    ["api.example.com:0443", /without leading zeros/],
    ["api.example.com:https", /decimal number/],
    ["api.example.com:", /port ""/],
    ["::1", /in brackets, as \[::1\]/],
    ["[::1", /unbalanced/],
    ["[::1]x", /unbalanced/],
    ["[example.com]", /not an IPv6 address/],
    ["[zz::1]", /not an IPv6 address/],
    ["a..example.com", /not a valid host name/],
    ["-a.example.com", /not a valid host name/],
    ["a b.example.com", /not a valid host name/],
    ["1.2.3", /unusual form of the IPv4 address 1\.2\.0\.3/],
    ["192.168.000.1", /write 192\.168\.0\.1/],
    ["1.2.3.999", /not a valid host name or IPv4/],
    ["*.192.0.2.10", /wildcard in front of an IP address/],
  ];
  for (const [text, message] of refused) {
    test(`"${text}" is refused with a message that says why`, () => {
      expect(problem(text)).toMatch(message);
    });
  }

  test("a problem quotes the pattern as written", () => {
    expect(problem("api.example.com:99999")).toContain('"api.example.com:99999"');
  });
});

describe("hostPatternMatches()", () => {
  test("a plain host matches only itself, on ports 80 and 443", () => {
    const p = pattern("api.example.com");
    expect(hostPatternMatches(p, { host: "api.example.com", port: 443 })).toBe(true);
    expect(hostPatternMatches(p, { host: "api.example.com", port: 80 })).toBe(true);
    expect(hostPatternMatches(p, { host: "api.example.com", port: 8443 })).toBe(false);
    expect(hostPatternMatches(p, { host: "x.api.example.com", port: 443 })).toBe(false);
    expect(hostPatternMatches(p, { host: "example.com", port: 443 })).toBe(false);
  });

  test("a host is not matched by another that merely ends with it", () => {
    expect(hostPatternMatches(pattern("example.com"), { host: "badexample.com", port: 443 })).toBe(false);
  });

  test("a wildcard matches subdomains at any depth but never the apex", () => {
    const p = pattern("*.example.com");
    expect(hostPatternMatches(p, { host: "a.example.com", port: 443 })).toBe(true);
    expect(hostPatternMatches(p, { host: "a.b.c.example.com", port: 80 })).toBe(true);
    expect(hostPatternMatches(p, { host: "example.com", port: 443 })).toBe(false);
    expect(hostPatternMatches(p, { host: "badexample.com", port: 443 })).toBe(false);
    expect(hostPatternMatches(p, { host: "a.example.com", port: 22 })).toBe(false);
  });

  test("an explicit port must equal the target's, and then 80 and 443 are not implied", () => {
    const p = pattern("*.example.com:8443");
    expect(hostPatternMatches(p, { host: "a.example.com", port: 8443 })).toBe(true);
    expect(hostPatternMatches(p, { host: "a.example.com", port: 443 })).toBe(false);
    expect(hostPatternMatches(pattern("example.com:443"), { host: "example.com", port: 80 })).toBe(false);
  });

  test("IPv4 and IPv6 literal patterns match the canonical address", () => {
    expect(hostPatternMatches(pattern("192.0.2.10"), { host: "192.0.2.10", port: 443 })).toBe(true);
    expect(hostPatternMatches(pattern("192.0.2.10"), { host: "192.0.2.1", port: 443 })).toBe(false);
    expect(hostPatternMatches(pattern("[2001:db8:0::1]:8080"), { host: "2001:db8::1", port: 8080 })).toBe(true);
    expect(hostPatternMatches(pattern("[2001:db8::1]"), { host: "2001:db8::1", port: 8080 })).toBe(false);
  });

  test("an IDN pattern matches the punycode target", () => {
    expect(hostPatternMatches(pattern("Bücher.de"), { host: "xn--bcher-kva.de", port: 443 })).toBe(true);
  });
});

describe("matchesAny()", () => {
  test("returns the first pattern that matches, or undefined", () => {
    const list = [pattern("a.example.com"), pattern("*.example.com"), pattern("b.example.com")];
    expect(matchesAny(list, { host: "b.example.com", port: 443 })?.text).toBe("*.example.com");
    expect(matchesAny(list, { host: "a.example.com", port: 443 })?.text).toBe("a.example.com");
    expect(matchesAny(list, { host: "example.org", port: 443 })).toBeUndefined();
    expect(matchesAny([], { host: "a.example.com", port: 443 })).toBeUndefined();
  });
});
