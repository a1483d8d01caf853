/**
 * The Session Manager data channel's binary message ("ClientMessage"; the agent calls it
 * AgentMessage): a 120-byte big-endian header followed by the payload. Layout and the test vector:
 * shared/reference/ssm-tunnel.md §2.3; ssm-tunnel-2.md §7 on how the Go readers find the payload.
 *
 * | off | size | field                                                        |
 * |----:|-----:|--------------------------------------------------------------|
 * |   0 |    4 | HeaderLength (u32, senders write 116 = offset of PayloadLength) |
 * |   4 |   32 | MessageType (ASCII, right-padded with spaces)                |
 * |  36 |    4 | SchemaVersion (u32 = 1)                                      |
 * |  40 |    8 | CreatedDate (u64 Unix ms, non-zero)                          |
 * |  48 |    8 | SequenceNumber (i64)                                         |
 * |  56 |    8 | Flags (u64: bit0 SYN, bit1 FIN)                              |
 * |  64 |   16 | MessageId (UUID with its two 8-byte halves swapped)          |
 * |  80 |   32 | PayloadDigest (SHA-256 of the payload)                       |
 * | 112 |    4 | PayloadType (u32)                                            |
 * | 116 |    4 | PayloadLength (u32)                                          |
 * | 120 |    n | Payload                                                      |
 *
 * Pure: no I/O, no clock. Every failure is a CredproxyError with code E_SSM_PROTOCOL and a
 * `details.reason` word, so a caller can count and drop bad frames without catching TypeErrors.
 */
import { createHash } from "node:crypto";
import { MessageType } from "./message-types.ts";
import { protocolError } from "./ssm-error.ts";
import { uuidFromBytes, uuidToBytes } from "./uuid-bytes.ts";

/** One decoded or to-be-encoded data channel message. */
export interface ClientMessage {
  /** e.g. "input_stream_data"; at most 32 ASCII characters. */
  readonly messageType: string;
  readonly schemaVersion: number;
  /** Unix epoch milliseconds. */
  readonly createdDate: number;
  readonly sequenceNumber: number;
  /** A u64; a bigint so that any value the service sends survives a decode/encode round trip. */
  readonly flags: bigint;
  /** Hyphenated lowercase UUID, in the usual text order (the wire swap is undone). */
  readonly messageId: string;
  readonly payloadType: number;
  readonly payload: Uint8Array;
}

/** Bytes before the payload. */
export const CLIENT_MESSAGE_HEADER_BYTES = 120;
/** What senders put in HeaderLength: the offset of PayloadLength. */
export const HEADER_LENGTH_VALUE = 116;

const MESSAGE_TYPE_OFFSET = 4;
const MESSAGE_TYPE_BYTES = 32;
const SCHEMA_VERSION_OFFSET = 36;
const CREATED_DATE_OFFSET = 40;
const SEQUENCE_NUMBER_OFFSET = 48;
const FLAGS_OFFSET = 56;
const MESSAGE_ID_OFFSET = 64;
const DIGEST_OFFSET = 80;
const DIGEST_BYTES = 32;
const PAYLOAD_TYPE_OFFSET = 112;
const PAYLOAD_LENGTH_OFFSET = 116;

/** Message types the plugin accepts without any header checks (ssm-tunnel.md §2.3). */
const UNCHECKED_TYPES: ReadonlySet<string> = new Set([MessageType.StartPublication, MessageType.PausePublication]);

export interface DecodeOptions {
  /**
   * Refuse a payload whose SHA-256 differs from PayloadDigest (default true). The agent never
   * checks the digest and how real traffic behaves is unverified (ssm-tunnel.md §2.3), so a
   * caller may turn this off in production and count mismatches via `payloadDigestMatches`.
   */
  readonly checkDigest?: boolean;
}

/** SHA-256 of the payload, as PayloadDigest carries it. */
export function payloadDigest(payload: Uint8Array): Uint8Array {
  return Uint8Array.from(createHash("sha256").update(payload).digest());
}

/** Encodes a message into one binary WebSocket frame. Refuses values the header cannot hold. */
export function encodeClientMessage(message: ClientMessage): Uint8Array {
  checkEncodable(message);
  const frame = new Uint8Array(CLIENT_MESSAGE_HEADER_BYTES + message.payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, HEADER_LENGTH_VALUE);
  frame.fill(0x20, MESSAGE_TYPE_OFFSET, MESSAGE_TYPE_OFFSET + MESSAGE_TYPE_BYTES);
  frame.set(new TextEncoder().encode(message.messageType), MESSAGE_TYPE_OFFSET);
  view.setUint32(SCHEMA_VERSION_OFFSET, message.schemaVersion);
  view.setBigUint64(CREATED_DATE_OFFSET, BigInt(message.createdDate));
  view.setBigInt64(SEQUENCE_NUMBER_OFFSET, BigInt(message.sequenceNumber));
  view.setBigUint64(FLAGS_OFFSET, message.flags);
  frame.set(swapHalves(uuidToBytes(message.messageId)), MESSAGE_ID_OFFSET);
  frame.set(payloadDigest(message.payload), DIGEST_OFFSET);
  view.setUint32(PAYLOAD_TYPE_OFFSET, message.payloadType);
  view.setUint32(PAYLOAD_LENGTH_OFFSET, message.payload.length);
  frame.set(message.payload, CLIENT_MESSAGE_HEADER_BYTES);
  return frame;
}

