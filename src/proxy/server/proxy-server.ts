/**
 * The proxy's listener: a raw TCP server (Bun's http.Server 'connect' event cannot take a
 * per-connection certificate; bun-platform.md §6) that reads each connection's first request
 * head itself, refuses what it must (too many connections 503, head too large 431, malformed
 * 400, TRACE 405), and hands the connection on:
 *
 * - CONNECT → admission (token, canonical target, policy, addresses) → an intercepted tunnel
 *   when the tenant has a credential for the target (or intercept: all), else an opaque one;
 * - anything else → the plain server (absolute-form http:// and the proxy's own paths), also
 *   behind TLS when the client opened with TLS (direct-tls.ts).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import { createServer as createHttp2Server, type Http2Server, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { createServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { networkInterfaces } from "node:os";
import { bindError } from "../../http/listen.ts";
import { classifyAddress, type SelfAddress } from "../address-class.ts";
import { parseIp } from "../../net/ip-address.ts";
import { parseProxyRequestHead, headerValue, type ProxyRequestHead } from "../proxy-request-head.ts";
import { refusalBytes, unparsableRequest, type Refusal } from "../refusal.ts";
import { hasCredentialFor } from "../select-credentials.ts";
import { admit, type Admitted } from "./admit.ts";
import { sendRefusal } from "./client-side.ts";
import { forwardFrom, forwardRequest } from "./forward-request.ts";
import { serveInnerH1 } from "./inner-h1-connection.ts";
import { forwardUpgrade } from "./forward-upgrade.ts";
import { interceptTunnel, serverNameOf, tunnels, type TunnelInfo } from "./intercept-tunnel.ts";
import { opaqueTunnel } from "./opaque-tunnel.ts";
import { plainRequest } from "./plain-requests.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";
import { readFirstHead } from "./read-first-head.ts";
import { reportRefusal } from "./report-refusal.ts";
import { directTls } from "../relay/direct-tls.ts";

export interface ProxyServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startProxyServer(runtime: ProxyRuntime): Promise<ProxyServer> {
  const inner = innerServer(runtime);
  const plain = createHttpServer({ maxHeaderSize: runtime.state.config.limits.maxHeaderBytes }, (req, res) => void plainRequest(runtime, req, res).catch((e) => internalError(runtime, res, e)));
  const sockets = new Set<Socket>();
  const server = createServer({ pauseOnConnect: false }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    void onConnection(runtime, socket, inner, plain).catch((error) => {
      runtime.logger.error("connection failed", { error });
      socket.destroy();
    });
  });
  const { host, port } = runtime.state.config.listen;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(bindError({ name: "proxy", hostname: host, port, configKey: "listen in proxy.yaml or --listen" }, error)));
    server.listen({ host, port }, () => resolve());
  });
  const bound = server.address() as { address: string; port: number };
  runtime.self.push(...selfAddresses(bound));
  return { host: bound.address, port: bound.port, close: () => closeAll(server, sockets, [inner, plain]) };
}

async function onConnection(runtime: ProxyRuntime, socket: Socket, inner: HttpServer, plain: HttpServer): Promise<void> {
  const limits = runtime.state.config.limits;
  socket.on("error", () => {});
  if (runtime.connections >= limits.maxConnections) return refuseRaw(socket, { status: 503, code: "too-many-connections", message: `credproxy has ${limits.maxConnections} connections open (limits.max_connections); try again shortly.` });
  runtime.connections++;
  socket.once("close", () => runtime.connections--);
  const first = await readFirstHead(socket, { maxBytes: limits.maxHeaderBytes, timeoutMs: limits.tlsHandshakeTimeoutMs, sniffTls: true });
  if ("tls" in first) return directTls(runtime, socket, first.tls, plain);
  if ("error" in first) {
    if (first.error === "too large") refuseRaw(socket, { status: 431, code: "head-too-large", message: `credproxy refused the request: its head is larger than ${limits.maxHeaderBytes} bytes (limits.max_header_bytes).` });
    else if (first.error === "bare LF") refuseRaw(socket, { status: 400, code: "bad-head", message: "credproxy refused the request: a line ends in a bare LF." });
    else socket.destroy();
    return;
  }
  const head = parseProxyRequestHead(first.head);
  if ("reason" in head) return refuseRaw(socket, { status: head.status, code: head.code, message: `credproxy refused the request: ${head.reason}.` });
  if (head.form !== "authority") {
    socket.unshift(Buffer.concat([Buffer.from(first.head + "\r\n\r\n", "latin1"), first.rest]));
    socket.once("close", runtime.metrics.opened("plain"));
    plain.emit("connection", socket);
    return;
  }
  await onConnect(runtime, socket, head, first.rest, inner);
}

async function onConnect(runtime: ProxyRuntime, socket: Socket, head: ProxyRequestHead, rest: Buffer, inner: HttpServer): Promise<void> {
  const started = performance.now();
  const admitted = await admit(
    { authority: head.target, proxyAuthorization: headerValue(head, "proxy-authorization") },
    { config: runtime.state.config, runs: runtime.state.runs, self: runtime.self, lookup: runtime.lookup, viaProxy: (t) => runtime.chooseProxy(t, true) !== undefined },
  );
  if ("status" in admitted) {
    refuseRaw(socket, admitted);
    return reportRefusal(runtime, admitted, { method: "CONNECT", started });
  }
  if (admitted.decision.wouldDeny) runtime.logger.warn("policy would deny (report mode)", { run: admitted.tenant.name, host: admitted.target.authority, reason: admitted.decision.wouldDeny.code });
  if (!intercepts(admitted)) return opaqueTunnel(runtime, socket, admitted, rest);
  socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
  const close = runtime.metrics.opened("intercept");
  socket.once("close", close);
  socket.setTimeout(runtime.state.config.limits.idleTimeoutMs, () => socket.destroy());
  await interceptTunnel(runtime, socket, admitted, rest, { h1: (inside, info) => innerH1(runtime, inside, info, inner), h2: (info) => h2Server(runtime, info) });
}

/** A tunnel's HTTP/1.1: the proxy's own connection, which hands anything out of the ordinary to node:http. */
function innerH1(runtime: ProxyRuntime, socket: Duplex, info: TunnelInfo, inner: HttpServer): void {
  serveInnerH1(socket, {
    maxHeaderBytes: runtime.state.config.limits.maxHeaderBytes,
    handOver: (unread) => {
      if (unread.length > 0) socket.unshift(unread);
      inner.emit("connection", socket);
      if (socket.isPaused()) socket.resume();
    },
    forward: (client, request) =>
      forwardFrom(runtime, client, { admitted: info.admitted, tls: info.tls, servername: info.servername, mode: "intercept", path: request.head.target }).catch((e) =>
        internalError(runtime, (refusal) => client.refuse(refusal, {}), e),
      ),
  });
}

