/**
 * Placeholders end to end: the compiled binary between curl and loopback echo origins. The
 * sandbox holds only what `proxy env` prints; the origins record what arrived, so each test
 * shows the real value reached its own host, in the spelling the request used, and that a
 * placeholder anywhere else is refused before any byte leaves.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { curl } from "../helpers/curl.ts";
import { startHttpOrigin, startHttpsOrigin, type EchoOrigin } from "../helpers/https-origin.ts";
import { makeTestPki } from "../helpers/test-ca.ts";
import { startProxy, type RunningProxy } from "./proxy-fixture.ts";
import { BUN, clientEnv, jsonOf, runClient } from "./proxy-client-run.ts";

const OPENAI_REAL = "sk-real-openai/9Qm4Xr7+Lz2Wk8=Vn5B";
const GH_REAL = "ghp_realGithub9Qm4Xr7Lz2Wk8Vn5Bx";
const PLAIN_REAL = "plain-real-7Hc2Jd9Kf4Lm6Np";
const OPENAI_PLACEHOLDER = "cpx_openai_placeholder_e2e_0001";

let api: EchoOrigin;
let git: EchoOrigin;
let echo: EchoOrigin;
let plain: EchoOrigin;
let proxy: RunningProxy;
let env: Record<string, string>;

beforeAll(async () => {
  const pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  api = await startHttpsOrigin({ pki, name: "api", alpn: ["h2", "http/1.1"] });
  git = await startHttpsOrigin({ pki, name: "git" });
  echo = await startHttpsOrigin({ pki, name: "echo" });
  plain = await startHttpOrigin({ name: "plain" });
  proxy = await startProxy(`
tls: {upstream_ca_bundle: ${pki.caFile}}
intercept: all
allow: ["localhost:${api.port}", "localhost:${git.port}", "localhost:${echo.port}", "localhost:${plain.port}"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - name: openai
    host: localhost:${api.port}
    value: "${OPENAI_REAL}"
    placeholder: ${OPENAI_PLACEHOLDER}
    require_placeholder: true
    env: OPENAI_API_KEY
  - name: github
    host: localhost:${git.port}
    value: ${GH_REAL}
    placeholder: {prefix: ghp_, length: 40}
    env: GH_TOKEN
  - name: plain
    host: localhost:${plain.port}
    header: X-Api-Key
    value: ${PLAIN_REAL}
    placeholder: {shape: jwt}
    env: PLAIN_TOKEN
    allow_plaintext: true
`);
  env = await proxy.sandboxEnv();
});
afterAll(cleanupAll);

function viaProxy(args: string[]) {
  return curl(["--proxy", env.HTTPS_PROXY!, "--cacert", env.CURL_CA_BUNDLE!, ...args]);
}

/**
 * What the origin recorded of the request its echo names, and the HTTP version curl spoke to
 * the proxy inside the tunnel. Read from the origin, not the echo: the proxy gives the echo back
 * with each real value replaced by its placeholder (response scrubbing).
 */
async function echoed(args: string[]) {
  const r = await viaProxy(["-w", "\n%{http_version}", ...args]);
  expect(r.stderr).toBe("");
  const split = r.stdout.lastIndexOf("\n");
  const echo = JSON.parse(r.stdout.slice(0, split)) as { origin: string; seq: number };
  const origin = [api, git, plain].find((o) => o.requests[0]?.origin === echo.origin);
  const seen = origin!.requests.find((q) => q.seq === echo.seq)!;
  return { ...seen, headers: seen.headers as Record<string, string>, clientVersion: r.stdout.slice(split + 1) };
}

/** Status and deny reason of a refused request, and proof that `origin` saw nothing. */
async function refused(origin: EchoOrigin, args: string[]) {
  const before = origin.requests.length;
  const r = await viaProxy(["-s", "-o", "/dev/null", "-D", "-", ...args]);
  const reason = /x-credproxy-deny-reason: (\S+)/i.exec(r.stdout)?.[1];
  // -D prints the CONNECT's 200 first; the last status line is the request's.
  const status = Number([...r.stdout.matchAll(/^HTTP\/[\d.]+ (\d+)/gm)].at(-1)?.[1]);
  return { status, reason, originSaw: origin.requests.length - before };
}

/** A tool that reads its key from the environment, as `proxy env` set it, and opens a WebSocket with it. */
const BUN_WEBSOCKET = `
const url = process.argv.at(-1).replace("https:", "wss:") + "?token=" + process.env.GH_TOKEN;
const ws = new WebSocket(url, { proxy: process.env.HTTPS_PROXY, headers: { authorization: "token " + process.env.GH_TOKEN } });
ws.onopen = () => ws.send("hello");
ws.onmessage = (e) => { console.log(JSON.stringify(String(e.data))); ws.close(1000); };
ws.onerror = (e) => { console.error("websocket error", e.message ?? e); process.exit(2); };
`;

const percentEncoded = (text: string) => [...text].map((c) => `%${c.charCodeAt(0).toString(16)}`).join("");

