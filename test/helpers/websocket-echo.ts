/**
 * The server half of RFC 6455, just enough for a test origin: the opening handshake on a
 * socket handed over by an HTTP server's "upgrade" event, then an echo of every data frame.
 * Written out by hand (no ws library) so the origin sees exactly the bytes the proxy relays.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 §4.2.2). */
export function websocketAccept(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** One server-to-client frame: FIN set, never masked. */
export function encodeFrame(opcode: number, payload: Uint8Array, fin = true): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (len < 126) head[1] = len;
  else if (len < 65536) {
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

export interface Frame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Parses one frame from the front of `buf`; null when more bytes are needed. */
export function decodeFrame(buf: Buffer): { frame: Frame; rest: Buffer } | null {
  if (buf.length < 2) return null;
  const b0 = buf[0] ?? 0;
  const b1 = buf[1] ?? 0;
  const masked = (b1 & 0x80) !== 0;
  let len = b1 & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (buf.length < 10) return null;
    len = Number(buf.readBigUInt64BE(2));
    off = 10;
  }
  const maskOff = off;
  if (masked) off += 4;
  if (buf.length < off + len) return null;
  const payload = Buffer.from(buf.subarray(off, off + len));
  if (masked) for (let i = 0; i < len; i++) payload[i] = (payload[i] ?? 0) ^ (buf[maskOff + (i % 4)] ?? 0);
  return { frame: { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, payload }, rest: buf.subarray(off + len) };
}

/** Why a handshake was refused, or null when the request is a valid WebSocket upgrade. */
function handshakeProblem(req: IncomingMessage): string | null {
  if (req.method !== "GET") return "WebSocket upgrade must be GET";
  if ((req.headers.upgrade ?? "").toLowerCase() !== "websocket") return "Upgrade is not websocket";
  if (req.headers["sec-websocket-version"] !== "13") return "Sec-WebSocket-Version is not 13";
  const key = req.headers["sec-websocket-key"];
  if (typeof key !== "string" || Buffer.from(key, "base64").length !== 16) return "Sec-WebSocket-Key is not 16 base64 bytes";
  return null;
}

export interface EchoHooks {
  /** Each complete text message received (after unmasking). */
  onText?(text: string): void;
}

/**
 * Answers the handshake on `socket` and echoes text and binary frames back (same opcode and
 * FIN, so fragmented messages come back fragmented), answers pings, and completes the close
 * handshake. Unmasked client frames are a protocol error (close 1002).
 */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, hooks: EchoHooks = {}): boolean {
  const problem = handshakeProblem(req);
  if (problem !== null) {
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${problem.length}\r\nConnection: close\r\n\r\n${problem}`);
    return false;
  }
  const accept = websocketAccept(String(req.headers["sec-websocket-key"]));
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let buf: Buffer = Buffer.from(head);
  let textParts: Buffer[] | null = null;
  const onData = (chunk: Buffer): void => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const parsed = decodeFrame(buf);
      if (parsed === null) return;
      buf = parsed.rest;
      const { frame } = parsed;
      if (!frame.masked) {
        socket.end(encodeFrame(OP.close, Buffer.from([0x03, 0xea])));
        return;
      }
      switch (frame.opcode) {
        case OP.text:
        case OP.binary:
        case OP.continuation:
          if (frame.opcode === OP.text) textParts = [];
          if (textParts !== null) textParts.push(frame.payload);
          if (frame.fin && textParts !== null) {
            hooks.onText?.(Buffer.concat(textParts).toString("utf8"));
            textParts = null;
          }
          socket.write(encodeFrame(frame.opcode, frame.payload, frame.fin));
          break;
        case OP.ping:
          socket.write(encodeFrame(OP.pong, frame.payload));
          break;
        case OP.close:
          socket.end(encodeFrame(OP.close, frame.payload.subarray(0, 2)));
          return;
        default:
          break;
      }
    }
  };
  socket.on("data", onData);
  socket.on("error", () => socket.destroy());
  if (buf.length > 0) onData(Buffer.alloc(0));
  return true;
}
