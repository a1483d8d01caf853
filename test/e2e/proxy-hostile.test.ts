/**
 * `credproxy proxy` against hostile input: host spellings, address forms, smuggling heads and
 * misdirected requests, each its own test, all against the compiled binary. One HTTPS echo
 * origin on 127.0.0.1 has a credential bound to exactly `localhost:PORT`; a plain HTTP origin
 * has a plaintext credential; a third origin has none. The policy is permissive on purpose, so
 * the address and canonical-host checks are all that stand between a spelling and a dial.
 *
 * Every case asserts its own answer; the last tests assert that no recorded request of any
 * origin except the positive controls (paths under /positive/) carries a secret, and that the
 * proxy's whole stdout and stderr never do. Only loopback is dialled; the other addresses are
 * ones the proxy must refuse before dialling (connect_timeout_seconds: 1, in case it does not).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { startHttpOrigin, startHttpsOrigin, type EchoOrigin, type RecordedRequest } from "../helpers/https-origin.ts";
import { makeTestPki, type TestPki } from "../helpers/test-ca.ts";
import { startProxy, type RunningProxy } from "./proxy-fixture.ts";
import { head, rawRequest, rawSequence, tunnel, type RawResponse, type TunnelRequest } from "./proxy-hostile-client.ts";

const SECRET = "ghp_hostile-secret-4Tq8Zr2Wm6Kx9Pb3N";
const PLAIN_SECRET = "plain-hostile-secret-5Jd7Lc3Vh8Qs1Fy";
const CLIENT_AUTH = "Bearer sandbox-chosen";

let pki: TestPki;
let origin: EchoOrigin;
let other: EchoOrigin;
let plain: EchoOrigin;
let proxy: RunningProxy;

/** Ports the cases are written against: O credentialed HTTPS, T uncredentialed HTTPS, H plain HTTP, X the proxy. */
interface Ports {
  readonly O: number;
  readonly T: number;
  readonly H: number;
  readonly X: number;
}
let ports: Ports;

beforeAll(async () => {
  pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1", "::1"] });
  origin = await startHttpsOrigin({ pki, name: "credentialed" });
  other = await startHttpsOrigin({ pki, name: "other" });
  plain = await startHttpOrigin({ name: "plain" });
  proxy = await startProxy(`
tls: {upstream_ca_bundle: ${pki.caFile}}
policy: permissive
deny: ["denied.invalid"]
allow_addresses: ["127.0.0.1/32"]
limits: {connect_timeout_seconds: 1, max_header_bytes: 16384}
credentials:
  - name: echo-token
    host: localhost:${origin.port}
    value: "Bearer ${SECRET}"
  - name: plain-token
    host: localhost:${plain.port}
    value: "Bearer ${PLAIN_SECRET}"
    allow_plaintext: true
`);
  ports = { O: origin.port, T: other.port, H: plain.port, X: proxy.port };
});
afterAll(cleanupAll);

const containsSecret = (text: string) => text.includes(SECRET) || text.includes(PLAIN_SECRET);

/** What the proxy must do with one input. */
type Outcome =
  /** Positive control: the request reaches the credentialed origin with the credential, the client's own value gone. */
  | { kind: "credential"; secret?: string }
  /** The tunnel opens (opaquely) to `origin`, which gets exactly what the client sent and no credential. */
  | { kind: "no-credential"; origin: "credentialed" | "other" | "plain" }
  /** The proxy answers `status` itself (with this deny reason when given); no origin is reached. */
  | { kind: "refused"; status: number; code?: string };

const credential: Outcome = { kind: "credential" };
/** The proxy closes the connection without an answer (and without opening anything). */
const closed: Outcome = { kind: "refused", status: 0 };
const noCredential = (o: "credentialed" | "other" | "plain" = "credentialed"): Outcome => ({ kind: "no-credential", origin: o });
const refused = (status: number, code?: string): Outcome => ({ kind: "refused", status, ...(code === undefined ? {} : { code }) });

interface ConnectCase {
  readonly name: string;
  readonly authority: (p: Ports) => string;
  readonly outcome: Outcome;
}

