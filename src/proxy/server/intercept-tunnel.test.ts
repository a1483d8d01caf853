import { afterAll, describe, expect, test } from "bun:test";
import { createServer as createHttpServer } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { connect as tlsConnect, createSecureContext } from "node:tls";
import { cleanupAll, tempDir } from "../../../test/helpers/cleanup.ts";
import { makeTestPki } from "../../../test/helpers/test-ca.ts";
import { silentLogger } from "../../log.ts";
import { parseAuthority, type CanonicalTarget } from "../canonical-host.ts";
import type { Admitted } from "./admit.ts";
import { interceptTunnel, tunnels } from "./intercept-tunnel.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";

afterAll(cleanupAll);

/** An intercepted tunnel to localhost:8443 behind a loopback listener; the inner server answers with the tunnel's SNI. */
async function tunnelServer(handshakeTimeoutMs = 5000) {
  const pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: [] });
  const context = createSecureContext({ key: pki.keyPem, cert: pki.certPem });
  const runtime = {
    leaves: { contextFor: () => context, size: 1 },
    metrics: { leafLookup: () => {} },
    logger: silentLogger,
    state: { config: { limits: { tlsHandshakeTimeoutMs: handshakeTimeoutMs } } },
  } as unknown as ProxyRuntime;
  const admitted = { tenant: { name: "default" }, target: parseAuthority("localhost:8443") as CanonicalTarget } as unknown as Admitted;
  const inner = createHttpServer((req, res) => {
    const answer = () => res.end(`servername=${tunnels.get(req.socket)?.servername ?? "none"}`);
    // /slow answers after the handshake deadline has passed, as a long upstream call would.
    if (req.url === "/slow") setTimeout(answer, handshakeTimeoutMs * 3);
    else answer();
  });
  const listener = createServer((socket) => void interceptTunnel(runtime, socket, admitted, Buffer.alloc(0), { h1: (socket) => void inner.emit("connection", socket), h2: () => { throw new Error("this test speaks HTTP/1.1"); } }));
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  return { port: (listener.address() as AddressInfo).port, close: () => listener.close() };
}

function get(port: number, servername: string, path = "/"): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const tls = tlsConnect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => tls.write(`GET ${path} HTTP/1.1\r\nHost: localhost:8443\r\nConnection: close\r\n\r\n`));
    tls.on("data", (chunk: Buffer) => (text += chunk.toString()));
    tls.once("close", () => resolve(text));
    tls.once("error", reject);
  });
}

describe("an intercepted TLS tunnel", () => {
  test("the client's server name is known before its first request reaches the inner server", async () => {
    const server = await tunnelServer();
    try {
      expect(await get(server.port, "evil.invalid")).toEndWith("servername=evil.invalid");
      expect(await get(server.port, "localhost")).toEndWith("servername=localhost");
    } finally {
      server.close();
    }
  });

  test("the handshake deadline ends only the handshake, not a tunnel that is in use", async () => {
    const server = await tunnelServer(100);
    try {
      expect(await get(server.port, "localhost", "/slow")).toEndWith("servername=localhost");
    } finally {
      server.close();
    }
  });
});
