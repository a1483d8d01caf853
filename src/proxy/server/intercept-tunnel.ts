/**
 * An intercepted CONNECT tunnel: the first bytes the client sends decide what it speaks.
 * 0x16 (a TLS handshake record) is terminated with a leaf certificate for the CONNECT target;
 * an ASCII letter is plain HTTP inside the tunnel; anything else is refused, since the proxy
 * could not apply credentials or checks to it. Either way the decrypted requests are read by
 * the proxy's own HTTP/1.1 connection (which hands what it does not take to one shared
 * node:http server, finding the tunnel's checked target through `tunnels`), or, when the
 * client chose h2 by ALPN, by an HTTP/2 server made for that one tunnel.
 *
 * The leaf is chosen by the CONNECT target, not by the client's SNI, so a client that sends
 * no SNI (an IP literal) still gets the right certificate; a differing SNI is remembered and
 * answered 421 by the inner request handler.
 */
import type { Http2Server } from "node:http2";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import type { Admitted } from "./admit.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";

export interface TunnelInfo {
  readonly admitted: Admitted;
  readonly tls: boolean;
  servername: string | undefined;
}

/** Inner sockets (TLS or plain) to the tunnel they came through. */
export const tunnels = new WeakMap<object, TunnelInfo>();

const TLS_HANDSHAKE = 0x16;

/** Where decrypted connections go: HTTP/1.1 (the proxy's own, handing over to node:http), or an HTTP/2 server for one tunnel. */
export interface InnerServers {
  h1(socket: Duplex, info: TunnelInfo): void;
  h2(info: TunnelInfo): Http2Server;
}

export async function interceptTunnel(runtime: ProxyRuntime, socket: Socket, admitted: Admitted, rest: Buffer, servers: InnerServers): Promise<void> {
  const first = rest.length > 0 ? rest : await firstBytes(socket);
  if (first === undefined) return void socket.destroy();
  if (first[0] === TLS_HANDSHAKE) return terminateTls(runtime, socket, admitted, first, servers);
  if (isHttpStart(first[0]!)) {
    socket.unshift(first);
    const info: TunnelInfo = { admitted, tls: false, servername: undefined };
    tunnels.set(socket, info);
    servers.h1(socket, info);
    return;
  }
  runtime.logger.info("tunnel refused", { run: admitted.tenant.name, host: admitted.target.authority, reason: "neither TLS nor HTTP" });
  socket.destroy();
}

function terminateTls(runtime: ProxyRuntime, socket: Socket, admitted: Admitted, first: Buffer, servers: InnerServers): void {
  const before = runtime.leaves.size;
  const secureContext = runtime.leaves.contextFor(admitted.target);
  runtime.metrics.leafLookup(runtime.leaves.size === before);
  socket.unshift(first);
  const info: TunnelInfo = { admitted, tls: true, servername: undefined };
  const tls = new TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: ["h2", "http/1.1"] });
  const handshakeTimer = setTimeout(() => tls.destroy(), runtime.state.config.limits.tlsHandshakeTimeoutMs);
  // The inner server gets the socket only once the handshake is done: in Bun, a TLSSocket
  // handed to node:http never emits "secure", so a handler attached for the SNI check would
  // never run (every SNI passed) and the handshake timer would end every tunnel.
  tls.once("secure", () => {
    clearTimeout(handshakeTimer);
    info.servername = serverNameOf(tls);
    tunnels.set(tls, info);
    if (tls.alpnProtocol === "h2") servers.h2(info).emit("connection", tls);
    else servers.h1(tls, info);
  });
  tls.once("close", () => clearTimeout(handshakeTimer));
  tls.on("error", (error) => {
    runtime.logger.debug("client TLS failed", { host: admitted.target.authority, error: error.message });
    socket.destroy();
  });
}

/** The server name the client sent (SNI), undefined for none. */
export function serverNameOf(tls: TLSSocket): string | undefined {
  const name = (tls as TLSSocket & { servername?: string | false }).servername;
  return typeof name === "string" && name !== "" ? name : undefined;
}

/** The first chunk after the 200, read without losing it (pause, then one read of what is buffered). */
function firstBytes(socket: Socket): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const done = (value: Buffer | undefined) => {
      socket.off("readable", onReadable).off("close", onClose).off("end", onClose);
      resolve(value);
    };
    const onReadable = () => {
      const chunk = socket.read() as Buffer | null;
      if (chunk !== null) done(chunk);
    };
    const onClose = () => done(undefined);
    socket.on("readable", onReadable).once("close", onClose).once("end", onClose);
    onReadable();
  });
}

/** An HTTP request line starts with a method: an upper-case letter. */
function isHttpStart(byte: number): boolean {
  return byte >= 0x41 && byte <= 0x5a;
}
