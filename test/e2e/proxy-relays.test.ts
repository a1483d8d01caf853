/**
 * Relays of the compiled `credproxy proxy`: /relay/NAME/PATH?QUERY forwarded to a run's
 * configured URL (a local TLS echo origin) with the run's credential injected, as a client
 * that reaches the proxy directly (no HTTP_PROXY) sees it. Per run: each run file has its
 * own relays, chosen by the run token in X-Credproxy-Token or in the path.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCredproxy } from "../helpers/binary.ts";
import { createServer } from "node:net";
import { cleanupAll, onCleanup, tempDir } from "../helpers/cleanup.ts";
import { listenTracked, type Listening } from "../helpers/listen-tracked.ts";
import { startHttpsOrigin, type EchoOrigin, type RecordedRequest } from "../helpers/https-origin.ts";
import { freePort } from "../helpers/ports.ts";
import { makeTestPki } from "../helpers/test-ca.ts";
import { waitFor, withTimeout } from "../helpers/wait.ts";
import { rawExchange, startProxy, type RunningProxy } from "./proxy-fixture.ts";

const ALPHA = "relay-alpha-token-4Kw8Rm2Ty6Vb9Nc3";
const BETA = "relay-beta-token-7Lt3Pz8Hq5Xr2Wk6B";
const SECRET = "relay-secret-2Nc9Vb4Kw7Rm3Ty8Lt";
const SWAPPED = "swapped-secret-8Hq3Lt5Pz2Nc7Vb4";
const PLACEHOLDER = "cpx_relay_placeholder_4Kw8Rm2Ty6";
const FOREIGN = "cpx_foreign_placeholder_9Xr2Wk6B";

let origin: EchoOrigin;
let proxy: RunningProxy;

beforeAll(async () => {
  const pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  origin = await startHttpsOrigin({ pki, name: "relayed" });
  const closed = await freePort();
  // Accepts connections and never answers: the TLS handshake to it cannot finish.
  const silent = createServer(() => undefined);
  const { port: silentPort, stop } = await listenTracked(silent as unknown as Listening); // a net.Server tracks connections the same way
  onCleanup("silent server", stop);
  proxy = await startProxy(`runs_dir: ./runs\ntls: {upstream_ca_bundle: ${pki.caFile}}\nlimits: {connect_timeout_seconds: 1}\n`, {
    dirs: ["runs"],
    files: {
      "runs/alpha.yaml": `token: ${ALPHA}
credentials:
  - {name: llm, host: "localhost:${origin.port}", value: "Bearer ${SECRET}"}
  - {name: nowhere, host: ["127.0.0.1:${closed}", "127.0.0.1:${silentPort}"], value: "Bearer unused"}
  - {name: swapped, host: "127.0.0.1:${origin.port}", value: "${SWAPPED}", placeholder: "${PLACEHOLDER}"}
  - {name: elsewhere, host: api.example.invalid, value: "not-for-relays", placeholder: "${FOREIGN}"}
relays:
  - {name: llm, url: "https://localhost:${origin.port}/base/", credential: llm}
  - {name: root, url: "https://localhost:${origin.port}", credential: llm}
  - {name: down, url: "https://127.0.0.1:${closed}", credential: nowhere}
  - {name: silent, url: "https://127.0.0.1:${silentPort}", credential: nowhere}
  - {name: swap, url: "https://127.0.0.1:${origin.port}", credential: swapped}
`,
      "runs/beta.yaml": `token: ${BETA}\n`,
    },
  });
});
afterAll(cleanupAll);

const at = (path: string) => `http://127.0.0.1:${proxy.port}${path}`;
/** `credproxy validate --proxy` of a proxy.yaml holding `yaml`. */
async function validate(yaml: string) {
  const path = join(await tempDir(), "proxy.yaml");
  await writeFile(path, yaml);
  return runCredproxy(["validate", "--proxy", path]);
}

const echoed = async (res: Response) => (await res.json()) as RecordedRequest;

