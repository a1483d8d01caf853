/**
 * The local listeners of `credproxy tunnel socks`, unprivileged TCP on 127.0.0.1 by default:
 *
 * - the proxy port speaks SOCKS5 and HTTP CONNECT on one socket, told apart by the first byte
 *   (0x05 is SOCKS5's version; an HTTP request starts with an ASCII method);
 * - each -L forward sends every connection to its one fixed HOST:PORT (for psql, database GUIs
 *   and anything else without proxy support).
 *
 * Either way the destination goes to the agent in an OPEN, the client hears the outcome (a
 * SOCKS reply code or an HTTP status with the agent's reason), and on success the connection
 * is piped to the stream (pipe-socket.ts).
 */
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { silentLogger, type Logger } from "../../log.ts";
import type { MuxStream } from "../streams/mux-stream.ts";
import { pipeSocket } from "../streams/pipe-socket.ts";
import { OpenFailReason } from "../streams/stream-frames.ts";
import type { StreamTarget } from "../streams/stream-mux.ts";
import { connectEstablished, HttpConnectRequest, httpError } from "./http-connect-request.ts";
import { socks5Reply, Socks5Handshake, SocksReply, socksReplyFor } from "./socks5-handshake.ts";
import { streamAddressOf } from "./stream-address.ts";

export interface StreamOpener {
  /** Undefined while no tunnel session is up. */
  open(target: StreamTarget): MuxStream | undefined;
}

export interface StreamListener {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** What the client is told when the stream opens, or does not. */
interface Replies {
  ok(): Uint8Array | undefined;
  /** reason undefined: no session is up. */
  fail(reason: number | undefined, text: string): Uint8Array | undefined;
}

const NO_SESSION = "the tunnel has no session up right now (it is reconnecting)";

export function startProxyListener(host: string, port: number, opener: StreamOpener, logger: Logger = silentLogger): Promise<StreamListener> {
  return listen(host, port, "--listen", (socket) => {
    let parser: Socks5Handshake | HttpConnectRequest | undefined;
    const onData = (chunk: Buffer): void => {
      parser ??= chunk[0] === 5 ? new Socks5Handshake() : new HttpConnectRequest();
      let step = parser.push(new Uint8Array(chunk));
      while (step.kind === "reply" && !step.close) {
        socket.write(step.reply);
        step = parser.push(new Uint8Array(0));
      }
      if (step.kind === "more") return;
      if (step.kind === "reply") return void socket.end(step.reply);
      socket.off("data", onData);
      const replies = parser instanceof Socks5Handshake ? socksReplies : httpReplies;
      void bridge(socket, opener, step.target, step.rest, replies, logger);
    };
    socket.on("data", onData);
  }, logger);
}

export function startForwardListener(bindHost: string, bindPort: number, host: string, port: number, opener: StreamOpener, logger: Logger = silentLogger): Promise<StreamListener> {
  const address = streamAddressOf(host);
  if (address === undefined) throw new CredproxyError(ErrorCode.Usage, `-L: "${host}" is not a host name or address`);
  const target = { address, port };
  return listen(bindHost, bindPort, "-L", (socket) => void bridge(socket, opener, target, new Uint8Array(0), silentReplies, logger), logger);
}

async function bridge(socket: Socket, opener: StreamOpener, target: StreamTarget, rest: Uint8Array, replies: Replies, logger: Logger): Promise<void> {
  socket.pause();
  const where = `${target.address.kind === "ipv6" ? `[${target.address.host}]` : target.address.host}:${target.port}`;
  const stream = opener.open(target);
  if (stream === undefined) {
    logger.warn("stream refused here", { to: where, why: NO_SESSION });
    return end(socket, replies.fail(undefined, NO_SESSION));
  }
  const gone = (): void => stream.reset();
  socket.once("close", gone);
  socket.once("error", gone);
  const result = await stream.opened;
  socket.off("close", gone);
  socket.off("error", gone);
  if (!result.ok) {
    logger.info("stream refused by the agent", { to: where, why: result.text });
    return end(socket, replies.fail(result.reason, result.text));
  }
  logger.debug("stream open", { stream: stream.id, to: where });
  const reply = replies.ok();
  if (reply !== undefined) socket.write(reply);
  pipeSocket(socket, stream);
  if (rest.length > 0) stream.write(rest);
  socket.resume();
}

function end(socket: Socket, reply: Uint8Array | undefined): void {
  if (socket.destroyed) return;
  if (reply === undefined) socket.destroy();
  else socket.end(reply);
}

const socksReplies: Replies = {
  ok: () => socks5Reply(SocksReply.Succeeded),
  fail: (reason) => socks5Reply(reason === undefined ? SocksReply.GeneralFailure : socksReplyFor(reason)),
};

const httpReplies: Replies = {
  ok: connectEstablished,
  fail(reason, text) {
    if (reason === undefined) return httpError(503, "Service Unavailable", text);
    if (reason === OpenFailReason.NotAllowed) return httpError(403, "Forbidden", text);
    if (reason === OpenFailReason.Timeout) return httpError(504, "Gateway Timeout", text);
    return httpError(502, "Bad Gateway", text);
  },
};

/** A plain forward has no way to say why: the connection is closed at once. */
const silentReplies: Replies = { ok: () => undefined, fail: () => undefined };

async function listen(host: string, port: number, flag: string, onConnection: (socket: Socket) => void, logger: Logger): Promise<StreamListener> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", (error) => logger.debug("local connection error", { error: error.message }));
    socket.setNoDelay(true);
    onConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      const where = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
      const why = error.code === "EADDRINUSE" ? "the port is in use" : error.code === "EACCES" ? "ports below 1024 need privilege" : error.message;
      reject(new CredproxyError(ErrorCode.Listen, `tunnel socks: cannot listen on ${where} (${flag}): ${why}`, { hint: `pick another port for ${flag}`, cause: error }));
    });
    server.listen(port, host, resolve);
  });
  return {
    host,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
