/**
 * MCP servers through the compiled `credproxy proxy` at /mcp/NAME, with the SDK's own client
 * (@modelcontextprotocol/sdk) on one side and an SDK server that insists on the injected
 * Authorization on the other (test/helpers/mcp-server.ts, HTTPS on loopback). The client
 * holds only the run token, never the credential.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { startMcpServer, type McpTestServer } from "../helpers/mcp-server.ts";
import { makeTestPki } from "../helpers/test-ca.ts";
import { deferred, withTimeout } from "../helpers/wait.ts";
import { startProxy, type RunningProxy } from "./proxy-fixture.ts";

const SECRET = "mcp-secret-7Hq2Lt8Pz5Nc3Vb9Kw4R";
const TOKEN = "run-token-Vb7Hq2Lt8Pz5Nc3Kw4Rm6Ty";

let proxy: RunningProxy;
let sseMode: McpTestServer;
let jsonMode: McpTestServer;

beforeAll(async () => {
  const pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  sseMode = await startMcpServer({ pki, authorization: `Bearer ${SECRET}` });
  jsonMode = await startMcpServer({ pki, authorization: `Bearer ${SECRET}`, jsonResponse: true });
  proxy = await startProxy(`
token: ${TOKEN}
tls: {upstream_ca_bundle: ${pki.caFile}}
credentials:
  - name: mcp-token
    host: [localhost:${sseMode.port}, localhost:${jsonMode.port}]
    value: "Bearer ${SECRET}"
  - name: broken-token
    host: localhost:${sseMode.port}
    command: ["sh", "-c", "exit 3"]
mcp:
  - {name: tools, url: "https://localhost:${sseMode.port}/mcp", credential: mcp-token}
  - {name: tools-json, url: "https://localhost:${jsonMode.port}/mcp", credential: mcp-token}
  - {name: legacy, url: "https://localhost:${sseMode.port}/sse", credential: mcp-token}
  - {name: broken, url: "https://localhost:${sseMode.port}/mcp", credential: broken-token}
`);
});
afterAll(cleanupAll);

const base = () => `http://127.0.0.1:${proxy.port}`;

/** A connected SDK client; the sandbox's own Authorization (a stub) must never reach the server. */
async function connected(transport: Transport): Promise<Client> {
  const client = new Client({ name: "credproxy-test-client", version: "1.0.0" });
  await withTimeout(client.connect(transport), 10_000, "MCP initialize through the proxy");
  return client;
}

const stub = { authorization: "Bearer sandbox-stub" };

