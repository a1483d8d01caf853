import { describe, expect, test } from "bun:test";
import type { ProxyConfig, RelaySpec, Tenant } from "../config/proxy-config.ts";
import { relayRoute, type RelayRoute } from "./relay-route.ts";

const spec = { name: "api" } as RelaySpec;
const tenant = (name: string, token: string | undefined) => ({ name, token, relays: [spec], mcpServers: [spec], source: `${name}.yaml` }) as unknown as Tenant;
const alone = { runsDir: undefined, token: undefined, defaultTenant: tenant("default", undefined) } as unknown as ProxyConfig;
const withRuns = { runsDir: "/runs", token: undefined, defaultTenant: tenant("default", undefined) } as unknown as ProxyConfig;
const runs = [tenant("a", "token-a/x"), tenant("b", "token-b")];

const routed = (value: ReturnType<typeof relayRoute>) => value as RelayRoute;

describe("relayRoute", () => {
  test("a proxy that needs no token reads /KIND/NAME/REST?QUERY", () => {
    const r = routed(relayRoute("/relay/api/v1/x?q=1", undefined, alone, []));
    expect([r.kind, r.tenant.name, r.prefix, r.rest, r.query]).toEqual(["relay", "default", "/relay/api", "/v1/x", "?q=1"]);
    expect(routed(relayRoute("/mcp/api", undefined, alone, [])).rest).toBe("");
  });

  test("with runs, the token comes from the header, or else from the first path segment (percent-decoded)", () => {
    expect(routed(relayRoute("/mcp/api", "token-b", withRuns, runs)).tenant.name).toBe("b");
    const inPath = routed(relayRoute("/mcp/token-a%2Fx/api/messages?s=1", undefined, withRuns, runs));
    expect([inPath.tenant.name, inPath.prefix, inPath.rest]).toEqual(["a", "/mcp/token-a%2Fx/api", "/messages"]);
  });

  test("refusals: no token, a wrong one, an unknown name, a dot segment in a relay path", () => {
    const code = (url: string, header?: string) => (relayRoute(url, header, withRuns, runs) as { code: string }).code;
    expect(code("/mcp/api")).toBe("run-token-required");
    expect(code("/mcp/api", "nope")).toBe("bad-run-token");
    expect(code("/mcp/nope/api")).toBe("bad-run-token");
    expect(code("/relay/other", "token-b")).toBe("unknown-relay");
    expect(code("/relay/api/a/%2E./b", "token-b")).toBe("relay-dot-segment");
  });

  test("other paths are not relay paths", () => {
    for (const url of ["/_credproxy/health", "/mcpx", "/relayed/api", "/"]) expect(relayRoute(url, undefined, alone, [])).toBeUndefined();
  });
});
