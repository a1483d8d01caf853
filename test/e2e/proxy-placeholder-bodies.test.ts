/**
 * Placeholders in request bodies and real values in responses, through the compiled
 * `credproxy proxy`, each proven at a local origin that keeps the bytes it received: a node
 * client holding only the placeholder sends JSON, form, text, chunked and compressed bodies
 * (over the proxy's own HTTP/1.1 path, node:http's, an HTTP/2 upstream and plain http://),
 * to the credential's host and to others.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { curl, streamingCurl } from "../helpers/curl.ts";
import { startHttpsOrigin, type EchoOrigin } from "../helpers/https-origin.ts";
import { withTimeout } from "../helpers/wait.ts";
import { makeTestPki } from "../helpers/test-ca.ts";
import { clientEnv, jsonOf, NODE, runClient } from "./proxy-client-run.ts";
import { startProxy } from "./proxy-fixture.ts";
import { lengthMatches, startPlaceholderOrigin, type PlaceholderOrigin } from "./placeholder-origin.ts";

const REAL = 'sk-real"value/with+plus=&';
const PLACEHOLDER = "cpx_bodies~api_0123456789";
const H2_REAL = "sk-h2-real-value-42";
const H2_PLACEHOLDER = "cpx_bodies_h2_0123456789";
const PLAIN_REAL = "sk-plain-real-value-7";
const PLAIN_PLACEHOLDER = "cpx_bodies_plain_0123456";
const TLS_ONLY_PLACEHOLDER = "cpx_bodies_tls_only_01234";
const NOTES_PLACEHOLDER = "cpx_bodies_notes_0123456";
const CLIENT = join(import.meta.dir, "clients", "placeholder-body-client.mjs");

let api: PlaceholderOrigin;
let other: PlaceholderOrigin;
let h2: PlaceholderOrigin;
let plain: PlaceholderOrigin;
let events: EchoOrigin;
let notes: PlaceholderOrigin;
let env: Record<string, string>;

beforeAll(async () => {
  const pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  [api, other, h2, plain] = await Promise.all([startPlaceholderOrigin("h1", pki), startPlaceholderOrigin("h1", pki), startPlaceholderOrigin("h2", pki), startPlaceholderOrigin("plain", pki)]);
  events = await startHttpsOrigin({ pki, name: "events" });
  notes = await startPlaceholderOrigin("h1", pki);
  const proxy = await startProxy(`
tls: {upstream_ca_bundle: ${pki.caFile}}
allow: ["localhost:${api.port}", "localhost:${other.port}", "localhost:${h2.port}", "127.0.0.1:${plain.port}", "localhost:${events.port}", "localhost:${notes.port}"]
allow_addresses: ["127.0.0.1/32"]
# Tunnels to hosts with no credential are read too, so bodies to them are checked.
intercept: all
credentials:
  - name: api
    host: localhost:${api.port}
    value: '${REAL}'
    placeholder: ${PLACEHOLDER}
    placeholder_in_body: true
  - name: h2api
    host: localhost:${h2.port}
    value: ${H2_REAL}
    placeholder: ${H2_PLACEHOLDER}
    placeholder_in_body: true
  - name: plain
    host: 127.0.0.1:${plain.port}
    value: ${PLAIN_REAL}
    allow_plaintext: true
    placeholder: ${PLAIN_PLACEHOLDER}
    placeholder_in_body: true
  - name: events
    host: localhost:${events.port}
    value: sk-events-real-value-3
    placeholder: cpx_bodies_events_012345
  - name: tls-only
    host: 127.0.0.1:${plain.port}
    header: x-tls-only
    value: sk-tls-only-real-value
    placeholder: ${TLS_ONLY_PLACEHOLDER}
  # An API that stores what it is sent: its placeholder stays out of bodies (no placeholder_in_body).
  - name: notes
    host: localhost:${notes.port}
    value: sk-notes-real-value-4
    placeholder: ${NOTES_PLACEHOLDER}
`);
  env = clientEnv(await proxy.sandboxEnv());
});
afterAll(cleanupAll);

interface Sent {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  parts: { text?: string; base64?: string; repeat?: number; times?: number }[];
  chunked?: boolean;
}

async function send(spec: Sent): Promise<{ status?: number; headers?: Record<string, string>; body?: string; error?: string }> {
  const r = await runClient([NODE, CLIENT, JSON.stringify(spec)], env, 30_000);
  if (process.env.DEBUG_PH) console.error(r);
  return jsonOf(r);
}

const at = (origin: PlaceholderOrigin, path: string) => `https://localhost:${origin.port}${path}`;
/** A text, one byte per part. */
const bytewise = (text: string) => [...Buffer.from(text)].map((b) => ({ base64: Buffer.from([b]).toString("base64") }));