/** The checks that keep encode from writing a header that silently means something else. */
function checkEncodable(message: ClientMessage): void {
  if (!/^[\x21-\x7e]{1,32}$/.test(message.messageType)) {
    throw protocolError("message-type", `message type must be 1–32 printable ASCII characters: ${JSON.stringify(message.messageType.slice(0, 40))}`);
  }
  requireUnsignedInt("schema version", message.schemaVersion, 0xffffffff);
  requireUnsignedInt("payload type", message.payloadType, 0xffffffff);
  requireUnsignedInt("created date", message.createdDate, Number.MAX_SAFE_INTEGER);
  if (!Number.isSafeInteger(message.sequenceNumber)) throw protocolError("sequence-number", `sequence number is not a safe integer: ${message.sequenceNumber}`);
  if (message.flags < 0n || message.flags > 0xffffffffffffffffn) throw protocolError("flags", `flags do not fit a u64: ${message.flags}`);
  if (message.payload.length > 0xffffffff) throw protocolError("payload-length", "payload longer than a u32 can count");
}

function requireUnsignedInt(what: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw protocolError(what.replaceAll(" ", "-"), `${what} out of range: ${value}`);
}

/**
 * Decodes one binary frame. Follows the Go readers (ssm-tunnel-2.md §7): PayloadLength at the
 * fixed offset 116, the payload from HeaderLength + 4 to the end of the frame. Where they would
 * accept a payload whose size differs from PayloadLength, this refuses it: such a frame is
 * garbled, and the sender's resend will bring a good copy.
 */
export function decodeClientMessage(frame: Uint8Array, options: DecodeOptions = {}): ClientMessage {
  if (frame.length < CLIENT_MESSAGE_HEADER_BYTES) {
    throw protocolError("short", `message of ${frame.length} bytes is shorter than the ${CLIENT_MESSAGE_HEADER_BYTES}-byte header`);
  }
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const messageType = readMessageType(frame);
  const payload = readPayload(frame, view);
  const message: ClientMessage = {
    messageType,
    schemaVersion: view.getUint32(SCHEMA_VERSION_OFFSET),
    createdDate: readSafe("created-date", view.getBigUint64(CREATED_DATE_OFFSET)),
    sequenceNumber: readSafe("sequence-number", view.getBigInt64(SEQUENCE_NUMBER_OFFSET)),
    flags: view.getBigUint64(FLAGS_OFFSET),
    messageId: uuidFromBytes(swapHalves(frame.subarray(MESSAGE_ID_OFFSET, MESSAGE_ID_OFFSET + 16))),
    payloadType: view.getUint32(PAYLOAD_TYPE_OFFSET),
    payload,
  };
  if (!UNCHECKED_TYPES.has(messageType)) validate(message, frame, options);
  return message;
}

/** The plugin's checks: CreatedDate set, and (if asked and there is a payload) the digest matching. */
function validate(message: ClientMessage, frame: Uint8Array, options: DecodeOptions): void {
  if (message.createdDate === 0) throw protocolError("created-date", "message has CreatedDate 0");
  if (options.checkDigest !== false && message.payload.length > 0 && !payloadDigestMatches(frame)) {
    throw protocolError("digest", `payload digest mismatch on ${message.messageType} #${message.sequenceNumber}`);
  }
}

/** True when the frame's PayloadDigest is the SHA-256 of its payload. Expects a decodable frame. */
export function payloadDigestMatches(frame: Uint8Array): boolean {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const payload = frame.subarray(view.getUint32(0) + 4);
  const expected = frame.subarray(DIGEST_OFFSET, DIGEST_OFFSET + DIGEST_BYTES);
  return Buffer.from(payloadDigest(payload)).equals(expected);
}

/** MessageType without its space (or NUL) padding; refuses empty or non-printable names. */
function readMessageType(frame: Uint8Array): string {
  const field = frame.subarray(MESSAGE_TYPE_OFFSET, MESSAGE_TYPE_OFFSET + MESSAGE_TYPE_BYTES);
  let end = field.length;
  while (end > 0 && (field[end - 1] === 0x20 || field[end - 1] === 0x00)) end--;
  const name = field.subarray(0, end);
  if (name.length === 0) throw protocolError("message-type", "message has an empty MessageType");
  if (name.some((byte) => byte < 0x21 || byte > 0x7e)) throw protocolError("message-type", "MessageType is not printable ASCII");
  return new TextDecoder().decode(name);
}

/** The payload at HeaderLength + 4, which must be exactly PayloadLength bytes long. */
function readPayload(frame: Uint8Array, view: DataView): Uint8Array {
  const headerLength = view.getUint32(0);
  if (headerLength < HEADER_LENGTH_VALUE) {
    throw protocolError("header-length", `HeaderLength ${headerLength} is smaller than ${HEADER_LENGTH_VALUE}`);
  }
  const start = headerLength + 4;
  if (start > frame.length) throw protocolError("short", `HeaderLength ${headerLength} runs past the ${frame.length}-byte message`);
  const declared = view.getUint32(PAYLOAD_LENGTH_OFFSET);
  const actual = frame.length - start;
  if (declared !== actual) {
    throw protocolError(declared > actual ? "short" : "trailing-bytes", `PayloadLength says ${declared} bytes, the message carries ${actual}`);
  }
  return Uint8Array.from(frame.subarray(start));
}

function readSafe(reason: string, value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw protocolError(reason, `${reason.replace("-", " ")} ${value} is out of range`);
  }
  return Number(value);
}

/** The wire order of MessageId: UUID bytes 8–15 first, then 0–7. Its own inverse. */
function swapHalves(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out.set(bytes.subarray(8, 16), 0);
  out.set(bytes.subarray(0, 8), 8);
  return out;
}
