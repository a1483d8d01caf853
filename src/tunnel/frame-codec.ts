/** Encoding and body decoding of tunnel frames (the layout is documented in frames.ts). */
import { BodyReader, BodyWriter, ipv4FromBytes, ipv4ToBytes } from "./body-codec.ts";
import { CloseReason, FramingError } from "./framing-error.ts";
import {
  FRAME_HEADER_BYTES,
  FrameType,
  HELLO_MAGIC,
  MAX_CONTROL_BODY,
  MAX_FRAME_BODY,
  type CloseFrame,
  type Frame,
  type HelloAckFrame,
  type HelloFrame,
  type PingFrame,
  type PongFrame,
  type BoundStatsFrame,
  type RxReportFrame,
  type StripeJoinedFrame,
  type StripesLiveFrame,
} from "./frames.ts";
import { readIpv6Offer, readIpv6PairIfAny, writeIpv6Offer, writeIpv6Pair } from "./ipv6-offer.ts";
import { checkPeerMajor, type ProtocolVersion, type TunnelRole } from "./protocol-version.ts";
import { decodeStreamBody, encodeStreamBody, isStreamFrameType } from "./streams/stream-frames.ts";

export type HelloFields = Omit<HelloFrame, "type">;
export type HelloAckFields = Omit<HelloAckFrame, "type">;

/** CLOSE text is for humans; longer text is cut (at a character boundary) to this many bytes. */
export const MAX_CLOSE_TEXT_BYTES = 1024;
const MAGIC_BYTES = new TextEncoder().encode(HELLO_MAGIC);
const NONCE_BYTES = 16;
const CLIENT_ID_BYTES = 16;
const MIN_MTU = 68;