describe("placeholders in request bodies", () => {
  test("a placeholder split across one-byte chunks of a chunked upload reaches the origin as the real value, streamed chunked", async () => {
    const r = await send({ url: at(api, "/chunked"), headers: { "content-type": "text/plain" }, chunked: true, parts: bytewise(`key=${PLACEHOLDER};again=${PLACEHOLDER}.`) });
    expect(r.status).toBe(200);
    const seen = await api.settled("/chunked");
    expect(seen.body.toString()).toBe(`key=${REAL};again=${REAL}.`);
    expect(seen.headers["transfer-encoding"]).toBe("chunked");
  }, 30_000);

  test("a DELETE with a chunked body (which node:http would not chunk by itself) and a chunked upload to an HTTP/2 upstream: both arrive whole", async () => {
    const r = await send({ url: at(api, "/delete"), method: "DELETE", headers: { "content-type": "text/plain" }, chunked: true, parts: bytewise(`drop ${PLACEHOLDER}`) });
    expect(r.status).toBe(200);
    const deleted = await api.settled("/delete");
    expect(deleted.complete && deleted.body.toString()).toBe(`drop ${REAL}`);
    const h2r = await send({ url: at(h2, "/h2-chunked"), headers: { "content-type": "text/plain" }, chunked: true, parts: bytewise(`up ${H2_PLACEHOLDER}`) });
    expect(h2r.status).toBe(200);
    const uploaded = await h2.settled("/h2-chunked");
    expect(uploaded.complete && uploaded.body.toString()).toBe(`up ${H2_REAL}`);
    expect(uploaded.headers["transfer-encoding"]).toBeUndefined();
  }, 30_000);

  test("a JSON body with a Content-Length: the real value goes in JSON-escaped and the origin gets the new, exact length", async () => {
    const body = JSON.stringify({ api_key: PLACEHOLDER, note: "keep" });
    const r = await send({ url: at(api, "/json"), headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) }, parts: [{ text: body }] });
    expect(r.status).toBe(200);
    const seen = await api.settled("/json");
    expect(JSON.parse(seen.body.toString())).toEqual({ api_key: REAL, note: "keep" });
    expect(seen.headers["content-length"]).toBe(String(seen.body.length));
  }, 30_000);

  test("a form body with the placeholder percent-encoded (its ~ as %7E): the origin reads the real value", async () => {
    const body = new URLSearchParams({ a: "1", key: PLACEHOLDER, b: "2" }).toString();
    expect(body).toContain("%7E");
    const r = await send({ url: at(api, "/form"), headers: { "content-type": "application/x-www-form-urlencoded", "content-length": String(body.length) }, parts: [{ text: body }] });
    expect(r.status).toBe(200);
    const seen = await api.settled("/form");
    expect(Object.fromEntries(new URLSearchParams(seen.body.toString()))).toEqual({ a: "1", key: REAL, b: "2" });
    expect(lengthMatches(seen)).toBe(true);
  }, 30_000);

  test("a text body over HTTP/2 to the upstream: replaced, with the new Content-Length", async () => {
    const body = `token: ${H2_PLACEHOLDER}\n`;
    const r = await send({ url: at(h2, "/text"), headers: { "content-type": "text/plain; charset=utf-8", "content-length": String(body.length) }, parts: [{ text: body }] });
    expect(r.status).toBe(200);
    const seen = await h2.settled("/text");
    expect(seen.httpVersion).toBe("2.0");
    expect(seen.body.toString()).toBe(`token: ${H2_REAL}\n`);
    expect(lengthMatches(seen)).toBe(true);
  }, 30_000);

  test("curl over HTTP/2 to the proxy, HTTP/2 to the upstream: the JSON body replaced, its length exact", async () => {
    const body = JSON.stringify({ key: H2_PLACEHOLDER });
    const r = await curl(["--http2", "--proxy", env.HTTPS_PROXY!, "--cacert", env.CURL_CA_BUNDLE!, "-H", "content-type: application/json", "--data-binary", body, "-w", "%{http_version}", at(h2, "/curl-h2")], 10_000);
    expect(r.stdout).toBe("ok2");
    const seen = await h2.settled("/curl-h2");
    expect(JSON.parse(seen.body.toString())).toEqual({ key: H2_REAL });
    expect(lengthMatches(seen)).toBe(true);
  }, 30_000);

  test("plain http:// with allow_plaintext: the body is replaced too", async () => {
    const body = JSON.stringify({ key: PLAIN_PLACEHOLDER });
    const r = await send({ url: `http://127.0.0.1:${plain.port}/plain`, headers: { "content-type": "application/json", "content-length": String(body.length) }, parts: [{ text: body }] });
    expect(r.status).toBe(200);
    const seen = await plain.settled("/plain");
    expect(JSON.parse(seen.body.toString())).toEqual({ key: PLAIN_REAL });
    expect(lengthMatches(seen)).toBe(true);
  }, 30_000);

  test("without placeholder_in_body, a JSON body to the credential's own host keeps the placeholder, while its header gets the value", async () => {
    const body = JSON.stringify({ comment: `my key is ${NOTES_PLACEHOLDER}` });
    const r = await send({ url: at(notes, "/store"), headers: { authorization: `Bearer ${NOTES_PLACEHOLDER}`, "content-type": "application/json", "content-length": String(body.length) }, parts: [{ text: body }] });
    expect(r.status).toBe(200);
    const seen = await notes.settled("/store");
    expect(seen.body.toString()).toBe(body);
    expect(seen.headers["authorization"]).toBe("Bearer sk-notes-real-value-4");
  }, 30_000);

  test("a gzip body passes unchanged: the origin gets the very bytes sent, the placeholder inside", async () => {
    const gzipped = gzipSync(JSON.stringify({ key: PLACEHOLDER }));
    const r = await send({ url: at(api, "/gzip"), headers: { "content-type": "application/json", "content-encoding": "gzip", "content-length": String(gzipped.length) }, parts: [{ base64: gzipped.toString("base64") }] });
    expect(r.status).toBe(200);
    const seen = await api.settled("/gzip");
    expect(seen.body.equals(gzipped)).toBe(true);
    expect(JSON.parse(gunzipSync(seen.body).toString())).toEqual({ key: PLACEHOLDER });
  }, 30_000);

  test("a body over 1 MiB streams: placeholders across its chunks replaced, sent chunked without the old length", async () => {
    const filler = "x".repeat(65_536);
    const parts = [{ text: "x", repeat: 65_536, times: 24 }, { text: `a ${PLACEHOLDER.slice(0, 10)}` }, { text: `${PLACEHOLDER.slice(10)} b` }, { text: "x", repeat: 65_536, times: 2 }];
    const length = parts.reduce((n, p) => n + Buffer.byteLength(p.text) * (p.repeat ?? 1) * (p.times ?? 1), 0);
    const r = await send({ url: at(api, "/large"), headers: { "content-type": "text/plain", "content-length": String(length) }, parts });
    expect(r.status).toBe(200);
    const seen = await api.settled("/large");
    expect(seen.complete).toBe(true);
    expect(seen.headers["content-length"]).toBeUndefined();
    expect(seen.headers["transfer-encoding"]).toBe("chunked");
    expect(seen.body.toString()).toBe(filler.repeat(24) + `a ${REAL} b` + filler.repeat(2));
  }, 30_000);
});

