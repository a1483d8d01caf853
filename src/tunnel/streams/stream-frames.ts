/**
 * The stream frames of `credproxy tunnel socks` (the streams capability): TCP connections the
 * agent dials itself, carried beside (or instead of) PACKET frames in the same framing
 * (frames.ts: `len:u16be type:u8 body`). Every body starts with the stream id (u32).
 *
 * - OPEN       id, port u16, address (kind u8: 1 IPv4 4 B, 4 IPv6 16 B, 3 name u8+UTF-8),
 *              window u32: the bytes the opener will accept before its first CREDIT
 * - OPEN_OK    id, window u32: the same grant from the side that dialled
 * - OPEN_FAIL  id, reason u8, UTF-8 text
 * - DATA       id, 1..16384 bytes; never more than the receiver granted (windows + CREDITs)
 * - CREDIT     id, bytes u32 > 0: the receiver consumed that many, the sender may send them again
 * - STREAM_CLOSE id, kind u8: 0 end (no more DATA from the sender; half-close), 1 reset (both
 *              directions gone, discard everything)
 */
import { BodyReader, BodyWriter, ipv4FromBytes, ipv4ToBytes } from "../body-codec.ts";
import { FramingError } from "../framing-error.ts";
import { formatIpv6, parseIpv6 } from "../../net/ip-address.ts";

export const StreamFrameType = {
  Open: 0x40,
  OpenOk: 0x41,
  OpenFail: 0x42,
  Data: 0x43,
  Credit: 0x44,
  StreamClose: 0x45,
} as const;
export type StreamFrameType = (typeof StreamFrameType)[keyof typeof StreamFrameType];

export const STREAM_FRAME_NAMES: ReadonlyMap<number, string> = new Map([
  [StreamFrameType.Open, "OPEN"],
  [StreamFrameType.OpenOk, "OPEN_OK"],
  [StreamFrameType.OpenFail, "OPEN_FAIL"],
  [StreamFrameType.Data, "DATA"],
  [StreamFrameType.Credit, "CREDIT"],
  [StreamFrameType.StreamClose, "STREAM_CLOSE"],
]);

/** The most payload one DATA frame carries: small, so one frame of a bulk stream is short to wait behind. */
export const MAX_DATA_BYTES = 16 * 1024;
/** The largest body a stream frame may announce (a full DATA frame). */
export const MAX_STREAM_BODY = 4 + MAX_DATA_BYTES;
/** A window or the sum of credits beyond this is a broken peer (a u32 could wrap). */
export const MAX_WINDOW_BYTES = 16 * 1024 * 1024;
const MAX_HOST_BYTES = 255;

/** Why a stream could not be opened; stable on the wire, mapped to SOCKS reply codes by the client. */
export const OpenFailReason = {
  /** Something the dialler did not expect. */
  Failed: 1,
  /** The destination is outside the agent's --allow-cidr. */
  NotAllowed: 2,
  /** The network or host is unreachable. */
  Unreachable: 3,
  /** The destination answered with a reset (nothing listens there). */
  Refused: 4,
  /** No answer within the dial timeout. */
  Timeout: 5,
  /** The name does not resolve at the agent. */
  NoSuchHost: 6,
  /** The agent holds as many streams for this client as it allows. */
  TooManyStreams: 7,
} as const;
export type OpenFailReason = (typeof OpenFailReason)[keyof typeof OpenFailReason];

export type StreamAddress =
  | { readonly kind: "ipv4"; readonly host: string }
  | { readonly kind: "ipv6"; readonly host: string }
  | { readonly kind: "name"; readonly host: string };

export interface OpenFrame {
  readonly type: "open";
  readonly streamId: number;
  readonly address: StreamAddress;
  readonly port: number;
  readonly window: number;
}
export interface OpenOkFrame {
  readonly type: "open_ok";
  readonly streamId: number;
  readonly window: number;
}
export interface OpenFailFrame {
  readonly type: "open_fail";
  readonly streamId: number;
  readonly reason: OpenFailReason | number;
  readonly text: string;
}
export interface DataFrame {
  readonly type: "data";
  readonly streamId: number;
  readonly bytes: Uint8Array;
}
export interface CreditFrame {
  readonly type: "credit";
  readonly streamId: number;
  readonly bytes: number;
}
export interface StreamCloseFrame {
  readonly type: "stream_close";
  readonly streamId: number;
  readonly kind: "end" | "reset";
}

export type StreamFrame = OpenFrame | OpenOkFrame | OpenFailFrame | DataFrame | CreditFrame | StreamCloseFrame;

export function isStreamFrameType(typeCode: number): boolean {
  return STREAM_FRAME_NAMES.has(typeCode);
}

const ADDRESS_KIND = { ipv4: 1, name: 3, ipv6: 4 } as const;
const CLOSE_KIND = { end: 0, reset: 1 } as const;
const utf8 = new TextEncoder();

/** The body of a stream frame (the caller adds the frame header). */
export function encodeStreamBody(frame: StreamFrame): { typeCode: StreamFrameType; body: Uint8Array } {
  const w = new BodyWriter().u32(checkStreamId(frame.streamId));
  switch (frame.type) {
    case "open":
      w.u16(checkPort(frame.port));
      writeAddress(w, frame.address);
      return { typeCode: StreamFrameType.Open, body: w.u32(checkWindow(frame.window)).finish() };
    case "open_ok":
      return { typeCode: StreamFrameType.OpenOk, body: w.u32(checkWindow(frame.window)).finish() };
    case "open_fail":
      return { typeCode: StreamFrameType.OpenFail, body: w.u8(frame.reason).raw(utf8.encode(frame.text).subarray(0, 512)).finish() };
    case "data":
      if (frame.bytes.length === 0 || frame.bytes.length > MAX_DATA_BYTES) throw new FramingError("bad_body", `DATA of ${frame.bytes.length} bytes; 1..${MAX_DATA_BYTES} fit`);
      return { typeCode: StreamFrameType.Data, body: w.raw(frame.bytes).finish() };
    case "credit":
      return { typeCode: StreamFrameType.Credit, body: w.u32(checkCredit(frame.bytes)).finish() };
    case "stream_close":
      return { typeCode: StreamFrameType.StreamClose, body: w.u8(CLOSE_KIND[frame.kind]).finish() };
  }
}

