import { describe, expect, test } from "bun:test";
import { parseHostPattern, type HostPattern } from "./host-pattern.ts";
import { decide, denyResponse, type PolicyInput, type PolicyMode } from "./policy.ts";

function patterns(...texts: string[]): HostPattern[] {
  return texts.map((text) => {
    const parsed = parseHostPattern(text);
    if ("problem" in parsed) throw new Error(parsed.problem);
    return parsed;
  });
}

function input(policy: PolicyMode, lists: { allow?: string[]; deny?: string[]; grants?: string[] } = {}): PolicyInput {
  return {
    policy,
    allow: patterns(...(lists.allow ?? [])),
    deny: patterns(...(lists.deny ?? [])),
    grantHosts: patterns(...(lists.grants ?? [])),
    source: "proxy.yaml",
  };
}

const api = { host: "api.example.com", port: 443 };

describe("decide() in strict mode", () => {
  test("allows a host in the allow list and names the pattern", () => {
    expect(decide(input("strict", { allow: ["*.example.com"] }), api)).toEqual({ allowed: true, by: "allow", pattern: "*.example.com" });
  });

  test("allows a host a grant covers", () => {
    expect(decide(input("strict", { grants: ["api.example.com"] }), api)).toEqual({ allowed: true, by: "grant", pattern: "api.example.com" });
  });

  test("prefers the allow list when both allow and a grant match", () => {
    expect(decide(input("strict", { allow: ["api.example.com"], grants: ["*.example.com"] }), api)).toMatchObject({ by: "allow" });
  });

  test("refuses an unlisted host with a message naming host:port, the source and the key", () => {
    expect(decide(input("strict", { allow: ["other.example.com"] }), api)).toEqual({
      allowed: false,
      code: "host-not-allowed",
      message:
        'credproxy refused api.example.com:443: the host is not in the allow list of proxy.yaml (policy: strict). To allow it, add "api.example.com" to allow, or a grant that covers it.',
    });
  });

  test("suggests host:port for an unlisted host on a port other than 80 and 443", () => {
    const decision = decide(input("strict"), { host: "db.example.com", port: 5432 });
    expect(decision).toMatchObject({ allowed: false, code: "host-not-allowed" });
    if (!decision.allowed) expect(decision.message).toContain('add "db.example.com:5432" to allow');
  });

  test("refuses a listed host on another port as port-not-allowed, suggesting host:port", () => {
    const decision = decide(input("strict", { allow: ["api.example.com"] }), { host: "api.example.com", port: 8443 });
    expect(decision).toMatchObject({ allowed: false, code: "port-not-allowed" });
    if (!decision.allowed) {
      expect(decision.message).toContain("credproxy refused api.example.com:8443");
      expect(decision.message).toContain("only on ports 80 and 443");
      expect(decision.message).toContain('add "api.example.com:8443" to allow in proxy.yaml');
    }
  });

  test("port-not-allowed names an explicit port and says when the pattern came from a grant", () => {
    const decision = decide(input("strict", { grants: ["*.example.com:8080"] }), { host: "api.example.com", port: 9090 });
    expect(decision).toMatchObject({ allowed: false, code: "port-not-allowed" });
    if (!decision.allowed) {
      expect(decision.message).toContain('"*.example.com:8080" from a grant in proxy.yaml covers the host only on port 8080');
    }
  });

  test("an IPv6 target is written in brackets in messages", () => {
    const decision = decide(input("strict"), { host: "2001:db8::1", port: 443 });
    if (decision.allowed) throw new Error("expected a refusal");
    expect(decision.message).toContain("refused [2001:db8::1]:443");
    expect(decision.message).toContain('add "[2001:db8::1]" to allow');
  });
});

describe("decide() in permissive mode", () => {
  test("allows any host and port that is not denied", () => {
    expect(decide(input("permissive"), { host: "anything.example.org", port: 22 })).toEqual({ allowed: true, by: "permissive" });
  });
});

describe("decide() in report mode", () => {
  test("allows an unlisted host but carries what strict would have said", () => {
    expect(decide(input("report"), api)).toEqual({
      allowed: true,
      by: "permissive",
      wouldDeny: {
        code: "host-not-allowed",
        message:
          'credproxy refused api.example.com:443: the host is not in the allow list of proxy.yaml (policy: strict). To allow it, add "api.example.com" to allow, or a grant that covers it.',
      },
    });
  });

  test("carries port-not-allowed when strict would refuse the port", () => {
    const decision = decide(input("report", { allow: ["api.example.com"] }), { host: "api.example.com", port: 8443 });
    expect(decision).toMatchObject({ allowed: true, wouldDeny: { code: "port-not-allowed" } });
  });

  test("a host strict would allow has no wouldDeny and names its pattern", () => {
    expect(decide(input("report", { allow: ["api.example.com"] }), api)).toEqual({ allowed: true, by: "allow", pattern: "api.example.com" });
  });
});

describe("deny wins", () => {
  for (const mode of ["strict", "report", "permissive"] as const) {
    test(`a denied host is refused in ${mode} mode even when allow and a grant cover it`, () => {
      const decision = decide(input(mode, { allow: ["api.example.com"], grants: ["*.example.com"], deny: ["*.example.com"] }), api);
      expect(decision).toEqual({
        allowed: false,
        code: "host-denied",
        message:
          'credproxy refused api.example.com:443: it matches "*.example.com" in the deny list of proxy.yaml, and deny wins over allow, grants and every policy. To allow it, remove or narrow that entry in deny.',
      });
    });
  }

  test("a deny pattern without a port denies every port of the host", () => {
    expect(decide(input("permissive", { deny: ["api.example.com"] }), { host: "api.example.com", port: 8443 })).toMatchObject({
      allowed: false,
      code: "host-denied",
    });
  });

  test("a deny pattern with a port denies only that port", () => {
    const lists = { deny: ["api.example.com:8443"] };
    expect(decide(input("permissive", lists), { host: "api.example.com", port: 8443 })).toMatchObject({ allowed: false });
    expect(decide(input("permissive", lists), api)).toMatchObject({ allowed: true });
  });

  test("the message names the source it was given", () => {
    const decision = decide({ ...input("strict"), source: "runs/ci-42.yaml" }, api);
    if (decision.allowed) throw new Error("expected a refusal");
    expect(decision.message).toContain("the allow list of runs/ci-42.yaml");
  });
});

describe("denyResponse()", () => {
  test("is a 407 with a non-prompting scheme, the reason code, no caching and the message as body", () => {
    const response = denyResponse({ code: "host-not-allowed", message: "credproxy refused api.example.com:443: …" });
    expect(response).toEqual({
      status: 407,
      headers: {
        "Proxy-Authenticate": 'Credproxy-Policy realm="credproxy"',
        "X-Credproxy-Deny-Reason": "host-not-allowed",
        "Content-Type": "text/plain; charset=utf-8",
        "Cache-Control": "no-store",
      },
      body: "credproxy refused api.example.com:443: …\n",
    });
  });
});