/** CONNECT authorities, exactly as sent. */
const CONNECT_CASES: readonly ConnectCase[] = [
  // Positive controls: spellings whose canonical form IS localhost:O get the credential.
  { name: "localhost:O (the bound host)", authority: (p) => `localhost:${p.O}`, outcome: credential },
  { name: "LOCALHOST:O (case folds to the bound host)", authority: (p) => `LOCALHOST:${p.O}`, outcome: credential },
  { name: "localhost.:O (one trailing dot is the same host)", authority: (p) => `localhost.:${p.O}`, outcome: credential },
  { name: "LocalHost.:O", authority: (p) => `LocalHost.:${p.O}`, outcome: credential },
  // Other names for the same address: tunnelled, never given the credential bound to the name.
  { name: "127.0.0.1:O (same address, another name)", authority: (p) => `127.0.0.1:${p.O}`, outcome: noCredential() },
  { name: "127.1:O", authority: (p) => `127.1:${p.O}`, outcome: noCredential() },
  { name: "127.0.1:O", authority: (p) => `127.0.1:${p.O}`, outcome: noCredential() },
  { name: "0x7f.0.0.1:O", authority: (p) => `0x7f.0.0.1:${p.O}`, outcome: noCredential() },
  { name: "0x7f000001:O", authority: (p) => `0x7f000001:${p.O}`, outcome: noCredential() },
  { name: "2130706433:O", authority: (p) => `2130706433:${p.O}`, outcome: noCredential() },
  { name: "0177.0.0.1:O", authority: (p) => `0177.0.0.1:${p.O}`, outcome: noCredential() },
  { name: "127.0.0.1.:O (trailing dot on an IPv4 literal)", authority: (p) => `127.0.0.1.:${p.O}`, outcome: noCredential() },
  { name: "[::ffff:127.0.0.1]:O (IPv4-mapped)", authority: (p) => `[::ffff:127.0.0.1]:${p.O}`, outcome: noCredential() },
  { name: "[::ffff:7f00:1]:O (IPv4-mapped, hex)", authority: (p) => `[::ffff:7f00:1]:${p.O}`, outcome: noCredential() },
  { name: "127.0.0.1:T (an origin without credentials)", authority: (p) => `127.0.0.1:${p.T}`, outcome: noCredential("other") },
  { name: "localhost:T (the bound name on another port)", authority: (p) => `localhost:${p.T}`, outcome: noCredential("other") },
  // Loopback outside allow_addresses, and the IPv6 spellings of it.
  { name: "[::1]:O", authority: (p) => `[::1]:${p.O}`, outcome: refused(403, "address-refused") },
  { name: "[0:0:0:0:0:0:0:1]:O", authority: (p) => `[0:0:0:0:0:0:0:1]:${p.O}`, outcome: refused(403, "address-refused") },
  { name: "[::127.0.0.1]:O (IPv4-compatible)", authority: (p) => `[::127.0.0.1]:${p.O}`, outcome: refused(403, "address-refused") },
  { name: "127.0.0.2:O (loopback outside 127.0.0.1/32)", authority: (p) => `127.0.0.2:${p.O}`, outcome: refused(403, "address-refused") },
  { name: "0.0.0.0:O", authority: (p) => `0.0.0.0:${p.O}`, outcome: refused(403, "address-refused") },
  { name: "0:O (0.0.0.0 as one number)", authority: (p) => `0:${p.O}`, outcome: refused(403, "address-refused") },
  // The proxy itself, although 127.0.0.1/32 is in allow_addresses.
  { name: "127.0.0.1:X (the proxy's own port)", authority: (p) => `127.0.0.1:${p.X}`, outcome: refused(403, "address-refused") },
  { name: "localhost:X (the proxy's own port by name)", authority: (p) => `localhost:${p.X}`, outcome: refused(403, "address-refused") },
  { name: "127.1:X", authority: (p) => `127.1:${p.X}`, outcome: refused(403, "address-refused") },
  { name: "[::ffff:127.0.0.1]:X", authority: (p) => `[::ffff:127.0.0.1]:${p.X}`, outcome: refused(403, "address-refused") },
  // Metadata, private, shared and special ranges, in every embedding: refused before dialling.
  { name: "169.254.169.254:80 (instance metadata)", authority: () => "169.254.169.254:80", outcome: refused(403, "address-refused") },
  { name: "169.254.170.2:80 (container credentials)", authority: () => "169.254.170.2:80", outcome: refused(403, "address-refused") },
  { name: "0xa9fea9fe:80 (metadata as one hex number)", authority: () => "0xa9fea9fe:80", outcome: refused(403, "address-refused") },
  { name: "[::ffff:169.254.169.254]:80", authority: () => "[::ffff:169.254.169.254]:80", outcome: refused(403, "address-refused") },
  { name: "[fd00:ec2::254]:80 (EC2 IPv6 metadata)", authority: () => "[fd00:ec2::254]:80", outcome: refused(403, "address-refused") },
  { name: "10.0.0.1:443", authority: () => "10.0.0.1:443", outcome: refused(403, "address-refused") },
  { name: "012.0.0.1:443 (10.0.0.1 in octal)", authority: () => "012.0.0.1:443", outcome: refused(403, "address-refused") },
  { name: "172.16.0.1:443", authority: () => "172.16.0.1:443", outcome: refused(403, "address-refused") },
  { name: "192.168.0.1:443", authority: () => "192.168.0.1:443", outcome: refused(403, "address-refused") },
  { name: "100.64.0.1:443 (CGNAT)", authority: () => "100.64.0.1:443", outcome: refused(403, "address-refused") },
  { name: "[64:ff9b::a00:1]:443 (NAT64 of 10.0.0.1)", authority: () => "[64:ff9b::a00:1]:443", outcome: refused(403, "address-refused") },
  { name: "[64:ff9b::10.0.0.1]:443 (NAT64, dotted tail)", authority: () => "[64:ff9b::10.0.0.1]:443", outcome: refused(403, "address-refused") },
  { name: "[2002:0a00:0001::]:443 (6to4 of 10.0.0.1)", authority: () => "[2002:0a00:0001::]:443", outcome: refused(403, "address-refused") },
  { name: "[2001:0:4136:e378:8000:63bf:f5ff:fffe]:443 (Teredo of 10.0.0.1)", authority: () => "[2001:0:4136:e378:8000:63bf:f5ff:fffe]:443", outcome: refused(403, "address-refused") },
  { name: "[fe80::1]:443 (link-local)", authority: () => "[fe80::1]:443", outcome: refused(403, "address-refused") },
  { name: "[fc00::1]:443 (unique local)", authority: () => "[fc00::1]:443", outcome: refused(403, "address-refused") },
  { name: "224.0.0.1:443 (multicast)", authority: () => "224.0.0.1:443", outcome: refused(403, "address-refused") },
  { name: "255.255.255.255:443 (broadcast)", authority: () => "255.255.255.255:443", outcome: refused(403, "address-refused") },
  // Malformed authorities: 400, nothing resolved or dialled.
  { name: "localhost:0O (leading zero)", authority: (p) => `localhost:0${p.O}`, outcome: refused(400) },
  { name: "localhost:+O (signed port)", authority: (p) => `localhost:+${p.O}`, outcome: refused(400) },
  { name: "localhost: O (space before the port)", authority: (p) => `localhost: ${p.O}`, outcome: refused(400) },
  { name: "localhost:O  (trailing space)", authority: (p) => `localhost:${p.O} `, outcome: refused(400) },
  { name: "localhost\\t:O (tab)", authority: (p) => `localhost\t:${p.O}`, outcome: refused(400) },
  { name: "user@localhost:O (userinfo)", authority: (p) => `user@localhost:${p.O}`, outcome: refused(400) },
  { name: "%6cocalhost:O (percent-escape)", authority: (p) => `%6cocalhost:${p.O}`, outcome: refused(400) },
  { name: "localhost%00.invalid:O (escaped NUL)", authority: (p) => `localhost%00.invalid:${p.O}`, outcome: refused(400) },
  { name: "localhost:O/path", authority: (p) => `localhost:${p.O}/path`, outcome: refused(400) },
  { name: "localhost:O#frag", authority: (p) => `localhost:${p.O}#frag`, outcome: refused(400) },
  { name: "[fe80::1%25eth0]:O (zone id)", authority: (p) => `[fe80::1%25eth0]:${p.O}`, outcome: refused(400) },
  { name: "localhost: (empty port)", authority: () => "localhost:", outcome: refused(400) },
  { name: "localhost (no port)", authority: () => "localhost", outcome: refused(400) },
  { name: "localhost:65536", authority: () => "localhost:65536", outcome: refused(400) },
  { name: "localhost:https (a port name)", authority: () => "localhost:https", outcome: refused(400) },
  { name: "localhost:O:O (two ports)", authority: (p) => `localhost:${p.O}:${p.O}`, outcome: refused(400) },
  { name: "localhost..:O (two trailing dots)", authority: (p) => `localhost..:${p.O}`, outcome: refused(400) },
  { name: "[localhost]:O (a name in brackets)", authority: (p) => `[localhost]:${p.O}`, outcome: refused(400) },
  { name: "[[::1]]:O (double brackets)", authority: (p) => `[[::1]]:${p.O}`, outcome: refused(400) },
  { name: "::1:O (bare IPv6)", authority: (p) => `::1:${p.O}`, outcome: refused(400) },
  { name: "256.0.0.1:O (numeric, not an IPv4 address)", authority: (p) => `256.0.0.1:${p.O}`, outcome: refused(400) },
  // Names that do not resolve, and a denied one.
  { name: "nx.invalid:443 (no DNS answer: 502, no hang)", authority: () => "nx.invalid:443", outcome: refused(502) },
  { name: "NX.INVALID.:443", authority: () => "NX.INVALID.:443", outcome: refused(502) },
  { name: "DENIED.Invalid.:8443 (deny on every port, any spelling)", authority: () => "DENIED.Invalid.:8443", outcome: refused(407, "host-denied") },
];