/** A frame of any type code around a body: the one place the header is written. */
export function encodeRawFrame(typeCode: number, body: Uint8Array): Uint8Array {
  if (body.length > MAX_FRAME_BODY) {
    throw new FramingError("frame_too_large", `a ${body.length}-byte frame body does not fit the 16-bit length (max ${MAX_FRAME_BODY})`);
  }
  const frame = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  frame[0] = body.length >>> 8;
  frame[1] = body.length & 0xff;
  frame[2] = typeCode;
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

export function encodeHello(hello: HelloFields): Uint8Array {
  if (hello.sessionNonce.length !== NONCE_BYTES) throw new FramingError("bad_body", `the session nonce must be ${NONCE_BYTES} bytes`);
  const w = startHandshakeBody(hello.version, hello.capabilities)
    .u16(checkMtu(hello.mtu))
    .raw(ipv4ToBytes(hello.clientAddress, "the client address"))
    .raw(ipv4ToBytes(hello.agentAddress, "the agent address"))
    .raw(hello.sessionNonce)
    .string8(hello.agentVersion, "the agent version");
  if (hello.ipv6 !== undefined && hello.version.minor >= 2) writeIpv6Offer(w, hello.ipv6);
  return encodeControl(FrameType.Hello, w.finish());
}

export function encodeHelloAck(ack: HelloAckFields): Uint8Array {
  if (ack.clientId.length !== CLIENT_ID_BYTES) throw new FramingError("bad_body", `the client id must be ${CLIENT_ID_BYTES} bytes`);
  checkStripe(ack.stripeIndex, ack.stripeCount, (problem) => new FramingError("bad_body", problem));
  if (ack.cidrs.length > 0xff) throw new FramingError("bad_body", `${ack.cidrs.length} CIDRs; at most 255 fit in HELLO_ACK`);
  const w = startHandshakeBody(ack.version, ack.capabilities)
    .raw(ack.clientId)
    .u8(ack.stripeIndex)
    .u8(ack.stripeCount)
    .string8(ack.hostname, "the hostname")
    .string8(ack.clientVersion, "the client version")
    .u8(ack.cidrs.length);
  for (const cidr of ack.cidrs) w.string8(cidr, "a CIDR");
  return encodeControl(FrameType.HelloAck, w.finish());
}

export function encodeStripeJoined(joined: Omit<StripeJoinedFrame, "type">): Uint8Array {
  const body = new BodyWriter().raw(ipv4ToBytes(joined.clientAddress, "the client address")).raw(ipv4ToBytes(joined.agentAddress, "the agent address"));
  if (joined.ipv6 !== undefined) writeIpv6Pair(body, joined.ipv6);
  return encodeControl(FrameType.StripeJoined, body.finish());
}

export function encodeStripesLive(mask: number): Uint8Array {
  return encodeControl(FrameType.StripesLive, new BodyWriter().u32(mask >>> 0).finish());
}

/** Frames one IP packet. Throws FramingError for an empty, non-IP or oversize packet. */
export function encodePacket(packet: Uint8Array): Uint8Array {
  const problem = packetProblem(packet);
  if (problem) throw new FramingError(packet.length > MAX_FRAME_BODY ? "frame_too_large" : "bad_body", `PACKET: ${problem}`);
  return encodeRawFrame(FrameType.Packet, packet);
}

export function encodePing(id: number, sentAtMicros: number): Uint8Array {
  return encodeControl(FrameType.Ping, new BodyWriter().u64(id).u64(sentAtMicros).finish());
}

/** The answer to a PING: its id and timestamp echoed unchanged. */
export function encodePong(ping: Pick<PingFrame, "id" | "sentAtMicros">): Uint8Array {
  return encodeControl(FrameType.Pong, new BodyWriter().u64(ping.id).u64(ping.sentAtMicros).finish());
}

export function encodeRxReport(receivedBytes: number): Uint8Array {
  return encodeControl(FrameType.RxReport, new BodyWriter().u64(receivedBytes).finish());
}

export function encodeBoundStats(stats: Omit<BoundStatsFrame, "type">): Uint8Array {
  const w = new BodyWriter().u64(stats.drops).u64(stats.dropBytes).u32(stats.limitBytes).u32(stats.inFlightBytes).u32(stats.rateBytesPerSecond).u32(stats.minRttMicros);
  return encodeControl(FrameType.BoundStats, w.finish());
}

export function encodeClose(reason: CloseReason | number, text: string): Uint8Array {
  const bytes = truncateUtf8(new TextEncoder().encode(text), MAX_CLOSE_TEXT_BYTES);
  return encodeControl(FrameType.Close, new BodyWriter().u8(reason).raw(bytes).finish());
}

/** Encodes any frame (dispatches to the functions above). */
export function encodeFrame(frame: Frame): Uint8Array {
  switch (frame.type) {
    case "hello":
      return encodeHello(frame);
    case "hello_ack":
      return encodeHelloAck(frame);
    case "stripe_joined":
      return encodeStripeJoined(frame);
    case "stripes_live":
      return encodeStripesLive(frame.mask);
    case "packet":
      return encodePacket(frame.packet);
    case "ping":
      return encodePing(frame.id, frame.sentAtMicros);
    case "pong":
      return encodePong(frame);
    case "rx_report":
      return encodeRxReport(frame.receivedBytes);
    case "bound_stats":
      return encodeBoundStats(frame);
    case "close":
      return encodeClose(frame.reason, frame.text);
    default: {
      const { typeCode, body } = encodeStreamBody(frame);
      return encodeRawFrame(typeCode, body);
    }
  }
}

/** The tunnel RTT a PONG shows, in microseconds, given the clock now (same clock as the PING). */
export function rttMicros(pong: PongFrame, nowMicros: number): number {
  return Math.max(0, nowMicros - pong.sentAtMicros);
}

/** What the decoder knows when it decodes a body. */
export interface BodyContext {
  readonly ours: ProtocolVersion;
  /** Who sent the frame. */
  readonly peerRole: TunnelRole;
  /** The peer's version, once its HELLO / HELLO_ACK has been read. */
  readonly peer: ProtocolVersion | undefined;
  readonly maxPacket: number;
}

/**
 * Decodes one body of a known type. Returns undefined for a type code we do not know (the
 * decoder decides whether that may be skipped). Throws FramingError for a malformed body.
 */
export function decodeBody(typeCode: number, body: Uint8Array, ctx: BodyContext): Frame | undefined {
  const newerPeer = ctx.peer !== undefined && ctx.peer.minor > ctx.ours.minor;
  switch (typeCode) {
    case FrameType.Hello:
      return decodeHello(body, ctx);
    case FrameType.HelloAck:
      return decodeHelloAck(body, ctx);
    case FrameType.StripeJoined:
      return decodeStripeJoined(body, newerPeer, Math.min(ctx.peer?.minor ?? 0, ctx.ours.minor) >= 2);
    case FrameType.StripesLive:
      return decodeStripesLive(body, newerPeer);
    case FrameType.Packet:
      return decodePacket(body, ctx.maxPacket);
    case FrameType.Ping:
    case FrameType.Pong:
      return decodePingOrPong(typeCode, body, newerPeer);
    case FrameType.RxReport:
      return decodeRxReport(body, newerPeer);
    case FrameType.BoundStats:
      return decodeBoundStats(body, newerPeer);
    case FrameType.Close:
      return decodeClose(body);
    default:
      return isStreamFrameType(typeCode) ? decodeStreamBody(typeCode, body) : undefined;
  }
}

function decodeHello(body: Uint8Array, ctx: BodyContext): HelloFrame {
  const { r, version, capabilities } = readHandshakeStart(body, "HELLO", ctx);
  const mtu = r.u16();
  if (mtu < MIN_MTU) throw r.bad(`MTU ${mtu} is below ${MIN_MTU}`);
  const clientAddress = ipv4FromBytes(r.bytesCopy(4));
  const agentAddress = ipv4FromBytes(r.bytesCopy(4));
  const sessionNonce = r.bytesCopy(NONCE_BYTES);
  const agentVersion = r.string8("the agent version");
  // An old reader (a test pretending to be 1.1) skips them as trailing bytes, as 1.1 does.
  const ipv6 = Math.min(version.minor, ctx.ours.minor) >= 2 ? readIpv6Offer(r) : undefined;
  r.finish();
  return { type: "hello", version, capabilities, mtu, clientAddress, agentAddress, sessionNonce, agentVersion, ...(ipv6 === undefined ? {} : { ipv6 }) };
}

function decodeHelloAck(body: Uint8Array, ctx: BodyContext): HelloAckFrame {
  const { r, version, capabilities } = readHandshakeStart(body, "HELLO_ACK", ctx);
  const clientId = r.bytesCopy(CLIENT_ID_BYTES);
  const stripeIndex = r.u8();
  const stripeCount = r.u8();
  checkStripe(stripeIndex, stripeCount, (problem) => r.bad(problem));
  const hostname = r.string8("the hostname");
  const clientVersion = r.string8("the client version");
  const cidrs: string[] = [];
  for (let n = r.u8(); n > 0; n--) cidrs.push(r.string8("a CIDR"));
  r.finish();
  return { type: "hello_ack", version, capabilities, clientId, stripeIndex, stripeCount, hostname, clientVersion, cidrs };
}

function decodeStripeJoined(body: Uint8Array, newerPeer: boolean, hasIpv6Fields: boolean): StripeJoinedFrame {
  const r = new BodyReader(body, "STRIPE_JOINED", newerPeer);
  const clientAddress = ipv4FromBytes(r.bytesCopy(4));
  const agentAddress = ipv4FromBytes(r.bytesCopy(4));
  const ipv6 = hasIpv6Fields ? readIpv6PairIfAny(r) : undefined;
  r.finish();
  return { type: "stripe_joined", clientAddress, agentAddress, ...(ipv6 === undefined ? {} : { ipv6 }) };
}

function decodeStripesLive(body: Uint8Array, newerPeer: boolean): StripesLiveFrame {
  const r = new BodyReader(body, "STRIPES_LIVE", newerPeer);
  const mask = r.u32();
  r.finish();
  return { type: "stripes_live", mask };
}

function decodePacket(body: Uint8Array, maxPacket: number): Frame {
  const problem = packetProblem(body, maxPacket);
  if (problem) throw new FramingError("bad_body", `PACKET frame: ${problem}`);
  return { type: "packet", packet: body.slice() };
}

function decodePingOrPong(typeCode: number, body: Uint8Array, newerPeer: boolean): PingFrame | PongFrame {
  const type = typeCode === FrameType.Ping ? "ping" : "pong";
  const r = new BodyReader(body, type.toUpperCase(), newerPeer);
  const id = r.u64("the id");
  const sentAtMicros = r.u64("the timestamp");
  r.finish();
  return { type, id, sentAtMicros };
}

function decodeRxReport(body: Uint8Array, newerPeer: boolean): RxReportFrame {
  const r = new BodyReader(body, "RX_REPORT", newerPeer);
  const receivedBytes = r.u64("the received bytes");
  r.finish();
  return { type: "rx_report", receivedBytes };
}

function decodeBoundStats(body: Uint8Array, newerPeer: boolean): BoundStatsFrame {
  const r = new BodyReader(body, "BOUND_STATS", newerPeer);
  const drops = r.u64("the drops");
  const dropBytes = r.u64("the dropped bytes");
  const [limitBytes, inFlightBytes, rateBytesPerSecond, minRttMicros] = [r.u32(), r.u32(), r.u32(), r.u32()];
  r.finish();
  return { type: "bound_stats", drops, dropBytes, limitBytes, inFlightBytes, rateBytesPerSecond, minRttMicros };
}

function decodeClose(body: Uint8Array): CloseFrame {
  const r = new BodyReader(body, "CLOSE", false);
  const reason = r.u8();
  return { type: "close", reason, text: r.restAsString("the text") };
}

/** Magic, major, minor, capabilities: the fields every version of HELLO/HELLO_ACK starts with. */
function startHandshakeBody(version: ProtocolVersion, capabilities: number): BodyWriter {
  return new BodyWriter().raw(MAGIC_BYTES).u8(version.major).u8(version.minor).u32(capabilities);
}

function readHandshakeStart(body: Uint8Array, name: string, ctx: BodyContext) {
  const strict = new BodyReader(body, name, false);
  const magic = strict.bytesCopy(MAGIC_BYTES.length);
  if (!magic.every((byte, i) => byte === MAGIC_BYTES[i])) {
    throw new FramingError("bad_magic", `${name} frame does not start with "${HELLO_MAGIC}": the peer is not a credproxy ${ctx.peerRole}`);
  }
  const version = { major: strict.u8(), minor: strict.u8() };
  checkPeerMajor(version, ctx.peerRole, ctx.ours);
  // Re-read with the peer's own version deciding whether appended fields are allowed.
  const r = new BodyReader(body, name, version.minor > ctx.ours.minor);
  r.bytesCopy(MAGIC_BYTES.length + 2);
  return { r, version, capabilities: r.u32() };
}

function encodeControl(typeCode: FrameType, body: Uint8Array): Uint8Array {
  if (body.length > MAX_CONTROL_BODY) {
    throw new FramingError("frame_too_large", `a ${body.length}-byte control frame is over the ${MAX_CONTROL_BODY}-byte limit`);
  }
  return encodeRawFrame(typeCode, body);
}

function packetProblem(packet: Uint8Array, max: number = MAX_FRAME_BODY): string | undefined {
  if (packet.length === 0) return "empty packet";
  if (packet.length > max) return `${packet.length}-byte packet is over the ${max}-byte limit`;
  const ipVersion = packet[0]! >>> 4;
  if (ipVersion !== 4 && ipVersion !== 6) return `IP version nibble is ${ipVersion}, not 4 or 6`;
  return undefined;
}

function checkMtu(mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_FRAME_BODY) throw new FramingError("bad_body", `MTU ${mtu} is outside ${MIN_MTU}..${MAX_FRAME_BODY}`);
  return mtu;
}

function checkStripe(index: number, count: number, fail: (problem: string) => FramingError): void {
  if (count < 1 || index >= count) throw fail(`stripe ${index}/${count} is not an index below a count of at least 1`);
}

/** Cuts UTF-8 to at most `max` bytes without splitting a character. */
function truncateUtf8(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