describe("placeholders in bodies to other hosts", () => {
  test("a body with one credential's placeholder, sent to another credential's host, is refused and that origin sees nothing", async () => {
    const before = h2.requests.length;
    const body = JSON.stringify({ key: PLACEHOLDER });
    const r = await send({ url: at(h2, "/wrong-host"), headers: { "content-type": "application/json", "content-length": String(body.length) }, parts: [{ text: body }] });
    expect(r.status).toBe(403);
    expect(r.headers?.["x-credproxy-deny-reason"]).toBe("placeholder-wrong-host");
    expect(h2.requests.length).toBe(before);
  }, 30_000);

  test("in a binary body too (it is checked, though never rewritten)", async () => {
    const body = `\u0000bin ${PLACEHOLDER} bin`;
    const r = await send({ url: at(other, "/wrong-binary"), headers: { "content-type": "application/octet-stream", "content-length": String(Buffer.byteLength(body)) }, parts: [{ text: body }] });
    expect(r.status).toBe(403);
    expect(other.requests.some((q) => q.path === "/wrong-binary")).toBe(false);
  }, 30_000);

  test("in a chunked upload, split one byte per chunk: the upstream request is reset and never gets even a prefix of it", async () => {
    const r = await send({ url: at(other, "/wrong-chunked"), headers: { "content-type": "text/plain" }, chunked: true, parts: bytewise(`before ${PLACEHOLDER} after`) });
    expect(r.status).toBe(403);
    expect(r.body).toContain("the upstream request was reset before the placeholder");
    // It may have been reset before its head even left: whatever reached the origin is an unfinished "before ".
    for (const seen of other.requests.filter((q) => q.path === "/wrong-chunked")) {
      expect(seen.complete).toBe(false);
      expect("before ".startsWith(seen.body.toString())).toBe(true);
    }
  }, 30_000);

  test("found past the first MiB, the upstream request is reset before the bytes holding the placeholder leave", async () => {
    const parts = [{ text: "y", repeat: 65_536, times: 20 }, { text: `then ${PLACEHOLDER} and more` }, { text: "y", repeat: 65_536, times: 4 }];
    const r = await send({ url: at(other, "/wrong-large"), headers: { "content-type": "text/plain" }, chunked: true, parts });
    expect(r.status === 403 || r.error !== undefined).toBe(true);
    const seen = await other.settled("/wrong-large");
    expect(seen.complete).toBe(false);
    expect(seen.body.toString()).not.toContain(PLACEHOLDER.slice(0, 8));
    expect(seen.body.length).toBeGreaterThan(1024 * 1024);
  }, 30_000);

  test("over plain http://, the placeholder of a credential kept inside TLS is refused, even at its own host", async () => {
    const body = JSON.stringify({ key: TLS_ONLY_PLACEHOLDER });
    const r = await send({ url: `http://127.0.0.1:${plain.port}/tls-only`, headers: { "content-type": "application/json", "content-length": String(body.length) }, parts: [{ text: body }] });
    expect(r.status).toBe(403);
    expect(r.headers?.["x-credproxy-deny-reason"]).toBe("placeholder-plaintext");
    expect(plain.requests.some((q) => q.path === "/tls-only")).toBe(false);
  }, 30_000);

  test("the credential's own placeholder to its own host is not refused", async () => {
    const r = await send({ url: at(api, "/own"), headers: { "content-type": "text/plain" }, parts: [{ text: PLACEHOLDER }], chunked: true });
    expect(r.status).toBe(200);
  }, 30_000);
});