/** What a client inside an opened tunnel sends: a GET naming the bound host, with its own Authorization. */
function probe(path: string, hostHeader: string, extra: string[] = []): string {
  return head([`GET ${path} HTTP/1.1`, `Host: ${hostHeader}`, `Authorization: ${CLIENT_AUTH}`, ...extra, "Connection: close"]);
}

function slug(name: string): string {
  return name.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60);
}

/** The one request `origin` recorded for `path`, if any. */
function recorded(path: string): RecordedRequest[] {
  return [origin, other, plain].flatMap((o) => o.requests.filter((r) => r.path === path));
}

function echoOf(response: RawResponse): RecordedRequest {
  return JSON.parse(response.body) as RecordedRequest;
}

function expectRefused(response: RawResponse, status: number, code: string | undefined): void {
  expect(response.status).toBe(status);
  if (code !== undefined) expect(response.head.toLowerCase()).toContain(`x-credproxy-deny-reason: ${code}`);
  expect(containsSecret(response.text)).toBe(false);
}

/** Asserts `outcome` for a response the client got and the requests the origins recorded for `path`. */
function expectOutcome(outcome: Outcome, response: RawResponse, path: string, secret = SECRET): void {
  const seen = recorded(path);
  if (outcome.kind === "refused") {
    expectRefused(response, outcome.status, outcome.code);
    expect(seen).toEqual([]);
    return;
  }
  expect(response.status).toBe(200);
  expect(seen.length).toBe(1);
  if (outcome.kind === "credential") {
    expect(seen[0]!.headers.authorization).toBe(`Bearer ${outcome.secret ?? secret}`);
    expect(seen[0]!.headers["proxy-authorization"]).toBeUndefined();
    return;
  }
  expect(seen[0]!.origin).toBe(outcome.origin);
  expect(seen[0]!.headers.authorization).toBe(CLIENT_AUTH);
  expect(containsSecret(JSON.stringify(seen[0]))).toBe(false);
  expect(echoOf(response).origin).toBe(outcome.origin);
}

