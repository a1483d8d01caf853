/**
 * The agent's side of a stream in socks mode: resolve and check the destination
 * (stream-destination.ts), dial TCP with a timeout, answer OPEN_OK or OPEN_FAIL with the reason,
 * then pipe the connection to the stream.
 */
import { connect, type Socket } from "node:net";
import type { Cidr } from "../net/cidr.ts";
import { silentLogger, type Logger } from "../log.ts";
import type { MuxStream } from "../tunnel/streams/mux-stream.ts";
import { pipeSocket } from "../tunnel/streams/pipe-socket.ts";
import { OpenFailReason } from "../tunnel/streams/stream-frames.ts";
import type { StreamTarget } from "../tunnel/streams/stream-mux.ts";
import { streamDestination, systemResolver, type Resolver } from "./stream-destination.ts";

export const DIAL_TIMEOUT_MS = 10_000;

export interface StreamDialerOptions {
  readonly allowCidrs: readonly Cidr[] | undefined;
  readonly resolve?: Resolver;
  readonly timeoutMs?: number;
  readonly logger?: Logger;
}

export type StreamDialer = (stream: MuxStream, target: StreamTarget) => void;

export function streamDialer(options: StreamDialerOptions): StreamDialer {
  const logger = options.logger ?? silentLogger;
  return (stream, target) => void dial(stream, target, options, logger);
}

async function dial(stream: MuxStream, target: StreamTarget, options: StreamDialerOptions, logger: Logger): Promise<void> {
  let cancelled = false;
  let socket: Socket | undefined;
  stream.onClosed(() => {
    cancelled = true;
    socket?.destroy();
  });
  const destination = await streamDestination(target.address, options.allowCidrs, options.resolve ?? systemResolver);
  if (cancelled) return;
  const where = `${target.address.kind === "ipv6" ? `[${target.address.host}]` : target.address.host}:${target.port}`;
  if (!destination.ok) {
    logger.info("stream refused", { stream: stream.id, to: where, why: destination.text });
    return stream.fail(destination.reason, destination.text);
  }
  const timeoutMs = options.timeoutMs ?? DIAL_TIMEOUT_MS;
  const s = connect({ host: destination.address.text, port: target.port, allowHalfOpen: true });
  socket = s;
  s.setTimeout(timeoutMs);
  s.once("timeout", () => s.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: "ETIMEDOUT" })));
  let connected = false;
  s.once("error", (error: NodeJS.ErrnoException) => {
    if (!connected) {
      const [reason, why] = failReason(error.code);
      logger.info("stream dial failed", { stream: stream.id, to: where, address: destination.address.text, error: error.code ?? error.message });
      stream.fail(reason, `${where} (${destination.address.text}): ${why}`);
    }
  });
  s.once("connect", () => {
    connected = true;
    s.setTimeout(0);
    s.setNoDelay(true);
    logger.debug("stream connected", { stream: stream.id, to: where, address: destination.address.text });
    pipeSocket(s, stream);
    stream.accept();
  });
}

function failReason(code: string | undefined): [OpenFailReason, string] {
  switch (code) {
    case "ECONNREFUSED":
      return [OpenFailReason.Refused, "connection refused"];
    case "ETIMEDOUT":
      return [OpenFailReason.Timeout, "no answer (timed out)"];
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "EADDRNOTAVAIL":
      return [OpenFailReason.Unreachable, "network or host unreachable"];
    default:
      return [OpenFailReason.Failed, `dial failed (${code ?? "unknown error"})`];
  }
}