describe("real values in responses", () => {
  test("a response echoing the real value in a header and a JSON body reaches the client as the placeholder, with its Content-Length right", async () => {
    const r = await send({ url: at(api, "/reflect"), method: "GET", headers: { "x-reflect": REAL }, parts: [] });
    expect(r.status).toBe(200);
    expect(r.headers?.["x-echo"]).toBe(PLACEHOLDER);
    expect(JSON.parse(r.body!)).toEqual({ echo: PLACEHOLDER });
    expect(r.headers?.["content-length"]).toBe(String(Buffer.byteLength(r.body!)));
    expect(JSON.stringify(r)).not.toContain("sk-real");
  }, 30_000);

  test("a streamed text response (no Content-Length) is scrubbed as it streams", async () => {
    const r = await send({ url: at(api, "/reflect-stream"), method: "GET", headers: { "x-reflect": REAL }, parts: [] });
    expect(r.status).toBe(200);
    expect(r.body).toBe(`echo=${PLACEHOLDER}`);
  }, 30_000);

  test("scrubbed for an HTTP/2 client as well (curl --http2)", async () => {
    const r = await curl(["--http2", "--proxy", env.HTTPS_PROXY!, "--cacert", env.CURL_CA_BUNDLE!, "-H", `x-reflect: ${H2_REAL}`, "-i", at(h2, "/reflect")], 10_000);
    expect(r.stdout).toContain(`x-echo: ${H2_PLACEHOLDER}`);
    expect(r.stdout).toContain(`{"echo":"${H2_PLACEHOLDER}"}`);
    expect(r.stdout).not.toContain(H2_REAL);
  }, 30_000);

  test("Server-Sent Events from such a host are scrubbed as they stream, each reaching the client before the origin writes the next", async () => {
    const base = events.sseSent;
    const sse = streamingCurl(["--http1.1", "--proxy", env.HTTPS_PROXY!, "--cacert", env.CURL_CA_BUNDLE!, `https://localhost:${events.port}/sse?n=3`]);
    for (let k = 1; k <= 3; k++) {
      await sse.until(`id: ${k}\n`);
      expect(events.sseSent - base).toBe(k);
      if (k < 3) events.releaseNext();
    }
    expect(await withTimeout(sse.exited, 5000, "curl to finish the SSE stream")).toBe(0);
  }, 30_000);

  test("requests to such a host ask for an uncompressed response, so it can be scrubbed", async () => {
    const r = await send({ url: at(api, "/reflect?gzip"), method: "GET", headers: { "x-reflect": REAL, "accept-encoding": "gzip, br" }, parts: [] });
    expect(r.status).toBe(200);
    expect((await api.settled("/reflect?gzip")).headers["accept-encoding"]).toBe("identity");
  }, 30_000);

  test("a host with no placeholder credential gets its responses as they are, and the client's Accept-Encoding", async () => {
    const r = await send({ url: at(other, "/reflect"), method: "GET", headers: { "x-reflect": REAL, "accept-encoding": "gzip" }, parts: [] });
    expect(r.headers?.["x-echo"]).toBe(REAL);
    expect((await other.settled("/reflect")).headers["accept-encoding"]).toBe("gzip");
  }, 30_000);
});