describe("credproxy proxy: CONNECT host spellings and address forms", () => {
  for (const c of CONNECT_CASES) {
    const what = c.outcome.kind === "refused" ? `is refused with ${c.outcome.status}` : c.outcome.kind === "credential" ? "gets the credential (positive control)" : "is tunnelled without the credential";
    test(`CONNECT ${c.name} ${what}`, async () => {
      const authority = c.authority(ports);
      const path = `/${c.outcome.kind === "credential" ? "positive" : "hostile"}/connect-${slug(c.name)}`;
      const servername = c.outcome.kind === "credential" ? "localhost" : undefined;
      const result = await tunnel(ports.X, authority, [{ bytes: probe(path, `localhost:${ports.O}`), servername }]);
      if (c.outcome.kind === "refused") return expectOutcome(c.outcome, result.connect, path);
      expect(result.connect.status).toBe(200);
      expectOutcome(c.outcome, result.inner[0]!, path);
    });
  }
});

interface InnerCase {
  readonly name: string;
  /** Requests sent in turn on one tunnel to localhost:O; the last one's answer is judged. */
  readonly requests: (p: Ports, path: string) => TunnelRequest[];
  readonly outcome: Outcome;
}

/** A WebSocket handshake request (the proxy relays upgrades after the same checks). */
const upgrade = (path: string, hostHeader: string) =>
  head([`GET ${path} HTTP/1.1`, `Host: ${hostHeader}`, `Authorization: ${CLIENT_AUTH}`, "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]);

const sni = (bytes: string, servername: string | undefined = "localhost"): TunnelRequest => ({ bytes, servername });

/** Requests inside an intercepted tunnel to the credentialed host. */
const INNER_CASES: readonly InnerCase[] = [
  { name: "a request naming the CONNECT target", requests: (p, path) => [sni(probe(path, `localhost:${p.O}`, ["Proxy-Authorization: Basic cnVuOnRva2Vu"]))], outcome: credential },
  { name: "Host LOCALHOST.:O (same canonical target)", requests: (p, path) => [sni(probe(path, `LOCALHOST.:${p.O}`))], outcome: credential },
  { name: "no SNI at all (the CONNECT target decides)", requests: (p, path) => [sni(probe(path, `localhost:${p.O}`), undefined)], outcome: credential },
  { name: "HTTP/1.0 with no Host header (the CONNECT target decides)", requests: (_p, path) => [sni(head([`GET ${path} HTTP/1.0`, `Authorization: ${CLIENT_AUTH}`]))], outcome: credential },
  { name: "a WebSocket upgrade naming another host", requests: (_p, path) => [sni(upgrade(path, "evil.invalid"))], outcome: refused(421, "misdirected") },
  { name: "a WebSocket upgrade with SNI evil.invalid", requests: (p, path) => [sni(upgrade(path, `localhost:${p.O}`), "evil.invalid")], outcome: refused(421, "misdirected") },
  { name: "a TRACE asking for an upgrade", requests: (p, path) => [sni(upgrade(path, `localhost:${p.O}`).replace(/^GET/, "TRACE"))], outcome: refused(405, "method-not-allowed") },
  { name: "Host localhost (port 443 implied, not the CONNECT's)", requests: (_p, path) => [sni(probe(path, "localhost"))], outcome: refused(421, "misdirected") },
  { name: "Host localhost:T (another port)", requests: (p, path) => [sni(probe(path, `localhost:${p.T}`))], outcome: refused(421, "misdirected") },
  { name: "Host 127.0.0.1:O (same address, another name)", requests: (p, path) => [sni(probe(path, `127.0.0.1:${p.O}`))], outcome: refused(421, "misdirected") },
  { name: "Host evil.invalid", requests: (_p, path) => [sni(probe(path, "evil.invalid"))], outcome: refused(421, "misdirected") },
  { name: "Host localhost:O@evil.invalid", requests: (p, path) => [sni(probe(path, `localhost:${p.O}@evil.invalid`))], outcome: refused(421, "misdirected") },
  { name: "SNI evil.invalid", requests: (p, path) => [sni(probe(path, `localhost:${p.O}`), "evil.invalid")], outcome: refused(421, "misdirected") },
  { name: "SNI localhost.evil.invalid", requests: (p, path) => [sni(probe(path, `localhost:${p.O}`), "localhost.evil.invalid")], outcome: refused(421, "misdirected") },
  {
    name: "two Host headers",
    requests: (p, path) => [sni(head([`GET ${path} HTTP/1.1`, `Host: localhost:${p.O}`, "Host: evil.invalid", "Connection: close"]))],
    outcome: refused(400),
  },
  {
    name: "Content-Length beside Transfer-Encoding (smuggling)",
    requests: (p, path) => [sni(head([`POST ${path} HTTP/1.1`, `Host: localhost:${p.O}`, "Content-Length: 4", "Transfer-Encoding: chunked", "Connection: close"], "0\r\n\r\n"))],
    outcome: refused(400, "bad-head"),
  },
  {
    name: "an obs-folded header",
    requests: (p, path) => [sni(head([`GET ${path} HTTP/1.1`, `Host: localhost:${p.O}`, "X-A: one", " folded", "Connection: close"]))],
    outcome: refused(400),
  },
  { name: "TRACE (would echo the credential back)", requests: (p, path) => [sni(probe(path, `localhost:${p.O}`).replace(/^GET/, "TRACE"))], outcome: refused(405, "method-not-allowed") },
  // node:http's parser knows no TRACK method, so inside a tunnel it is a malformed head.
  { name: "TRACK", requests: (p, path) => [sni(probe(path, `localhost:${p.O}`).replace(/^GET/, "TRACK"))], outcome: refused(400, "bad-head") },
  { name: "an absolute-form http:// target naming another host", requests: (_p, path) => [sni(probe(`http://evil.invalid${path}`, "evil.invalid"))], outcome: refused(400) },
  { name: "an absolute-form https:// target naming the same host", requests: (p, path) => [sni(probe(`https://localhost:${p.O}${path}`, `localhost:${p.O}`))], outcome: refused(400) },
  { name: "a header larger than max_header_bytes", requests: (p, path) => [sni(probe(path, `localhost:${p.O}`, [`X-Big: ${"a".repeat(20_000)}`]))], outcome: refused(431, "head-too-large") },
  { name: "a bare LF line ending", requests: (p, path) => [sni(`GET ${path} HTTP/1.1\r\nHost: localhost:${p.O}\nX-A: b\r\nConnection: close\r\n\r\n`)], outcome: refused(400, "bad-head") },
  {
    name: "a second request on the kept-alive tunnel naming another host",
    requests: (p, path) => [sni(head([`GET /positive/keepalive-first HTTP/1.1`, `Host: localhost:${p.O}`])), sni(probe(path, "evil.invalid"))],
    outcome: refused(421, "misdirected"),
  },
  {
    name: "a TRACE after a good request on the kept-alive tunnel",
    requests: (p, path) => [sni(head([`GET /positive/keepalive-trace-first HTTP/1.1`, `Host: localhost:${p.O}`])), sni(probe(path, `localhost:${p.O}`).replace(/^GET/, "TRACE"))],
    outcome: refused(405),
  },
];

describe("credproxy proxy: requests inside an intercepted tunnel", () => {
  for (const c of INNER_CASES) {
    const what = c.outcome.kind === "refused" ? `is refused with ${c.outcome.status}` : "gets the credential (positive control)";
    test(`${c.name} ${what}`, async () => {
      const path = `/${c.outcome.kind === "credential" ? "positive" : "hostile"}/inner-${slug(c.name)}`;
      const requests = c.requests(ports, path);
      const result = await tunnel(ports.X, `localhost:${ports.O}`, requests);
      expect(result.connect.status).toBe(200);
      expect(result.inner.length).toBe(requests.length);
      expectOutcome(c.outcome, result.inner.at(-1)!, path);
    });
  }

  test("a WebSocket upgrade naming the CONNECT target gets the credential (positive control)", async () => {
    const path = "/positive/inner-upgrade"; // not /ws: the origin records it and answers 404 with the echo
    const result = await tunnel(ports.X, `localhost:${ports.O}`, [sni(upgrade(path, `localhost:${ports.O}`))]);
    expect(result.inner[0]!.status).toBe(404);
    const seen = recorded(path);
    expect(seen.map((r) => [r.upgrade, r.headers.authorization])).toEqual([[true, `Bearer ${SECRET}`]]);
  });

  test("plain HTTP inside a tunnel gets no credential that is only for TLS", async () => {
    const path = "/hostile/inner-plaintext";
    const result = await tunnel(ports.X, `localhost:${ports.O}`, [{ bytes: probe(path, `localhost:${ports.O}`), servername: undefined, plain: true }]);
    expect(result.connect.status).toBe(200);
    const answer = result.inner[0]!;
    expect(containsSecret(answer.text)).toBe(false);
    expect(answer.status).toBe(502); // the origin speaks only TLS
    expect(recorded(path)).toEqual([]);
  });
});

interface PlainCase {
  readonly name: string;
  /** Requests sent in turn on one connection to the proxy; the last one's answer is judged. */
  readonly requests: (p: Ports, path: string) => string[];
  readonly outcome: Outcome;
}

const get = (target: string, hostHeader: string, extra: string[] = []) => head([`GET ${target} HTTP/1.1`, `Host: ${hostHeader}`, `Authorization: ${CLIENT_AUTH}`, ...extra]);

/** Absolute-form http:// requests to the proxy (the plain origin H has a plaintext credential). */
const PLAIN_CASES: readonly PlainCase[] = [
  { name: "GET http://localhost:H/ with its Host", requests: (p, path) => [get(`http://localhost:${p.H}${path}`, `localhost:${p.H}`, ["Proxy-Authorization: Basic cnVuOnRva2Vu"])], outcome: { kind: "credential", secret: PLAIN_SECRET } },
  { name: "GET http://LOCALHOST.:H/ with Host localhost:H", requests: (p, path) => [get(`http://LOCALHOST.:${p.H}${path}`, `localhost:${p.H}`)], outcome: { kind: "credential", secret: PLAIN_SECRET } },
  { name: "GET http://127.0.0.1:H/ (same address, another name)", requests: (p, path) => [get(`http://127.0.0.1:${p.H}${path}`, `127.0.0.1:${p.H}`)], outcome: noCredential("plain") },
  { name: "GET http://2130706433:H/ with Host 127.0.0.1:H", requests: (p, path) => [get(`http://2130706433:${p.H}${path}`, `127.0.0.1:${p.H}`)], outcome: noCredential("plain") },
  { name: "GET http://localhost:H/ with Host other.invalid", requests: (p, path) => [get(`http://localhost:${p.H}${path}`, "other.invalid")], outcome: refused(421, "misdirected") },
  { name: "GET http://localhost:H/ with Host localhost:T", requests: (p, path) => [get(`http://localhost:${p.H}${path}`, `localhost:${p.T}`)], outcome: refused(421, "misdirected") },
  { name: "GET http://127.0.0.1:H/ with Host localhost:H", requests: (p, path) => [get(`http://127.0.0.1:${p.H}${path}`, `localhost:${p.H}`)], outcome: refused(421, "misdirected") },
  { name: "GET http://user@localhost:H/ (userinfo)", requests: (p, path) => [get(`http://user@localhost:${p.H}${path}`, `localhost:${p.H}`)], outcome: refused(400) },
  { name: "GET http://localhost:H@evil.invalid/", requests: (p, path) => [get(`http://localhost:${p.H}@evil.invalid${path}`, "evil.invalid")], outcome: refused(400) },
  { name: "GET http://%6cocalhost:H/", requests: (p, path) => [get(`http://%6cocalhost:${p.H}${path}`, `localhost:${p.H}`)], outcome: refused(400) },
  { name: "GET http://localhost:H\\@evil.invalid/ (backslash before userinfo)", requests: (p, path) => [get(`http://localhost:${p.H}\\@evil.invalid${path}`, "evil.invalid")], outcome: refused(400) },
  { name: "GET http://evil.invalid#@localhost:H/ (a fragment in the target)", requests: (p, path) => [get(`http://evil.invalid#@localhost:${p.H}${path}`, `localhost:${p.H}`)], outcome: refused(400) },
  { name: "GET https://localhost:O/ in absolute form", requests: (p, path) => [get(`https://localhost:${p.O}${path}`, `localhost:${p.O}`)], outcome: refused(400, "use-connect") },
  { name: "GET http://127.0.0.1:X/ (the proxy itself, in absolute form)", requests: (p) => [get(`http://127.0.0.1:${p.X}/_credproxy/health`, `127.0.0.1:${p.X}`)], outcome: refused(403, "address-refused") },
  { name: "GET http://169.254.169.254/latest/meta-data/", requests: () => [get("http://169.254.169.254/latest/meta-data/", "169.254.169.254")], outcome: refused(403, "address-refused") },
  { name: "GET http://[::ffff:a9fe:a9fe]/ (mapped metadata)", requests: () => [get("http://[::ffff:a9fe:a9fe]/", "[::ffff:a9fe:a9fe]")], outcome: refused(403, "address-refused") },
  { name: "two Host headers", requests: (p, path) => [get(`http://localhost:${p.H}${path}`, `localhost:${p.H}`, ["Host: evil.invalid"])], outcome: refused(400, "bad-host") },
  {
    name: "Content-Length beside Transfer-Encoding (smuggling)",
    requests: (p, path) => [head([`POST http://localhost:${p.H}${path} HTTP/1.1`, `Host: localhost:${p.H}`, "Content-Length: 4", "Transfer-Encoding: chunked"], "0\r\n\r\n")],
    outcome: refused(400, "bad-framing"),
  },
  { name: "two different Content-Lengths", requests: (p, path) => [head([`POST http://localhost:${p.H}${path} HTTP/1.1`, `Host: localhost:${p.H}`, "Content-Length: 1", "Content-Length: 2"], "xx")], outcome: refused(400, "bad-framing") },
  { name: "an obs-folded header", requests: (p, path) => [head([`GET http://localhost:${p.H}${path} HTTP/1.1`, `Host: localhost:${p.H}`, "X-A: one", "\tfolded"])], outcome: refused(400, "bad-header") },
  { name: "a bare LF line ending", requests: (p, path) => [`GET http://localhost:${p.H}${path} HTTP/1.1\r\nHost: localhost:${p.H}\nX-A: b\r\n\r\n`], outcome: refused(400) },
  { name: "TRACE", requests: (p, path) => [get(`http://localhost:${p.H}${path}`, `localhost:${p.H}`).replace(/^GET/, "TRACE")], outcome: refused(405, "method-not-allowed") },
  { name: "a header larger than max_header_bytes", requests: (p, path) => [get(`http://localhost:${p.H}${path}`, `localhost:${p.H}`, [`X-Big: ${"a".repeat(20_000)}`])], outcome: refused(431, "head-too-large") },
  {
    name: "a TRACE after a good request on the same connection",
    requests: (p, path) => [get(`http://localhost:${p.H}/positive/plain-keepalive-trace`, `localhost:${p.H}`), get(`http://localhost:${p.H}${path}`, `localhost:${p.H}`).replace(/^GET/, "TRACE")],
    outcome: refused(405),
  },
  {
    name: "smuggling after a good request on the same connection",
    requests: (p, path) => [
      get(`http://localhost:${p.H}/positive/plain-keepalive-smuggle`, `localhost:${p.H}`),
      head([`POST http://localhost:${p.H}${path} HTTP/1.1`, `Host: localhost:${p.H}`, "Content-Length: 4", "Transfer-Encoding: chunked"], "0\r\n\r\n"),
    ],
    outcome: refused(400),
  },
  {
    name: "a CONNECT after a good request on the same connection",
    requests: (p) => [get(`http://localhost:${p.H}/positive/plain-keepalive-connect`, `localhost:${p.H}`), head([`CONNECT localhost:${p.O} HTTP/1.1`, `Host: localhost:${p.O}`])],
    outcome: closed,
  },
  {
    name: "a Host mismatch after a good request on the same connection",
    requests: (p, path) => [get(`http://localhost:${p.H}/positive/plain-keepalive-host`, `localhost:${p.H}`), get(`http://localhost:${p.H}${path}`, "evil.invalid")],
    outcome: refused(421, "misdirected"),
  },
];

describe("credproxy proxy: plain http:// requests", () => {
  for (const c of PLAIN_CASES) {
    const what = c.outcome.kind === "refused" ? (c.outcome.status === 0 ? "is closed unanswered" : `is refused with ${c.outcome.status}`) : c.outcome.kind === "credential" ? "gets the credential (positive control)" : "is forwarded without the credential";
    test(`${c.name} ${what}`, async () => {
      const path = `/${c.outcome.kind === "credential" ? "positive" : "hostile"}/plain-${slug(c.name)}`;
      const requests = c.requests(ports, path);
      const answers = requests.length === 1 ? [await rawRequest(ports.X, requests[0]!)] : await rawSequence(ports.X, requests);
      expect(answers.length).toBe(requests.length);
      expectOutcome(c.outcome, answers.at(-1)!, path, PLAIN_SECRET);
    });
  }
});

describe("credproxy proxy: no secret anywhere it does not belong", () => {
  test("the positive controls did reach the origins with the credentials", () => {
    const positives = [origin, plain].flatMap((o) => o.requests).filter((r) => r.path.startsWith("/positive/"));
    expect(positives.filter((r) => r.headers.authorization === `Bearer ${SECRET}`).length).toBeGreaterThanOrEqual(4);
    expect(positives.filter((r) => r.headers.authorization === `Bearer ${PLAIN_SECRET}`).length).toBeGreaterThanOrEqual(2);
  });

  test("no recorded request outside the positive controls carries a secret", () => {
    const all = [origin, other, plain].flatMap((o) => o.requests);
    expect(all.length).toBeGreaterThan(10);
    const leaks = all.filter((r) => containsSecret(JSON.stringify(r)) && !(r.path.startsWith("/positive/") && r.origin !== "other"));
    expect(leaks.map((r) => `${r.origin} ${r.method} ${r.path}`)).toEqual([]);
    expect(other.requests.some((r) => containsSecret(JSON.stringify(r)))).toBe(false);
  });

  test("the proxy's stdout and stderr never hold a secret", () => {
    const all = [...proxy.proc.stdoutLines, ...proxy.proc.stderrLines].join("\n");
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain(PLAIN_SECRET);
    expect(all).not.toContain(SECRET.slice(4, 20));
  });
});
