import { describe, expect, test } from "bun:test";
import { isCredproxyError } from "../errors.ts";
import { decodeClientMessage, encodeClientMessage, payloadDigest, payloadDigestMatches, type ClientMessage } from "./client-message.ts";
import { HeaderFlag, MessageType, PayloadType } from "./message-types.ts";

/** The test vector of ssm-tunnel.md §2.3, as printed there. */
const VECTOR_HEX = `
0000  00 00 00 74 69 6e 70 75 74 5f 73 74 72 65 61 6d
0010  5f 64 61 74 61 20 20 20 20 20 20 20 20 20 20 20
0020  20 20 20 20 00 00 00 01 00 00 01 8b cf e5 68 00
0030  00 00 00 00 00 00 00 07 00 00 00 00 00 00 00 00
0040  a5 08 b5 f0 73 f3 1b 16 dd 01 e5 6b ff 48 48 3e
0050  72 a1 fe f7 f4 54 06 a0 da d7 5c ce 2f 6e 36 c8
0060  3b 4c 4b c4 93 e9 1d ac 27 3c df be dd e0 f8 6d
0070  00 00 00 01 00 00 00 07 00 01 68 65 6c 6c 6f`;

function hexDump(dump: string): Uint8Array {
  const hex = dump
    .trim()
    .split("\n")
    .map((line) => line.trim().slice(6))
    .join(" ");
  return Uint8Array.from(hex.split(/\s+/).map((pair) => parseInt(pair, 16)));
}

const VECTOR = hexDump(VECTOR_HEX);

const VECTOR_MESSAGE: ClientMessage = {
  messageType: MessageType.InputStreamData,
  schemaVersion: 1,
  createdDate: 1_700_000_000_000,
  sequenceNumber: 7,
  flags: 0n,
  messageId: "dd01e56b-ff48-483e-a508-b5f073f31b16",
  payloadType: PayloadType.Output,
  payload: Uint8Array.from([0x00, 0x01, 0x68, 0x65, 0x6c, 0x6c, 0x6f]),
};

/** The E_SSM_PROTOCOL reason a decode fails with, or "decoded" when it does not fail. */
function decodeFailure(frame: Uint8Array, options = {}): string {
  try {
    decodeClientMessage(frame, options);
    return "decoded";
  } catch (error) {
    if (!isCredproxyError(error)) throw error;
    expect(error.code as string).toBe("E_SSM_PROTOCOL");
    return String(error.details?.["reason"]);
  }
}

function withByte(frame: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = Uint8Array.from(frame);
  copy[offset] = value;
  return copy;
}

describe("the ssm-tunnel.md test vector", () => {
  test("is 127 bytes long", () => {
    expect(VECTOR.length).toBe(127);
  });

  test("encoding its fields gives the vector byte for byte", () => {
    expect(Buffer.from(encodeClientMessage(VECTOR_MESSAGE)).toString("hex")).toBe(Buffer.from(VECTOR).toString("hex"));
  });

  test("decoding the vector gives its fields back", () => {
    expect(decodeClientMessage(VECTOR)).toEqual(VECTOR_MESSAGE);
  });

  test("its PayloadDigest is the SHA-256 of its payload", () => {
    expect(Buffer.from(VECTOR.subarray(80, 112))).toEqual(Buffer.from(payloadDigest(VECTOR_MESSAGE.payload)));
    expect(payloadDigestMatches(VECTOR)).toBe(true);
  });

  test("its MessageId is on the wire with the UUID's 8-byte halves swapped", () => {
    expect(Buffer.from(VECTOR.subarray(64, 72)).toString("hex")).toBe("a508b5f073f31b16");
    expect(Buffer.from(VECTOR.subarray(72, 80)).toString("hex")).toBe("dd01e56bff48483e");
  });
});

