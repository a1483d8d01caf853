/**
 * Request bodies keep their framing through the compiled `credproxy proxy` for a tenant with no
 * placeholders: a body the client sends chunked reaches the upstream chunked, whatever the
 * method. Transfer-Encoding is hop-by-hop, and node:http chunks a body by itself only for the
 * methods it expects one with, so a DELETE or GET body once went out unframed, for the
 * upstream to read as the start of the next request on that connection.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { curl } from "../helpers/curl.ts";
import { makeTestPki } from "../helpers/test-ca.ts";
import { clientEnv } from "./proxy-client-run.ts";
import { startProxy } from "./proxy-fixture.ts";
import { startPlaceholderOrigin, type PlaceholderOrigin } from "./placeholder-origin.ts";

let tlsOrigin: PlaceholderOrigin;
let plainOrigin: PlaceholderOrigin;
let env: Record<string, string>;

beforeAll(async () => {
  const pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  [tlsOrigin, plainOrigin] = await Promise.all([startPlaceholderOrigin("h1", pki), startPlaceholderOrigin("plain", pki)]);
  const proxy = await startProxy(`
tls: {upstream_ca_bundle: ${pki.caFile}}
allow: ["localhost:${tlsOrigin.port}", "127.0.0.1:${plainOrigin.port}"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - {name: tls, host: "localhost:${tlsOrigin.port}", value: "sk-framing-tls-1234"}
  - {name: plain, host: "127.0.0.1:${plainOrigin.port}", value: "sk-framing-plain-5678", allow_plaintext: true}
`);
  env = clientEnv(await proxy.sandboxEnv());
});
afterAll(cleanupAll);

/** curl sending `body` chunked over HTTP/1.1 (Transfer-Encoding: chunked, body from a file) with `method`. */
async function sendChunked(method: string, url: string, body: string, proxyUrl: string): Promise<string> {
  const file = `${await tempDir()}/body`;
  await Bun.write(file, body);
  const r = await curl(["--http1.1", "--proxy", proxyUrl, "--cacert", env.CURL_CA_BUNDLE!, "-X", method, "-H", "transfer-encoding: chunked", "-H", "content-type: text/plain", "--data-binary", `@${file}`, url], 10_000);
  return r.stdout;
}

describe("a chunked request body, for a tenant without placeholders", () => {
  for (const method of ["DELETE", "GET", "POST"]) {
    test(`${method} inside an intercepted HTTPS tunnel reaches the origin whole and chunked, with the credential`, async () => {
      const path = `/tls-${method.toLowerCase()}`;
      expect(await sendChunked(method, `https://localhost:${tlsOrigin.port}${path}`, `body of a ${method}`, env.HTTPS_PROXY!)).toBe("ok");
      const seen = await tlsOrigin.settled(path);
      expect({ complete: seen.complete, body: seen.body.toString(), framing: seen.headers["transfer-encoding"], auth: seen.headers["authorization"] }).toEqual({
        complete: true,
        body: `body of a ${method}`,
        framing: "chunked",
        auth: "sk-framing-tls-1234",
      });
    }, 30_000);
  }

  test("DELETE over plain http:// reaches the origin whole and chunked, and the next request on the connection is its own", async () => {
    expect(await sendChunked("DELETE", `http://127.0.0.1:${plainOrigin.port}/plain-delete`, "GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n", env.HTTP_PROXY!)).toBe("ok");
    const seen = await plainOrigin.settled("/plain-delete");
    expect({ complete: seen.complete, body: seen.body.toString(), framing: seen.headers["transfer-encoding"] }).toEqual({
      complete: true,
      body: "GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n",
      framing: "chunked",
    });
    expect(await sendChunked("POST", `http://127.0.0.1:${plainOrigin.port}/plain-after`, "after", env.HTTP_PROXY!)).toBe("ok");
    await plainOrigin.settled("/plain-after");
    expect(plainOrigin.requests.map((r) => r.path)).not.toContain("/smuggled");
  }, 30_000);
});
