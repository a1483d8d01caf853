import { describe, expect, test } from "bun:test";
import { parseAuthority, type CanonicalTarget } from "../canonical-host.ts";
import { noProxyMatcher, upstreamProxyChooser } from "./upstream-proxy.ts";

const t = (authority: string): CanonicalTarget => {
  const target = parseAuthority(authority);
  if ("problem" in target) throw new Error(target.problem);
  return target;
};

describe("NO_PROXY matching (curl's rules)", () => {
  const bypass = noProxyMatcher(["example.com", ".internal.test", "svc.local:8080", "10.0.0.0/8", "192.168.1.7", "[::1]", " "]);

  test("a name matches itself and its subdomains, with or without a leading dot", () => {
    expect(bypass(t("example.com:443"))).toBe(true);
    expect(bypass(t("api.example.com:443"))).toBe(true);
    expect(bypass(t("internal.test:443"))).toBe(true);
    expect(bypass(t("a.b.internal.test:80"))).toBe(true);
  });

  test("a name that only ends in the same letters does not match", () => {
    expect(bypass(t("badexample.com:443"))).toBe(false);
  });

  test("host:port matches only that port", () => {
    expect(bypass(t("svc.local:8080"))).toBe(true);
    expect(bypass(t("svc.local:443"))).toBe(false);
  });

  test("IPs and CIDRs match IP-literal targets", () => {
    expect(bypass(t("10.2.3.4:443"))).toBe(true);
    expect(bypass(t("192.168.1.7:80"))).toBe(true);
    expect(bypass(t("192.168.1.8:80"))).toBe(false);
    expect(bypass(t("[::1]:443"))).toBe(true);
  });

  test("* bypasses everything", () => {
    expect(noProxyMatcher(["*"])(t("anything.invalid:443"))).toBe(true);
  });
});

describe("which upstream proxy a target goes through", () => {
  test("from the environment: https_proxy for TLS, http_proxy for plain, either case, NO_PROXY honoured", () => {
    const choose = upstreamProxyChooser({ kind: "environment" }, { HTTPS_PROXY: "http://u:p%40ss@corp.invalid:8080", http_proxy: "corp.invalid:3128", NO_PROXY: "direct.invalid" });
    expect(choose(t("api.invalid:443"), true)).toMatchObject({ host: "corp.invalid", port: 8080, authority: "corp.invalid:8080", authorization: `Basic ${Buffer.from("u:p@ss").toString("base64")}` });
    expect(choose(t("api.invalid:80"), false)).toMatchObject({ port: 3128, authorization: undefined });
    expect(choose(t("direct.invalid:443"), true)).toBeUndefined();
  });

  test("upstream_proxy: none ignores the environment", () => {
    expect(upstreamProxyChooser({ kind: "none" }, { HTTPS_PROXY: "http://corp.invalid:1" })(t("a.invalid:443"), true)).toBeUndefined();
  });

  test("an upstream_proxy URL serves both schemes, minus no_proxy", () => {
    const choose = upstreamProxyChooser({ kind: "url", url: new URL("http://corp.invalid:9000"), noProxy: ["skip.invalid"] }, {});
    expect(choose(t("a.invalid:443"), true)?.authority).toBe("corp.invalid:9000");
    expect(choose(t("a.invalid:80"), false)?.authority).toBe("corp.invalid:9000");
    expect(choose(t("x.skip.invalid:443"), true)).toBeUndefined();
  });
});
