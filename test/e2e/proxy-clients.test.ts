/**
 * Real HTTP clients through the compiled `credproxy proxy`: each gets only the sandbox
 * environment `proxy env` prints (proxy URL and the trust bundle), sends its own
 * Authorization, and the loopback echo origin must see the injected credential instead.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { curl } from "../helpers/curl.ts";
import { startHttpsOrigin, type EchoOrigin } from "../helpers/https-origin.ts";
import { makeTestPki } from "../helpers/test-ca.ts";
import { BUN, NODE, clientEnv, jsonOf, runClient } from "./proxy-client-run.ts";
import { startProxy, type RunningProxy } from "./proxy-fixture.ts";

const SECRET = "ghp_clients-secret-4Tq8Zr2Wm6Yp1Kd";
const INJECTED = `Bearer ${SECRET}`;

let origin: EchoOrigin;
let proxy: RunningProxy;
let env: Record<string, string>;

beforeAll(async () => {
  const pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  origin = await startHttpsOrigin({ pki, name: "clients" });
  proxy = await startProxy(
    `
tls: {upstream_ca_bundle: ${pki.caFile}}
allow: ["localhost:${origin.port}"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - name: echo-token
    host: localhost:${origin.port}
    value: "${INJECTED}"
`,
  );
  env = clientEnv(await proxy.sandboxEnv());
});
afterAll(cleanupAll);

const url = (path: string) => `https://localhost:${origin.port}${path}`;

const PYTHON = `
import json, sys, requests
r = requests.get(sys.argv[1], headers={"Authorization": "Bearer sandbox-chosen"}, timeout=10)
print(json.dumps({"status": r.status_code, "body": r.text}))
`;

const BUN_FETCH = `
const r = await fetch(process.argv.at(-1), { headers: { authorization: "Bearer sandbox-chosen" } });
console.log(JSON.stringify({ status: r.status, body: await r.text() }));
`;

/** The echo the origin answered a client with, checked for the credential swap. */
function expectInjected(answer: { status: number; body: string }, path: string): void {
  expect(answer.status).toBe(200);
  const echo = JSON.parse(answer.body);
  expect(echo.path).toBe(path);
  expect(echo.headers.authorization).toBe(INJECTED);
  expect(JSON.stringify(echo)).not.toContain("sandbox-chosen");
}

describe("real clients through credproxy proxy", () => {
  test("the clients trust only the bundle proxy env printed, which holds the proxy CA, not the origin's", async () => {
    expect(env.REQUESTS_CA_BUNDLE).toBe(proxy.bundle);
    expect(env.NODE_EXTRA_CA_CERTS).toBe(proxy.bundle);
    const direct = await curl(["--noproxy", "*", "--cacert", proxy.bundle, url("/direct")]);
    expect(direct.code).toBe(60); // the origin's own certificate is not trusted: only the proxy's leaves are
  });

  test("Python requests with HTTPS_PROXY and REQUESTS_CA_BUNDLE gets the credential injected", async () => {
    const r = await runClient(["python3", "-c", PYTHON, url("/python")], env);
    expectInjected(jsonOf(r), "/python");
    expect(JSON.parse(jsonOf(r).body).headers["user-agent"]).toStartWith("python-requests/");
  });

  test("Node 20 https.request over a hand-made CONNECT, trusting NODE_EXTRA_CA_CERTS, gets the credential injected", async () => {
    const r = await runClient([NODE, join(import.meta.dir, "clients", "node-https-via-connect.mjs"), url("/node")], env);
    expectInjected(jsonOf(r), "/node");
  });

  test("Bun fetch with HTTPS_PROXY and NODE_EXTRA_CA_CERTS from the environment gets the credential injected", async () => {
    const r = await runClient([BUN, "-e", BUN_FETCH, url("/bun")], env);
    expectInjected(jsonOf(r), "/bun");
    expect(JSON.parse(jsonOf(r).body).headers["user-agent"]).toStartWith("Bun/");
  });

  test("curl --http2 through the proxy speaks HTTP/2 inside the tunnel, and an HTTP/1.1-only origin gets HTTP/1.1 with the credential", async () => {
    const r = await curl(["-v", "--http2", "--proxy", env.HTTPS_PROXY!, "--cacert", env.CURL_CA_BUNDLE!, "-H", "Authorization: Bearer sandbox-chosen", url("/h2")]);
    expectInjected({ status: 200, body: r.stdout }, "/h2");
    expect(r.stderr).toContain("ALPN: server accepted h2");
    expect(r.stderr).toContain("< HTTP/2 200");
    expect(JSON.parse(r.stdout).httpVersion).toBe("1.1"); // this origin offers only HTTP/1.1 by ALPN
  });
});