/** Decodes one stream frame body strictly (bounds, address forms, no trailing bytes). */
export function decodeStreamBody(typeCode: number, body: Uint8Array): StreamFrame {
  const name = STREAM_FRAME_NAMES.get(typeCode) ?? `type 0x${typeCode.toString(16)}`;
  const r = new BodyReader(body, name, false);
  const streamId = r.u32();
  if (streamId === 0) throw r.bad("stream id 0 is reserved");
  const frame = decodeRest(typeCode, streamId, r);
  r.finish();
  return frame;
}

function decodeRest(typeCode: number, streamId: number, r: BodyReader): StreamFrame {
  switch (typeCode) {
    case StreamFrameType.Open: {
      const port = r.u16();
      if (port === 0) throw r.bad("port 0");
      const address = readAddress(r);
      return { type: "open", streamId, address, port, window: readWindow(r) };
    }
    case StreamFrameType.OpenOk:
      return { type: "open_ok", streamId, window: readWindow(r) };
    case StreamFrameType.OpenFail:
      return { type: "open_fail", streamId, reason: r.u8(), text: r.restAsString("the text") };
    case StreamFrameType.Data: {
      if (r.remaining === 0) throw r.bad("no bytes");
      if (r.remaining > MAX_DATA_BYTES) throw r.bad(`${r.remaining} bytes is over the ${MAX_DATA_BYTES}-byte limit`);
      return { type: "data", streamId, bytes: r.bytesCopy(r.remaining) };
    }
    case StreamFrameType.Credit: {
      const bytes = r.u32();
      if (bytes === 0 || bytes > MAX_WINDOW_BYTES) throw r.bad(`a credit of ${bytes} bytes is outside 1..${MAX_WINDOW_BYTES}`);
      return { type: "credit", streamId, bytes };
    }
    case StreamFrameType.StreamClose: {
      const kind = r.u8();
      if (kind !== CLOSE_KIND.end && kind !== CLOSE_KIND.reset) throw r.bad(`close kind ${kind} is neither 0 (end) nor 1 (reset)`);
      return { type: "stream_close", streamId, kind: kind === CLOSE_KIND.end ? "end" : "reset" };
    }
    default:
      throw r.bad("not a stream frame type");
  }
}

function writeAddress(w: BodyWriter, address: StreamAddress): void {
  w.u8(ADDRESS_KIND[address.kind]);
  if (address.kind === "ipv4") w.raw(ipv4ToBytes(address.host, "the destination"));
  else if (address.kind === "ipv6") {
    const ip = parseIpv6(address.host);
    if (ip === undefined) throw new FramingError("bad_body", `the destination ${JSON.stringify(address.host)} is not an IPv6 address`);
    w.raw(ip.bytes);
  } else {
    checkHostName(address.host, (problem) => new FramingError("bad_body", problem));
    w.string8(address.host, "the destination name");
  }
}

function readAddress(r: BodyReader): StreamAddress {
  const kind = r.u8();
  if (kind === ADDRESS_KIND.ipv4) return { kind: "ipv4", host: ipv4FromBytes(r.bytesCopy(4)) };
  if (kind === ADDRESS_KIND.ipv6) return { kind: "ipv6", host: formatIpv6(r.bytesCopy(16)) };
  if (kind !== ADDRESS_KIND.name) throw r.bad(`address kind ${kind} is not 1 (IPv4), 3 (name) or 4 (IPv6)`);
  const host = r.string8("the destination name");
  checkHostName(host, (problem) => r.bad(problem));
  return { kind: "name", host };
}

/** A DNS name as SOCKS and CONNECT carry it: 1..255 bytes of letters, digits, '-', '_', '.'. */
function checkHostName(host: string, fail: (problem: string) => FramingError): void {
  if (host.length === 0 || utf8.encode(host).length > MAX_HOST_BYTES) throw fail(`the destination name must be 1..${MAX_HOST_BYTES} bytes`);
  if (!/^[A-Za-z0-9_.-]+$/.test(host) || host.startsWith(".") || host.includes("..")) throw fail(`the destination name ${JSON.stringify(host)} is not a host name`);
}

function readWindow(r: BodyReader): number {
  const window = r.u32();
  if (window > MAX_WINDOW_BYTES) throw r.bad(`a window of ${window} bytes is over the ${MAX_WINDOW_BYTES}-byte limit`);
  return window;
}

function checkStreamId(id: number): number {
  if (!Number.isInteger(id) || id < 1 || id > 0xffffffff) throw new FramingError("bad_body", `stream id ${id} is outside 1..2^32-1`);
  return id;
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new FramingError("bad_body", `port ${port} is outside 1..65535`);
  return port;
}

function checkWindow(window: number): number {
  if (!Number.isInteger(window) || window < 0 || window > MAX_WINDOW_BYTES) throw new FramingError("bad_body", `window ${window} is outside 0..${MAX_WINDOW_BYTES}`);
  return window;
}

function checkCredit(bytes: number): number {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_WINDOW_BYTES) throw new FramingError("bad_body", `credit ${bytes} is outside 1..${MAX_WINDOW_BYTES}`);
  return bytes;
}