function intercepts(admitted: Admitted): boolean {
  return admitted.tenant.intercept === "all" || hasCredentialFor([...admitted.tenant.credentials, ...admitted.tenant.awsCredentials], admitted.target);
}

/** The node:http server every intercepted tunnel's decrypted requests go to. */
function innerServer(runtime: ProxyRuntime): HttpServer {
  const server = createHttpServer({ maxHeaderSize: runtime.state.config.limits.maxHeaderBytes }, (req, res) => {
    const info = tunnels.get(req.socket);
    if (!info) return void res.destroy();
    const path = req.url ?? "/";
    if (!path.startsWith("/")) {
      return sendRefusal(res, { status: 400, code: "bad-target", message: "credproxy refused the request: inside a tunnel, requests take a /path." });
    }
    void forwardRequest(runtime, req, res, { admitted: info.admitted, tls: info.tls, servername: info.servername ?? (info.tls ? serverNameOf(req.socket as TLSSocket) : undefined), mode: "intercept", path }).catch((e) => internalError(runtime, res, e));
  });
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const info = tunnels.get(req.socket) ?? tunnels.get(socket);
    if (!info) return void socket.destroy();
    void forwardUpgrade(runtime, req, socket, head, info).catch((error) => {
      runtime.logger.error("upgrade failed", { error });
      socket.destroy();
    });
  });
  // A head node:http cannot parse (CL beside TE, obs-fold, bare LF, too large) gets an answer, not a bare close.
  server.on("clientError", (error: Error & { code?: string }, socket: Socket) => {
    if (socket.writable) socket.end(refusalBytes(unparsableRequest(error.code)));
    socket.destroySoon?.();
  });
  return server;
}

/** HTTP/2 inside one intercepted tunnel: each stream is a request like any other (upstream over HTTP/1.1). */
function h2Server(runtime: ProxyRuntime, info: TunnelInfo): Http2Server {
  const server = createHttp2Server({ maxSendHeaderBlockLength: runtime.state.config.limits.maxHeaderBytes });
  server.on("request", (req: Http2ServerRequest, res: Http2ServerResponse) => {
    const path = req.url ?? "/";
    const request = req as unknown as IncomingMessage;
    const response = res as unknown as ServerResponse;
    if (!path.startsWith("/") || req.method === "CONNECT") return sendRefusal(response, { status: 400, code: "bad-target", message: "credproxy refused the request: inside a tunnel, requests take a /path." });
    void forwardRequest(runtime, request, response, { admitted: info.admitted, tls: true, servername: info.servername, mode: "intercept", path }).catch((e) => internalError(runtime, response, e));
  });
  server.on("sessionError", () => {});
  return server;
}

/**
 * Where dialling would reach this proxy: its bound address, and on 0.0.0.0 or :: every address
 * of this host's interfaces too (an allowed public address of this host is still the proxy).
 */
function selfAddresses(bound: { address: string; port: number }): SelfAddress[] {
  const own = parseIp(bound.address);
  if (!own) return [];
  const out: SelfAddress[] = [{ address: own, port: bound.port }];
  if (classifyAddress(own).class !== "unspecified") return out;
  for (const list of Object.values(networkInterfaces())) {
    for (const iface of list ?? []) {
      const address = parseIp(iface.address.split("%", 1)[0]!);
      if (address) out.push({ address, port: bound.port });
    }
  }
  return out;
}

function refuseRaw(socket: Socket, refusal: Refusal): void {
  socket.end(refusalBytes(refusal));
  socket.once("finish", () => socket.destroySoon?.());
}

function internalError(runtime: ProxyRuntime, refuse: ServerResponse | ((refusal: Refusal) => void), error: unknown): void {
  runtime.logger.error("request failed", { error });
  const refusal: Refusal = { status: 502, code: "internal-error", message: "credproxy failed on this request; its log says why." };
  if (typeof refuse === "function") refuse(refusal);
  else sendRefusal(refuse, refusal);
}

async function closeAll(server: Server, sockets: Set<Socket>, servers: HttpServer[]): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const socket of sockets) socket.destroy();
  for (const s of servers) s.closeAllConnections?.();
  await closed;
}
