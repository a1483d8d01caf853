/**
 * Chaining through a corporate proxy (Debian's tinyproxy with Basic auth): upstream_proxy
 * from proxy.yaml or HTTPS_PROXY from the proxy's environment, NO_PROXY honoured, the
 * corporate proxy's credentials only ever on the hop to it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { curl } from "../helpers/curl.ts";
import { startHttpOrigin, startHttpsOrigin, type EchoOrigin } from "../helpers/https-origin.ts";
import { makeTestPki, type TestPki } from "../helpers/test-ca.ts";
import { startTinyproxy, type Tinyproxy } from "../helpers/tinyproxy.ts";
import { waitFor } from "../helpers/wait.ts";
import { rawConnect, startProxy, type RunningProxy } from "./proxy-fixture.ts";

const SECRET = "chain-secret-9Qm4Xr7Lz2Wk8Vn5B";
const CORP = { user: "corpuser", password: "corp-pass-4Kx9Wq" };

let pki: TestPki;
let origin: EchoOrigin;
let opaque: EchoOrigin;
let plain: EchoOrigin;
let corp: Tinyproxy;

beforeAll(async () => {
  pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  origin = await startHttpsOrigin({ pki, name: "credentialed" });
  opaque = await startHttpsOrigin({ pki, name: "opaque" });
  plain = await startHttpOrigin({ name: "plain" });
  corp = await startTinyproxy(CORP);
});
afterAll(cleanupAll);

function config(extra: string): string {
  return `
tls: {upstream_ca_bundle: ${pki.caFile}}
allow: ["localhost:${origin.port}", "localhost:${opaque.port}", "localhost:${plain.port}", "127.0.0.1:${opaque.port}"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - name: api
    host: localhost:${origin.port}
    value: "Bearer ${SECRET}"
  - name: plain-key
    host: localhost:${plain.port}
    header: X-Api-Key
    value: plain-${SECRET}
    allow_plaintext: true
${extra}`;
}

async function sandboxCurl(proxy: RunningProxy, args: string[]) {
  const env = await proxy.sandboxEnv();
  return curl(["--proxy", env.HTTPS_PROXY!, "--cacert", env.CURL_CA_BUNDLE!, ...args]);
}

describe("credproxy proxy behind a corporate proxy (tinyproxy)", () => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy(config(`upstream_proxy: ${corp.url}\nno_proxy: ["127.0.0.1"]`));
  });

  test("an intercepted request reaches the origin through a CONNECT at the corporate proxy, with the credential", async () => {
    const r = await sandboxCurl(proxy, [`https://localhost:${origin.port}/chained`]);
    const echo = JSON.parse(r.stdout);
    expect(echo.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(echo.headers["proxy-authorization"]).toBeUndefined();
    await corp.waitForLog(`CONNECT localhost:${origin.port}`);
  });

  test("an opaque tunnel is chained too", async () => {
    const r = await curl(["--proxy", proxy.proxyUrl(), "--cacert", pki.caFile, `https://localhost:${opaque.port}/opaque`]);
    expect(JSON.parse(r.stdout).origin).toBe("opaque");
    await corp.waitForLog(`CONNECT localhost:${opaque.port}`);
  });

  test("plain http goes to the corporate proxy in absolute form, its credentials only on that hop", async () => {
    const r = await curl(["--proxy", proxy.proxyUrl(), `http://localhost:${plain.port}/plain`]);
    const echo = JSON.parse(r.stdout);
    expect(echo.headers["x-api-key"]).toBe(`plain-${SECRET}`);
    expect(echo.headers["proxy-authorization"]).toBeUndefined();
    await corp.waitForLog(`GET http://localhost:${plain.port}/plain`);
  });

  test("a host in no_proxy is reached directly", async () => {
    const r = await curl(["--proxy", proxy.proxyUrl(), "--cacert", pki.caFile, `https://127.0.0.1:${opaque.port}/direct`]);
    expect(JSON.parse(r.stdout).path).toBe("/direct");
    expect(corp.log()).not.toContain(`CONNECT 127.0.0.1:${opaque.port}`);
  });

  test("the corporate proxy's password never appears in the proxy's log", () => {
    const all = proxy.proc.stderrLines.join("\n") + proxy.proc.stdoutLines.join("\n");
    expect(all).not.toContain(CORP.password);
    expect(all).not.toContain(SECRET);
  });
});

describe("chaining from the environment", () => {
  test("HTTPS_PROXY in the proxy's environment is used when upstream_proxy is not set", async () => {
    const connects = () => corp.log().split(`CONNECT localhost:${origin.port}`).length - 1;
    const before = connects();
    const proxy = await startProxy(config(""), { env: { HTTPS_PROXY: corp.url } });
    const r = await sandboxCurl(proxy, [`https://localhost:${origin.port}/from-env`]);
    expect(JSON.parse(r.stdout).headers.authorization).toBe(`Bearer ${SECRET}`);
    await waitFor(() => connects() > before, { timeoutMs: 5000, what: "a new CONNECT at tinyproxy" });
  });

  test("a corporate proxy that refuses the proxy's credentials gives the client a 502, not a hang", async () => {
    const wrong = corp.url.replace(CORP.password, "wrong-password-77");
    const proxy = await startProxy(config(`upstream_proxy: ${wrong}`));
    const answer = await rawConnect(proxy.port, `localhost:${opaque.port}`);
    expect(answer).toStartWith("HTTP/1.1 502");
    const r = await sandboxCurl(proxy, ["-i", `https://localhost:${origin.port}/refused`]);
    expect(r.stdout).toMatch(/HTTP\/(1\.1|2) 502/);
  });
});
