/**
 * TLS spoken straight to the proxy port (`https://127.0.0.1:3128/mcp/NAME`), for MCP clients
 * configured with an https:// URL: the listener sees a TLS record (0x16) where a request line
 * would be, and the connection is terminated here with a leaf from the proxy's CA, then read
 * by the same server as plain origin-form requests (relays, MCP, health, metrics). The leaf
 * names what the client asked for by SNI, else the address it connected to; a client trusts
 * it through the trust bundle, like every intercepted host.
 */
import type { Server as HttpServer } from "node:http";
import type { Socket } from "node:net";
import { TLSSocket, type SecureContext } from "node:tls";
import { parseAuthority, parseSni, type CanonicalTarget } from "../canonical-host.ts";
import type { ProxyRuntime } from "../server/proxy-runtime.ts";

export function directTls(runtime: ProxyRuntime, socket: Socket, first: Buffer, plain: HttpServer): void {
  socket.unshift(first);
  const leaf = (target: Pick<CanonicalTarget, "host" | "kind">): SecureContext => {
    const before = runtime.leaves.size;
    const context = runtime.leaves.contextFor(target);
    runtime.metrics.leafLookup(runtime.leaves.size === before);
    return context;
  };
  let tls: TLSSocket;
  try {
    tls = new TLSSocket(socket, {
      isServer: true,
      secureContext: leaf(localTarget(socket)),
      ALPNProtocols: ["http/1.1"],
      SNICallback: (name, done) => {
        const host = parseSni(name);
        try {
          done(null, host === undefined ? undefined : leaf({ host, kind: "name" }));
        } catch (error) {
          done(error as Error, undefined);
        }
      },
    });
  } catch (error) {
    runtime.logger.warn("direct TLS refused", { error });
    return void socket.destroy();
  }
  const handshakeTimer = setTimeout(() => tls.destroy(), runtime.state.config.limits.tlsHandshakeTimeoutMs);
  tls.once("secure", () => {
    clearTimeout(handshakeTimer);
    tls.once("close", runtime.metrics.opened("plain"));
    plain.emit("connection", tls);
  });
  tls.once("close", () => clearTimeout(handshakeTimer));
  tls.on("error", (error) => {
    runtime.logger.debug("client TLS failed", { mode: "direct", error: error.message });
    socket.destroy();
  });
}

/** The address the client connected to, canonical: the leaf for a client that sends no SNI (an IP URL). */
function localTarget(socket: Socket): CanonicalTarget {
  const address = (socket.localAddress ?? "127.0.0.1").replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
  const target = parseAuthority(address.includes(":") ? `[${address}]` : address, { defaultPort: 443 });
  return "problem" in target ? (parseAuthority("127.0.0.1:443") as CanonicalTarget) : target;
}