describe("credproxy proxy: placeholders", () => {
  test("proxy env prints each env: variable with its placeholder, the same on every call and never the value", async () => {
    expect(env.OPENAI_API_KEY).toBe(OPENAI_PLACEHOLDER);
    expect(env.GH_TOKEN).toMatch(/^ghp_[A-Za-z0-9]{36}$/);
    expect(env.PLAIN_TOKEN!.split(".")).toHaveLength(3);
    expect((await proxy.sandboxEnv()).GH_TOKEN).toBe(env.GH_TOKEN);
    expect(Object.values(env).join("\n")).not.toContain(GH_REAL);
  });

  test("over HTTP/1.1 (the fast path) the value replaces the placeholder in Authorization, the path and the query", async () => {
    const seen = await echoed(["--http1.1", "-H", `Authorization: Bearer ${env.OPENAI_API_KEY}`, `https://localhost:${api.port}/v1/${env.OPENAI_API_KEY}/models?key=${env.OPENAI_API_KEY}&n=1`]);
    expect(seen.clientVersion).toBe("1.1");
    expect(seen.headers.authorization).toBe(`Bearer ${OPENAI_REAL}`);
    expect(seen.path).toBe(`/v1/${encodeURIComponent(OPENAI_REAL)}/models?key=${encodeURIComponent(OPENAI_REAL)}&n=1`);
  });

  test("over HTTP/2 the same, and a percent-encoded spelling in the query is found too", async () => {
    const seen = await echoed(["--http2", "-H", `x-api-key: ${env.OPENAI_API_KEY}`, `https://localhost:${api.port}/v1/chat?key=${percentEncoded(env.OPENAI_API_KEY!)}`]);
    expect(seen.clientVersion).toBe("2");
    expect(seen.headers["x-api-key"]).toBe(OPENAI_REAL);
    expect(seen.path).toBe(`/v1/chat?key=${encodeURIComponent(OPENAI_REAL)}`);
  });

  test("Basic credentials from the URL's userinfo (curl, git) carry the real password to their host", async () => {
    const seen = await echoed(["-u", `x-access-token:${env.GH_TOKEN}`, `https://localhost:${git.port}/org/repo.git/info/refs`]);
    expect(Buffer.from(seen.headers.authorization!.replace(/^Basic /, ""), "base64").toString()).toBe(`x-access-token:${GH_REAL}`);
  });

  test("over plain http:// with allow_plaintext a JWT-shaped placeholder in a custom header is replaced", async () => {
    const r = await curl(["--proxy", env.HTTP_PROXY!, "-H", `X-Api-Key: ${env.PLAIN_TOKEN}`, `http://localhost:${plain.port}/p`]);
    expect(JSON.parse(r.stdout).headers["x-api-key"]).toBe(env.PLAIN_TOKEN); // the echo comes back scrubbed
    expect(plain.requests.find((q) => q.path === "/p")?.headers["x-api-key"]).toBe(PLAIN_REAL);
  });

  test("a WebSocket upgrade from a tool reading its key from the environment gets the value in its header and query", async () => {
    const r = await runClient([BUN, "-e", BUN_WEBSOCKET, `https://localhost:${git.port}/ws`], clientEnv(env));
    expect(jsonOf(r)).toBe("hello");
    const upgrade = git.requests.find((q) => q.upgrade);
    expect(upgrade?.headers.authorization).toBe(`token ${GH_REAL}`);
    expect(upgrade?.path).toBe(`/ws?token=${GH_REAL}`);
  });

  test("a placeholder sent to another credential's host is refused, and that origin sees nothing", async () => {
    expect(await refused(git, ["-H", `Authorization: Bearer ${env.OPENAI_API_KEY}`, `https://localhost:${git.port}/echo`])).toEqual({ status: 403, reason: "placeholder-wrong-host", originSaw: 0 });
  });

  test("a placeholder sent to a host with no credential is refused in a header, the path or the query, over h1 and h2", async () => {
    const base = `https://localhost:${echo.port}`;
    for (const args of [
      ["--http1.1", "-H", `X-Echo: ${env.GH_TOKEN}`, `${base}/h`],
      ["--http2", `${base}/p/${env.OPENAI_API_KEY}`],
      ["--http1.1", `${base}/q?x=${percentEncoded(env.OPENAI_API_KEY!)}`],
      ["-u", `u:${env.GH_TOKEN}`, `${base}/basic`],
    ]) {
      expect({ args, ...(await refused(echo, args)) }).toEqual({ args, status: 403, reason: "placeholder-wrong-host", originSaw: 0 });
    }
  });

  test("require_placeholder refuses a smuggled key in the credential's header, and passes a request without that header", async () => {
    expect(await refused(api, ["-H", "Authorization: Bearer sk-smuggled-real-looking-key", `https://localhost:${api.port}/v1/models`])).toEqual({ status: 403, reason: "placeholder-missing", originSaw: 0 });
    const seen = await echoed([`https://localhost:${api.port}/v1/public`]);
    expect(seen.headers.authorization).toBeUndefined();
  });

  test("the origins never saw a placeholder where it was replaced, and the proxy's logs hold no real value", async () => {
    const arrived = JSON.stringify([...api.requests, ...git.requests, ...plain.requests]);
    expect(arrived).toContain(PLAIN_REAL);
    expect(arrived).not.toContain(env.GH_TOKEN!);
    expect(arrived).not.toContain(OPENAI_PLACEHOLDER);
    await proxy.proc.waitForLog((r) => r.msg === "request" && r.reason === "placeholder-missing");
    const logs = proxy.proc.stderrLines.join("\n") + proxy.proc.stdoutLines.join("\n");
    for (const real of [OPENAI_REAL, GH_REAL, PLAIN_REAL]) expect(logs).not.toContain(real);
  });
});
