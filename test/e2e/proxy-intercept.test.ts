/**
 * `credproxy proxy` end to end: the compiled binary between curl and loopback origins that
 * echo what they receive. The sandbox side trusts only the bundle `proxy env` points at.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { curl } from "../helpers/curl.ts";
import { startHttpOrigin, startHttpsOrigin, type EchoOrigin } from "../helpers/https-origin.ts";
import { makeTestPki, type TestPki } from "../helpers/test-ca.ts";
import { runCredproxy } from "../helpers/binary.ts";
import { rawConnect, startProxy, type RunningProxy } from "./proxy-fixture.ts";

const SECRET = "ghp_e2e-secret-9Qm4Xr7Lz2Wk8Vn5B";
const PLAIN_SECRET = "plain-secret-7Hc2Jd9Kf4Lm6Np";

let pki: TestPki;
let origin: EchoOrigin;
let other: EchoOrigin;
let plain: EchoOrigin;
let proxy: RunningProxy;
let env: Record<string, string>;

beforeAll(async () => {
  pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1", "::1"] });
  origin = await startHttpsOrigin({ pki, name: "credentialed" });
  other = await startHttpsOrigin({ pki, name: "other" });
  plain = await startHttpOrigin({ name: "plain" });
  proxy = await startProxy(
    `
tls: {upstream_ca_bundle: ${pki.caFile}}
allow: ["localhost:${origin.port}", "127.0.0.1:${other.port}", "[::1]:${other.port}", "localhost:${plain.port}"]
deny: ["gist.example.invalid"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - name: echo-token
    host: localhost:${origin.port}
    value: "Bearer ${SECRET}"
  - name: plain-key
    host: localhost:${plain.port}
    header: X-Api-Key
    value: ${PLAIN_SECRET}
    allow_plaintext: true
`,
  );
  env = await proxy.sandboxEnv();
});
afterAll(cleanupAll);

/** curl as a sandbox runs it: the proxy and CA bundle from `proxy env`, nothing else. */
function viaProxy(args: string[]) {
  return curl(["--proxy", env.HTTPS_PROXY!, "--cacert", env.CURL_CA_BUNDLE!, ...args]);
}