describe("MCP servers through credproxy proxy", () => {
  test("a streamable-HTTP client with the token in the path lists the tools and calls one; the server sees the injected credential and a session", async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${base()}/mcp/${TOKEN}/tools`), { requestInit: { headers: stub } });
    const client = await connected(transport);
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name).sort()).toEqual(["echo", "wait-for-release"]);
    const result = await client.callTool({ name: "echo", arguments: { text: "hello" } });
    expect(result.content).toEqual([{ type: "text", text: "echo: hello" }]);
    await transport.terminateSession(); // DELETE with Mcp-Session-Id
    await client.close();
    expect(sseMode.refused).toEqual([]);
    const posts = sseMode.seen.filter((r) => r.path === "/mcp" && r.method === "POST");
    expect(posts.length).toBeGreaterThanOrEqual(3);
    expect(posts.every((r) => r.authorization === `Bearer ${SECRET}` && r.headers["x-credproxy-token"] === undefined)).toBe(true);
    // After initialize every request names the session the server created.
    expect(new Set(posts.slice(1).map((r) => r.sessionId)).size).toBe(1);
    expect(posts.at(-1)!.sessionId).toBeString();
    expect(sseMode.seen.some((r) => r.method === "DELETE" && r.sessionId === posts.at(-1)!.sessionId && r.authorization === `Bearer ${SECRET}`)).toBe(true);
  });

  test("a tool call answered as an SSE stream: the progress event reaches the client while the server still holds the stream open", async () => {
    const client = await connected(new StreamableHTTPClientTransport(new URL(`${base()}/mcp/tools`), { requestInit: { headers: { ...stub, "x-credproxy-token": TOKEN } } }));
    const progressed = deferred<string | undefined>();
    const call = client.callTool({ name: "wait-for-release", arguments: {} }, undefined, { onprogress: (p) => progressed.resolve(p.message) });
    // The server sends "halfway", then waits for release(): the event must arrive on its own.
    expect(await withTimeout(progressed.promise, 10_000, "the progress event, before the stream ends")).toBe("halfway");
    sseMode.release();
    expect((await withTimeout(call, 10_000, "the tool result")).content).toEqual([{ type: "text", text: "released" }]);
    await client.close();
  });

  test("a server that answers POSTs with JSON works the same way", async () => {
    const client = await connected(new StreamableHTTPClientTransport(new URL(`${base()}/mcp/${TOKEN}/tools-json`)));
    const result = await client.callTool({ name: "echo", arguments: { text: "as json" } });
    expect(result.content).toEqual([{ type: "text", text: "echo: as json" }]);
    await client.close();
    expect(jsonMode.refused).toEqual([]);
  });

  test("the older SSE transport, token in the path or in the header: its endpoint event is rewritten so the client posts back through the proxy", async () => {
    for (const [url, headers] of [
      [`${base()}/mcp/${TOKEN}/legacy`, stub],
      [`${base()}/mcp/legacy`, { ...stub, "x-credproxy-token": TOKEN }],
    ] as const) {
      const client = await connected(new SSEClientTransport(new URL(url), { requestInit: { headers } }));
      const result = await client.callTool({ name: "echo", arguments: { text: "old transport" } });
      expect(result.content).toEqual([{ type: "text", text: "echo: old transport" }]);
      await client.close();
    }
    const posts = sseMode.seen.filter((r) => r.path.startsWith("/messages?sessionId="));
    expect(posts.length).toBeGreaterThanOrEqual(2);
    expect(posts.every((r) => r.authorization === `Bearer ${SECRET}`)).toBe(true);
    expect(sseMode.refused).toEqual([]);
  });

  test("over TLS straight to the proxy port (https://, by IP and by name): the leaf comes from the proxy's CA, which the client trusts through the trust bundle", async () => {
    const ca = await Bun.file(proxy.bundle).text();
    const trusting: typeof fetch = Object.assign((url: string | URL | Request, init?: RequestInit) => fetch(url, { ...init, tls: { ca } } as RequestInit), { preconnect: fetch.preconnect });
    for (const host of ["127.0.0.1", "localhost"]) {
      const client = await connected(new StreamableHTTPClientTransport(new URL(`https://${host}:${proxy.port}/mcp/${TOKEN}/tools`), { fetch: trusting }));
      const result = await client.callTool({ name: "echo", arguments: { text: `over tls to ${host}` } });
      expect(result.content).toEqual([{ type: "text", text: `echo: over tls to ${host}` }]);
      await client.close();
    }
    // A client that does not trust the proxy's CA is turned away by its own TLS check.
    await expect(fetch(`https://127.0.0.1:${proxy.port}/_credproxy/health`)).rejects.toThrow();
  });

  test("a credential that cannot be had is a 500 naming the credential and the fix, and nothing reaches the server", async () => {
    const before = sseMode.seen.length + sseMode.refused.length;
    const res = await fetch(`${base()}/mcp/broken`, { method: "POST", headers: { "x-credproxy-token": TOKEN, "content-type": "application/json" }, body: "{}" });
    const body = await res.text();
    expect(res.status).toBe(500);
    expect(res.headers.get("x-credproxy-deny-reason")).toBe("credential-unavailable");
    expect(body).toContain('credential "broken-token" for MCP server "broken"');
    expect(body).toContain("command sh exited with status 3");
    expect(body).toContain("Fix: run the command by hand");
    expect(sseMode.seen.length + sseMode.refused.length).toBe(before);
  });

  test("the log names each MCP request's server and credential, never the run token (even from the path) or the credential's value", async () => {
    // The 500 of the test before is among the last lines the proxy wrote: wait until they are all in.
    await proxy.proc.waitForLog((r) => r.msg === "request" && r.decision === "mcp:broken" && r.status === 500);
    const records = proxy.proc.logRecords();
    const text = JSON.stringify(records);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(SECRET);
    const forwarded = records.filter((r) => r.decision === "mcp:tools" && r.status === 200);
    expect(forwarded.length).toBeGreaterThan(0);
    expect(forwarded.every((r) => String(r.path).startsWith("/mcp/tools") && JSON.stringify(r.credentials) === '["mcp-token"]')).toBe(true);
  });

  test("an unknown server name is a 404 listing the names there are; a wrong token is a 403", async () => {
    const unknown = await fetch(`${base()}/mcp/${TOKEN}/nope`, { method: "POST", body: "{}" });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('no MCP server named "nope" for this run (it has 4: tools, tools-json, legacy, broken)');
    const wrong = await fetch(`${base()}/mcp/tools`, { method: "POST", headers: { "x-credproxy-token": "not-the-token" }, body: "{}" });
    expect(wrong.status).toBe(403);
    expect(wrong.headers.get("x-credproxy-deny-reason")).toBe("bad-run-token");
    const none = await fetch(`${base()}/mcp/tools`, { method: "POST", body: "{}" });
    expect([none.status, none.headers.get("x-credproxy-deny-reason")]).toEqual([403, "run-token-required"]);
  });
});