describe("encodeClientMessage()", () => {
  test("an empty payload carries the digest of the empty string", () => {
    const frame = encodeClientMessage({ ...VECTOR_MESSAGE, payload: new Uint8Array(0) });
    expect(frame.length).toBe(120);
    expect(Buffer.from(frame.subarray(80, 112)).toString("hex")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  test("an uppercase message id is written like its lowercase form and decodes lowercase", () => {
    const frame = encodeClientMessage({ ...VECTOR_MESSAGE, messageId: VECTOR_MESSAGE.messageId.toUpperCase() });
    expect(frame).toEqual(VECTOR);
  });

  test("a full u64 of flags survives a round trip", () => {
    const message = { ...VECTOR_MESSAGE, flags: 0xffffffffffffffffn };
    expect(decodeClientMessage(encodeClientMessage(message)).flags).toBe(0xffffffffffffffffn);
  });

  test.each([
    ["a message type longer than 32 characters", { messageType: "x".repeat(33) }],
    ["an empty message type", { messageType: "" }],
    ["a message type with a space", { messageType: "input stream" }],
    ["a message id that is not a UUID", { messageId: "not-a-uuid" }],
    ["a fractional sequence number", { sequenceNumber: 1.5 }],
    ["a negative payload type", { payloadType: -1 }],
    ["negative flags", { flags: -1n }],
  ])("refuses %s with a typed error", (_name, change) => {
    expect(() => encodeClientMessage({ ...VECTOR_MESSAGE, ...change })).toThrow(expect.objectContaining({ code: "E_SSM_PROTOCOL" }));
  });
});

describe("decodeClientMessage()", () => {
  test("a flipped payload byte is refused as a digest mismatch", () => {
    expect(decodeFailure(withByte(VECTOR, 126, 0x00))).toBe("digest");
  });

  test("a flipped digest byte is refused as a digest mismatch", () => {
    expect(decodeFailure(withByte(VECTOR, 80, VECTOR[80]! ^ 1))).toBe("digest");
  });

  test("a digest mismatch is let through when the caller turns the check off", () => {
    const decoded = decodeClientMessage(withByte(VECTOR, 126, 0x00), { checkDigest: false });
    expect(decoded.payload[6]).toBe(0x00);
    expect(payloadDigestMatches(withByte(VECTOR, 126, 0x00))).toBe(false);
  });

  test("every truncation of the vector is refused with a typed error", () => {
    for (let length = 0; length < VECTOR.length; length++) {
      expect(decodeFailure(VECTOR.subarray(0, length))).toBe("short");
    }
  });

  test("a trailing byte after the declared payload is refused", () => {
    const longer = new Uint8Array(VECTOR.length + 1);
    longer.set(VECTOR);
    expect(decodeFailure(longer)).toBe("trailing-bytes");
  });

  test("a payload is found at HeaderLength + 4, so a longer header is skipped", () => {
    const frame = new Uint8Array(VECTOR.length + 4);
    frame.set(VECTOR.subarray(0, 120));
    frame.set(VECTOR.subarray(120), 124);
    new DataView(frame.buffer).setUint32(0, 120);
    expect(decodeClientMessage(frame)).toEqual(VECTOR_MESSAGE);
  });

  test.each([
    ["HeaderLength 0", 3, 0x00, "header-length"],
    ["an empty MessageType", -1, 0, "message-type"],
    ["a control byte in MessageType", 10, 0x01, "message-type"],
    ["CreatedDate 0", -2, 0, "created-date"],
  ])("refuses %s", (_name, offset, value, reason) => {
    let frame: Uint8Array = Uint8Array.from(VECTOR);
    if (offset === -1) frame.fill(0x20, 4, 36);
    else if (offset === -2) frame.fill(0, 40, 48);
    else frame = withByte(frame, offset, value);
    expect(decodeFailure(frame)).toBe(reason);
  });

  test("MessageType padding may be NULs as well as spaces", () => {
    const frame = Uint8Array.from(VECTOR);
    frame.fill(0x00, 21, 36);
    expect(decodeClientMessage(frame).messageType).toBe("input_stream_data");
  });

  test("a sequence number beyond 2^53 is refused rather than rounded", () => {
    const frame = Uint8Array.from(VECTOR);
    new DataView(frame.buffer).setBigInt64(48, 2n ** 60n);
    expect(decodeFailure(frame)).toBe("sequence-number");
  });

  test("start_publication is accepted without the header checks, like the plugin", () => {
    const frame = encodeClientMessage({ ...VECTOR_MESSAGE, messageType: MessageType.StartPublication, createdDate: 1, flags: HeaderFlag.None });
    frame.fill(0, 40, 48);
    frame[120] = 0xff;
    expect(decodeClientMessage(frame).messageType).toBe("start_publication");
  });

  test("random corruption of any header byte never escapes as an untyped error", () => {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 2000; round++) {
      const frame = Uint8Array.from(VECTOR);
      for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) frame[Math.floor(random() * frame.length)] = Math.floor(random() * 256);
      const length = random() < 0.3 ? Math.floor(random() * frame.length) : frame.length;
      expect(typeof decodeFailure(frame.subarray(0, length))).toBe("string");
    }
  });
});