describe("credproxy proxy: interception and injection", () => {
  test("prints the sandbox environment: proxy URL, NO_PROXY and every CA variable at one bundle", () => {
    expect(env.HTTPS_PROXY).toBe(proxy.proxyUrl());
    expect(env.http_proxy).toBe(proxy.proxyUrl());
    expect(env.NO_PROXY).toBe("localhost,127.0.0.1,::1");
    for (const name of ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE", "PIP_CERT"]) expect(env[name]).toBe(proxy.bundle);
  });

  test("a credentialed host gets the credential, and the client's own Authorization never arrives", async () => {
    const r = await viaProxy(["-H", "Authorization: Bearer sandbox-chosen", "-H", "authorization: again", `https://localhost:${origin.port}/repos?token=abc`]);
    expect(r.stderr).toBe("");
    const echo = JSON.parse(r.stdout);
    expect(echo.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(echo.path).toBe("/repos?token=abc");
    expect(echo.headers["proxy-authorization"]).toBeUndefined();
  });

  test("the request log names the credential, never its value, and drops query values", async () => {
    const record = await proxy.proc.waitForLog((r) => r.msg === "request" && r.path === "/repos?token=…");
    expect(record).toMatchObject({ run: "default", mode: "intercept", method: "GET", host: `localhost:${origin.port}`, status: 200, credentials: ["echo-token"] });
    const all = proxy.proc.stderrLines.join("\n") + proxy.proc.stdoutLines.join("\n");
    expect(all).not.toContain(SECRET.slice(4));
    expect(all).not.toContain("token=abc");
  });

  test("requests on one kept-alive HTTP/1.1 tunnel are each injected", async () => {
    const r = await viaProxy(["--http1.1", "-v", `https://localhost:${origin.port}/one`, `https://localhost:${origin.port}/two`]);
    const bodies = r.stdout.split(/(?<=\})(?=\{)/).map((b) => JSON.parse(b));
    expect(bodies.map((b) => [b.path, b.headers.authorization])).toEqual([
      ["/one", `Bearer ${SECRET}`],
      ["/two", `Bearer ${SECRET}`],
    ]);
    expect(r.stderr).toContain("Re-using existing connection");
  });

  test("a host without a credential is tunnelled untouched: the origin's own certificate, no credential", async () => {
    const r = await curl(["--proxy", proxy.proxyUrl(), "--cacert", pki.caFile, `https://127.0.0.1:${other.port}/opaque`]);
    const echo = JSON.parse(r.stdout);
    expect(echo.origin).toBe("other");
    expect(echo.headers.authorization).toBeUndefined();
    expect(echo.alpn).toBe("http/1.1"); // negotiated with curl itself: the proxy did not terminate TLS
  });

  test("a Host header naming another host than the CONNECT is 421 and reaches no origin", async () => {
    const before = origin.requests.length;
    const r = await viaProxy(["--http1.1", "-i", "-H", "Host: gist.localhost", `https://localhost:${origin.port}/x`]);
    expect(r.stdout.replace("HTTP/1.1 200 Connection Established\r\n\r\n", "")).toStartWith("HTTP/1.1 421");
    expect(r.stdout.toLowerCase()).toContain("x-credproxy-deny-reason: misdirected");
    expect(r.stdout).toContain(`tunnel was opened (CONNECT) to localhost:${origin.port}`);
    expect(origin.requests.length).toBe(before);
  });

  test("a host outside the allow list is refused with 407, its reason and the key that would allow it", async () => {
    const curled = await curl(["-i", "--proxy", proxy.proxyUrl(), "https://api.example.invalid/"]);
    expect(curled.stdout).toStartWith("HTTP/1.1 407");
    const answer = await rawConnect(proxy.port, "API.Example.invalid.:443");
    expect(answer).toStartWith("HTTP/1.1 407");
    expect(answer).toContain('Proxy-Authenticate: Credproxy-Policy realm="credproxy"');
    expect(answer).toContain("X-Credproxy-Deny-Reason: host-not-allowed");
    expect(answer).toContain('credproxy refused api.example.invalid:443: the host is not in the allow list of');
    expect(answer).toContain('add "api.example.invalid" to allow');
  });

  test("a denied host is refused even on a port allow would not cover", async () => {
    const answer = await rawConnect(proxy.port, "gist.example.invalid:8443");
    expect(answer).toContain("X-Credproxy-Deny-Reason: host-denied");
    expect(answer).toContain("remove or narrow that entry in deny");
  });

  test("an allowed host whose address is loopback outside allow_addresses is refused with 403", async () => {
    const r = await curl(["-i", "--proxy", proxy.proxyUrl(), "--cacert", pki.caFile, `https://[::1]:${other.port}/`]);
    expect(r.stdout).toStartWith("HTTP/1.1 403");
    const answer = await rawConnect(proxy.port, `[0:0:0:0:0:0:0:1]:${other.port}`);
    expect(answer).toContain("X-Credproxy-Deny-Reason: address-refused");
    expect(answer).toContain("::1 is a loopback address");
    expect(answer).toContain("allow_addresses");
    expect(other.requests.some((q) => q.path === "/" && q.authority?.startsWith("[::1]"))).toBe(false);
  });

  test("plain http:// gets only a credential that allows plaintext, with the client's value removed", async () => {
    const r = await curl(["--proxy", proxy.proxyUrl(), "-H", "X-Api-Key: mine", `http://localhost:${plain.port}/p`]);
    const echo = JSON.parse(r.stdout);
    expect(echo.headers["x-api-key"]).toBe(PLAIN_SECRET);
    expect(echo.headers.authorization).toBeUndefined();
  });

  test("TRACE is refused with 405 before anything is dialled", async () => {
    const before = plain.requests.length;
    const r = await curl(["-i", "--proxy", proxy.proxyUrl(), "-X", "TRACE", `http://localhost:${plain.port}/t`]);
    expect(r.stdout).toStartWith("HTTP/1.1 405");
    expect(plain.requests.length).toBe(before);
  });

  test("a request head over limits.max_header_bytes is 431", async () => {
    const r = await curl(["-i", "--proxy", proxy.proxyUrl(), "-H", `X-Big: ${"a".repeat(70_000)}`, `http://localhost:${plain.port}/big`]);
    expect(r.stdout).toStartWith("HTTP/1.1 431");
  });

  test("/_credproxy/health answers on the proxy port, and credproxy healthcheck accepts it", async () => {
    const health = await (await fetch(`http://127.0.0.1:${proxy.port}/_credproxy/health`)).json();
    expect(health).toMatchObject({ status: "healthy", tenants: 1 });
    expect(JSON.stringify(health)).not.toContain(SECRET);
    const r = await runCredproxy(["healthcheck", `127.0.0.1:${proxy.port}/_credproxy/health`]);
    expect(r.code).toBe(0);
  });
});

describe("credproxy proxy: HTTP/2 from the client", () => {
  test("curl --http2 agrees h2 with the proxy by ALPN, and each stream is injected", async () => {
    const r = await viaProxy(["--http2", "-v", `https://localhost:${origin.port}/h2-one`, `https://localhost:${origin.port}/h2-two`]);
    expect(r.stderr).toContain("ALPN: server accepted h2");
    const bodies = r.stdout.split(/(?<=\})(?=\{)/).map((b) => JSON.parse(b));
    expect(bodies.map((b) => [b.path, b.headers.authorization, b.headers[":authority"]])).toEqual([
      ["/h2-one", `Bearer ${SECRET}`, undefined],
      ["/h2-two", `Bearer ${SECRET}`, undefined],
    ]);
    expect(bodies[0].headers.host).toBe(`localhost:${origin.port}`);
  });

  test("an h2 :authority naming another host than the CONNECT is 421", async () => {
    const r = await viaProxy(["--http2", "-i", "-H", "Host: gist.localhost", `https://localhost:${origin.port}/h2-mis`]);
    expect(r.stdout).toContain("HTTP/2 421");
  });
});

describe("credproxy proxy: HTTP/2 to upstreams", () => {
  let h2: EchoOrigin;
  let strangers: EchoOrigin[];
  let h2proxy: RunningProxy;
  beforeAll(async () => {
    h2 = await startHttpsOrigin({ pki, alpn: ["h2", "http/1.1"], name: "h2-origin" });
    // Origins whose CA the proxy was not given: their certificates must not be accepted.
    const strangerPki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
    strangers = [await startHttpsOrigin({ pki: strangerPki, name: "stranger-h1" }), await startHttpsOrigin({ pki: strangerPki, alpn: ["h2", "http/1.1"], name: "stranger-h2" })];
    h2proxy = await startProxy(`
tls: {upstream_ca_bundle: ${pki.caFile}}
allow: ["localhost:${h2.port}", "localhost:${origin.port}", "localhost:${strangers[0]!.port}", "localhost:${strangers[1]!.port}"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - name: h2-api
    host: ["localhost:${h2.port}", "localhost:${origin.port}", "localhost:${strangers[0]!.port}", "localhost:${strangers[1]!.port}"]
    value: "Bearer ${SECRET}"
`);
  });

  test("an origin that offers h2 gets HTTP/2 from the proxy, with the credential, for h2 and HTTP/1.1 clients alike", async () => {
    for (const flag of ["--http2", "--http1.1"]) {
      const r = await curl(["--proxy", h2proxy.proxyUrl(), "--cacert", h2proxy.bundle, flag, "-H", "Authorization: mine", `https://localhost:${h2.port}/v2${flag}`]);
      const echo = JSON.parse(r.stdout);
      expect([echo.httpVersion, echo.alpn, echo.headers.authorization, echo.authority]).toEqual(["2.0", "h2", `Bearer ${SECRET}`, `localhost:${h2.port}`]);
    }
  });

  test("an HTTP/1.1-only origin is still reached over HTTP/1.1 by an h2 client", async () => {
    const r = await curl(["--proxy", h2proxy.proxyUrl(), "--cacert", h2proxy.bundle, "--http2", `https://localhost:${origin.port}/h1-only`]);
    const echo = JSON.parse(r.stdout);
    expect([echo.httpVersion, echo.headers.authorization]).toEqual(["1.1", `Bearer ${SECRET}`]);
  });

  test("an upstream whose certificate the proxy does not trust gets no request: 502 upstream-certificate, over h1 and h2", async () => {
    for (const stranger of strangers) {
      const r = await curl(["--proxy", h2proxy.proxyUrl(), "--cacert", h2proxy.bundle, "-i", `https://localhost:${stranger.port}/untrusted`]);
      expect(r.stdout).toMatch(/^HTTP\/\S+ 502/m);
      expect(r.stdout.toLowerCase()).toContain("x-credproxy-deny-reason: upstream-certificate");
      expect(stranger.requests).toHaveLength(0);
    }
  });

  test("an upstream status and body come back unchanged over h2", async () => {
    const r = await curl(["--proxy", h2proxy.proxyUrl(), "--cacert", h2proxy.bundle, "--http2", "-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", `https://localhost:${h2.port}/status/418`]);
    expect(r.stdout).toBe("418 2");
  });
});

describe("credproxy proxy: forwarding", () => {
  test("every method reaches the origin with its body, and the injected credential", async () => {
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
      const r = await viaProxy(["-X", method, "--data-binary", `body-of-${method}`, `https://localhost:${origin.port}/m?x=1`]);
      const echo = JSON.parse(r.stdout);
      expect([echo.method, echo.path, echo.body, echo.headers.authorization]).toEqual([method, "/m?x=1", `body-of-${method}`, `Bearer ${SECRET}`]);
    }
    const head = await viaProxy(["-I", `https://localhost:${origin.port}/head`]);
    expect(head.stdout).toMatch(/^HTTP\/\S+ 200/);
  });

  test("large bodies pass in full both ways", async () => {
    const dir = await tempDir();
    const file = `${dir}/big.bin`;
    await Bun.write(file, "x".repeat(3 * 1024 * 1024));
    const r = await curl(["--proxy", env.HTTPS_PROXY!, "--cacert", env.CURL_CA_BUNDLE!, "--data-binary", `@${file}`, "-w", "\n%{size_download}", `https://localhost:${origin.port}/big`], 20_000);
    const [body, size] = [r.stdout.slice(0, r.stdout.lastIndexOf("\n")), r.stdout.slice(r.stdout.lastIndexOf("\n") + 1)];
    expect(JSON.parse(body).body.length).toBe(3 * 1024 * 1024);
    expect(Number(size)).toBeGreaterThan(3 * 1024 * 1024);
  });

  test("X-Request-Id is kept when sent, made when not, and goes upstream, back to the client and into the log", async () => {
    const kept = await viaProxy(["-i", "--http1.1", "-H", "X-Request-Id: trace-abc-123", `https://localhost:${origin.port}/rid`]);
    expect(kept.stdout.toLowerCase()).toContain("x-request-id: trace-abc-123");
    expect(JSON.parse(kept.stdout.slice(kept.stdout.indexOf("{"))).headers["x-request-id"]).toBe("trace-abc-123");
    await proxy.proc.waitForLog((r) => r.msg === "request" && r.request_id === "trace-abc-123");
    const made = await viaProxy([`https://localhost:${origin.port}/rid2`]);
    expect(JSON.parse(made.stdout).headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });
});
