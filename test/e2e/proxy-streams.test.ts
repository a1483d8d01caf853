/**
 * Long-lived exchanges through the compiled `credproxy proxy`: a WebSocket (upgrade injected,
 * frames both ways), Server-Sent Events passed on one by one (the origin writes event k+1 only
 * once the test saw event k at the client), and a client that goes away cancelling upstream.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { streamingCurl } from "../helpers/curl.ts";
import { startHttpsOrigin, type EchoOrigin } from "../helpers/https-origin.ts";
import { makeTestPki } from "../helpers/test-ca.ts";
import { withTimeout } from "../helpers/wait.ts";
import { BUN, clientEnv, jsonOf, runClient } from "./proxy-client-run.ts";
import { startProxy } from "./proxy-fixture.ts";

const SECRET = "ghp_streams-secret-8Pz5Nc3Vb7Hq2Lt";

let origin: EchoOrigin;
let env: Record<string, string>;

beforeAll(async () => {
  const pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  origin = await startHttpsOrigin({ pki, name: "streams" });
  const proxy = await startProxy(
    `
tls: {upstream_ca_bundle: ${pki.caFile}}
allow: ["localhost:${origin.port}"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - name: stream-token
    host: localhost:${origin.port}
    value: "Bearer ${SECRET}"
`,
  );
  env = clientEnv(await proxy.sandboxEnv());
});
afterAll(cleanupAll);

const url = (path: string) => `https://localhost:${origin.port}${path}`;

/** curl -N as a sandbox runs it: proxy and CA bundle from `proxy env`. */
const stream = (protocol: string, path: string) => streamingCurl([protocol, "--proxy", env.HTTPS_PROXY!, "--cacert", env.CURL_CA_BUNDLE!, url(path)]);

/** Bun's WebSocket client with its `proxy` option; trust from NODE_EXTRA_CA_CERTS. Sends two texts, prints the echoes. */
const BUN_WEBSOCKET = `
const ws = new WebSocket(process.argv.at(-1).replace("https:", "wss:"), { proxy: process.env.HTTPS_PROXY, headers: { authorization: "Bearer sandbox-chosen" } });
const got = [];
ws.onopen = () => ws.send("first frame");
ws.onmessage = (e) => {
  got.push(String(e.data));
  if (got.length === 1) ws.send("second frame");
  else ws.close(1000);
};
ws.onerror = (e) => { console.error("websocket error", e.message ?? e); process.exit(2); };
ws.onclose = () => console.log(JSON.stringify(got));
`;

describe("streams through credproxy proxy", () => {
  test("a Bun WebSocket through the proxy: the upgrade carries the injected credential and text frames echo", async () => {
    const r = await runClient([BUN, "-e", BUN_WEBSOCKET, url("/ws")], env);
    expect(jsonOf(r)).toEqual(["first frame", "second frame"]);
    const upgrade = origin.requests.find((q) => q.upgrade && q.path === "/ws");
    expect(upgrade?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(JSON.stringify(upgrade)).not.toContain("sandbox-chosen");
    expect(origin.wsMessages).toEqual(["first frame", "second frame"]);
  });

  // curl offers h2 by ALPN and the proxy now takes it; --http1.1 keeps the HTTP/1.1 tunnel covered.
  for (const protocol of ["--http1.1", "--http2"]) {
    test(`Server-Sent Events reach the client one by one, each before the origin writes the next (curl ${protocol})`, async () => {
      const base = origin.sseSent;
      const sse = stream(protocol, `/sse?n=3&p=${protocol}`);
      for (let k = 1; k <= 3; k++) {
        await sse.until(`id: ${k}\n`);
        expect(origin.sseSent - base).toBe(k); // event k arrived while event k+1 did not exist yet
        if (k < 3) origin.releaseNext();
      }
      expect(await withTimeout(sse.exited, 5000, "curl to finish the SSE stream")).toBe(0);
      expect(origin.requests.find((q) => q.path === `/sse?n=3&p=${protocol}`)?.headers.authorization).toBe(`Bearer ${SECRET}`);
    });

    test(`a client killed mid-stream makes the proxy cancel the upstream request (curl ${protocol})`, async () => {
      const aborts = origin.aborts;
      const client = stream(protocol, `/stream-until-abort?p=${protocol}`);
      await client.until("started\n");
      expect(origin.openStreams).toBe(1);
      await client.kill();
      await origin.waitForAborts(aborts + 1);
      expect(origin.openStreams).toBe(0);
      expect(origin.requests.find((q) => q.path === `/stream-until-abort?p=${protocol}`)?.headers.authorization).toBe(`Bearer ${SECRET}`);
    });
  }
});