describe("relays", () => {
  test("a POST to /relay/NAME/PATH?QUERY reaches URL/PATH?QUERY with the credential in place of the client's Authorization, and without the token or hop-by-hop headers", async () => {
    const res = await fetch(at("/relay/llm/v1/messages?stream=false&x=%2F"), {
      method: "POST",
      headers: { "x-credproxy-token": ALPHA, authorization: "Bearer sandbox-placeholder", "content-type": "application/json", connection: "keep-alive, x-hop", "x-hop": "1" },
      body: JSON.stringify({ prompt: "hi" }),
    });
    expect(res.status).toBe(200);
    const seen = await echoed(res);
    expect(seen.method).toBe("POST");
    expect(seen.path).toBe("/base/v1/messages?stream=false&x=%2F");
    expect(seen.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(seen.authority).toBe(`localhost:${origin.port}`);
    expect(seen.body).toBe('{"prompt":"hi"}');
    for (const name of ["x-credproxy-token", "x-hop", "proxy-authorization"]) expect(seen.headers[name]).toBeUndefined();
  });

  test("the token may come in the path instead, /relay/TOKEN/NAME/…", async () => {
    const seen = await echoed(await fetch(at(`/relay/${ALPHA}/llm/models`)));
    expect(seen.path).toBe("/base/models");
    expect(seen.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  test("placeholders work as at any host: the relay credential's placeholder is swapped for its value (no header set besides), another credential's is refused", async () => {
    const seen = await echoed(await fetch(at("/relay/swap/v1?key=" + PLACEHOLDER), { headers: { "x-credproxy-token": ALPHA, authorization: `Bearer ${PLACEHOLDER}` } }));
    expect(seen.headers.authorization).toBe(`Bearer ${SWAPPED}`);
    expect(seen.path).toBe(`/v1?key=${SWAPPED}`);
    const before = origin.requests.length;
    const foreign = await fetch(at("/relay/llm/v1"), { headers: { "x-credproxy-token": ALPHA, "x-api-key": FOREIGN } });
    expect([foreign.status, foreign.headers.get("x-credproxy-deny-reason")]).toEqual([403, "placeholder-wrong-host"]);
    expect(origin.requests.length).toBe(before);
  });

  test("a streamed response arrives event by event: event 1 is read before the origin writes event 2", async () => {
    const res = await fetch(at("/relay/root/sse?n=2"), { headers: { "x-credproxy-token": ALPHA } });
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes("\n\n")) text += new TextDecoder().decode((await withTimeout(reader.read(), 10_000, "the first event")).value);
    expect(origin.sseSent).toBe(1);
    origin.releaseNext();
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value);
    expect(text.match(/^data: /gm)?.length).toBe(2);
  });

  test("an unknown name is a 404 saying how many relays the run has; another run does not see this run's relays", async () => {
    const unknown = await fetch(at("/relay/nope/x"), { headers: { "x-credproxy-token": ALPHA } });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("x-credproxy-deny-reason")).toBe("unknown-relay");
    expect(await unknown.text()).toContain('no relay named "nope" for this run (it has 5: llm, root, down, silent, swap)');
    const other = await fetch(at("/relay/llm/x"), { headers: { "x-credproxy-token": BETA } });
    expect(other.status).toBe(404);
    expect(await other.text()).toContain("(it has none)");
    const before = origin.requests.length;
    const wrong = await fetch(at("/relay/llm/x"), { headers: { "x-credproxy-token": "relay-wrong-token-9Xr2Wk6BLt3Pz8Hq5" } });
    expect([wrong.status, wrong.headers.get("x-credproxy-deny-reason")]).toEqual([403, "bad-run-token"]);
    expect(origin.requests.length).toBe(before);
  });

  test("a target that refuses connections is a 502 naming the relay", async () => {
    const res = await fetch(at("/relay/down/x"), { headers: { "x-credproxy-token": ALPHA } });
    expect(res.status).toBe(502);
    expect(res.headers.get("x-credproxy-deny-reason")).toBe("relay-unreachable");
    expect(await res.text()).toContain('the target of relay "down"');
  });

  test("a target that accepts the connection but never completes TLS is a 504 once connect_timeout_seconds has passed", async () => {
    const res = await fetch(at("/relay/silent/x"), { headers: { "x-credproxy-token": ALPHA } });
    expect([res.status, res.headers.get("x-credproxy-deny-reason")]).toEqual([504, "relay-timeout"]);
  });

  test("a path with a dot segment (also percent-encoded) is refused before anything is sent: a relay reaches only below its URL's path", async () => {
    const before = origin.requests.length;
    const res = await rawExchange(proxy.port, `GET /relay/llm/%2e%2E/admin HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Credproxy-Token: ${ALPHA}\r\nConnection: close\r\n\r\n`);
    expect(res).toStartWith("HTTP/1.1 400");
    expect(res).toContain("relay-dot-segment");
    expect(origin.requests.length).toBe(before);
  });

  test("a run file written while the proxy runs brings its relays with it", async () => {
    const token = "relay-gamma-token-3Pz8Hq5Xr2Wk6BLt";
    const reloads = proxy.proc.logRecords().filter((r) => r.msg === "reloaded").length;
    await writeFile(join(proxy.dir, "runs", "gamma.yaml"), `token: ${token}\ncredentials:\n  - {name: g, host: "localhost:${origin.port}", value: "Bearer gamma-secret"}\nrelays:\n  - {name: g, url: "https://localhost:${origin.port}/g", credential: g}\n`);
    await waitFor(() => proxy.proc.logRecords().filter((r) => r.msg === "reloaded")[reloads], { timeoutMs: 10_000, what: "the reload after gamma.yaml appeared" });
    const seen = await echoed(await fetch(at("/relay/g/x"), { headers: { "x-credproxy-token": token } }));
    expect([seen.path, seen.headers.authorization]).toEqual(["/g/x", "Bearer gamma-secret"]);
  });

  test("validate --proxy rejects bad relay names and URLs, and credentials not bound to the URL, each with its key path", async () => {
    const named = await validate(`relays:\n  - {name: Bad_Name, url: "https://api.example.invalid", credential: api}\n`);
    expect(named.code).toBe(1);
    expect(named.stderr).toContain('proxy.yaml:2:12: relays[0].name: must be lower-case letters, digits and - (at most 63); current value is "Bad_Name"');
    const r = await validate(
      `credentials:
  - {name: api, host: api.example.invalid, value: "Bearer x"}
relays:
  - {name: scheme, url: "ftp://api.example.invalid", credential: api}
  - {name: userinfo, url: "https://u:p@api.example.invalid", credential: api}
  - {name: query, url: "https://api.example.invalid/x?key=1", credential: api}
  - {name: unbound, url: "https://other.example.invalid", credential: api}
mcp:
  - {name: tools, url: "https://api.example.invalid/mcp", credential: apii}
`,
    );
    expect(r.code).toBe(1);
    for (const problem of [
      "relays[0].url: has scheme ftp",
      "relays[1].url: holds userinfo",
      "relays[2].url: has a query or fragment",
      "relays[3].credential: credential \"api\" is not bound to other.example.invalid:443",
      'mcp[0].credential: names no credential with value: or command: in this file; did you mean "api"?',
    ]) expect(r.stderr).toContain(problem);
  });

  test("validate --proxy lists the relays and MCP servers of a good config", async () => {
    const r = await validate(`credentials:\n  - {name: api, host: api.example.invalid, value: "Bearer x"}\nrelays:\n  - {name: api, url: "https://api.example.invalid/v1", credential: api}\nmcp:\n  - {name: tools, url: "https://api.example.invalid/mcp", credential: api}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("relay: api → https://api.example.invalid/v1 (credential api)");
    expect(r.stdout).toContain("mcp: tools → https://api.example.invalid/mcp (credential api)");
  });
});
