import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { sandboxEnv, shellLines, TRUST_VARIABLES } from "./sandbox-env.ts";

const options = { proxyAuthority: "127.0.0.1:3128", token: "tok/en:'$(x)`9Qm4", bundlePath: "/etc/credproxy/bundle.pem", noProxy: ["localhost", "127.0.0.1"] };

describe("the environment a sandbox is given", () => {
  test("the proxy URL carries the run token, percent-encoded, in every spelling", () => {
    const env = new Map(sandboxEnv(options));
    const url = "http://run:tok%2Fen%3A'%24(x)%609Qm4@127.0.0.1:3128";
    for (const name of ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"]) expect(env.get(name)).toBe(url);
    expect(decodeURIComponent(new URL(url).password)).toBe(options.token);
  });
  test("without a token the URL has no userinfo", () => {
    expect(new Map(sandboxEnv({ ...options, token: undefined })).get("HTTPS_PROXY")).toBe("http://127.0.0.1:3128");
  });
  test("every trust variable names the bundle", () => {
    const env = new Map(sandboxEnv(options));
    for (const { name } of TRUST_VARIABLES) expect(env.get(name)).toBe(options.bundlePath);
    expect(env.get("NO_PROXY")).toBe("localhost,127.0.0.1");
  });
  test("the shell lines give back exactly the values, with nothing expanded", () => {
    const pairs = sandboxEnv(options);
    const script = shellLines(pairs) + pairs.map(([n]) => `printf '%s\\0' "$${n}"`).join("\n");
    const out = spawnSync("sh", ["-c", script], { encoding: "utf8", env: {} });
    expect(out.stdout.split("\0").slice(0, -1)).toEqual(pairs.map(([, v]) => v));
  });
});
