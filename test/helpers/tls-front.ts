/**
 * A TLS front for a plain-HTTP server on loopback (moto): it terminates TLS with a test leaf
 * and pipes the bytes both ways, keeping a copy of everything the client sent. Tests use the
 * copy as the server's request log: it shows exactly what reached the server (headers, the
 * signature, the body) after credproxy, which moto's own log does not.
 */
import { connect } from "node:net";
import { createServer } from "node:tls";
import { onCleanup } from "./cleanup.ts";
import { listenTracked } from "./listen-tracked.ts";
import type { TestPki } from "./test-ca.ts";

export interface TlsFront {
  readonly port: number;
  /** Everything clients sent, in arrival order per connection, as latin1 text. */
  sent(): string;
  /** The request heads received so far (text before each blank line that starts a request). */
  heads(): string[];
  close(): Promise<void>;
}

export async function startTlsFront(pki: TestPki, backendPort: number): Promise<TlsFront> {
  const chunks: Buffer[][] = [];
  const server = createServer({ cert: pki.certPem, key: pki.keyPem, ALPNProtocols: ["http/1.1"] }, (client) => {
    const mine: Buffer[] = [];
    chunks.push(mine);
    const backend = connect({ host: "127.0.0.1", port: backendPort });
    client.on("data", (chunk: Buffer) => mine.push(chunk));
    client.pipe(backend).pipe(client);
    client.on("error", () => backend.destroy());
    backend.on("error", () => client.destroy());
    client.on("close", () => backend.destroy());
  });
  const listening = await listenTracked(server);
  const close = listening.stop;
  onCleanup(`tls front ${listening.port}`, close);
  const sent = () => chunks.map((c) => Buffer.concat(c).toString("latin1")).join("\n");
  return {
    port: listening.port,
    sent,
    heads: () => sent().split(/\r\n\r\n/).filter((part) => /^[A-Z]+ \S+ HTTP\/1\.1\r\n/m.test(part)).map((part) => part.slice(part.search(/[A-Z]+ \S+ HTTP\/1\.1\r\n/))),
    close,
  };
}
