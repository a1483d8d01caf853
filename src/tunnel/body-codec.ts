import { FramingError } from "./framing-error.ts";

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Builds a frame body field by field, growing as needed. */
export class BodyWriter {
  private bytes = new Uint8Array(64);
  private view = new DataView(this.bytes.buffer);
  private length = 0;

  u8(value: number): this {
    this.reserve(1).view.setUint8(this.length - 1, checkUint(value, 0xff, "u8"));
    return this;
  }

  u16(value: number): this {
    this.reserve(2).view.setUint16(this.length - 2, checkUint(value, 0xffff, "u16"));
    return this;
  }

  u32(value: number): this {
    this.reserve(4).view.setUint32(this.length - 4, checkUint(value, 0xffffffff, "u32"));
    return this;
  }

  /** A u64 from a safe integer (timestamps in µs and ids fit comfortably). */
  u64(value: number): this {
    checkUint(value, Number.MAX_SAFE_INTEGER, "u64");
    this.reserve(8);
    this.view.setUint32(this.length - 8, Math.floor(value / 2 ** 32));
    this.view.setUint32(this.length - 4, value >>> 0);
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.length - bytes.length);
    return this;
  }

  /** A u8 length then UTF-8 bytes; `field` names it in the error if too long. */
  string8(text: string, field: string): this {
    const encoded = utf8.encode(text);
    if (encoded.length > 0xff) throw new FramingError("bad_body", `${field} is ${encoded.length} bytes of UTF-8; at most 255 fit`);
    return this.u8(encoded.length).raw(encoded);
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }

  private reserve(extra: number): this {
    const needed = this.length + extra;
    if (needed > this.bytes.length) {
      const grown = new Uint8Array(Math.max(needed, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    this.length = needed;
    return this;
  }
}

function checkUint(value: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new FramingError("bad_body", `${value} does not fit a ${what}`);
  return value;
}

/**
 * Reads a frame body field by field. Running past the end is a FramingError("bad_body"), as
 * are bytes left over unless the peer has a newer minor version (which may append fields).
 */
export class BodyReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly frameName: string,
    private readonly allowTrailing: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  u8(): number {
    return this.view.getUint8(this.take(1));
  }

  u16(): number {
    return this.view.getUint16(this.take(2));
  }

  u32(): number {
    return this.view.getUint32(this.take(4));
  }

  u64(field: string): number {
    const at = this.take(8);
    const high = this.view.getUint32(at);
    if (high > 0x1fffff) throw this.bad(`${field} is beyond 2^53`);
    return high * 2 ** 32 + this.view.getUint32(at + 4);
  }

  /** A copy, so the caller's chunk can be reused. */
  bytesCopy(length: number): Uint8Array {
    const at = this.take(length);
    return this.bytes.slice(at, at + length);
  }

  string8(field: string): string {
    const length = this.u8();
    const at = this.take(length);
    try {
      return strictUtf8.decode(this.bytes.subarray(at, at + length));
    } catch {
      throw this.bad(`${field} is not valid UTF-8`);
    }
  }

  /** The rest of the body as strict UTF-8. */
  restAsString(field: string): string {
    const at = this.take(this.remaining);
    try {
      return strictUtf8.decode(this.bytes.subarray(at));
    } catch {
      throw this.bad(`${field} is not valid UTF-8`);
    }
  }

  finish(): void {
    if (this.remaining > 0 && !this.allowTrailing) throw this.bad(`${this.remaining} unexpected bytes after the last field`);
  }

  bad(problem: string): FramingError {
    return new FramingError("bad_body", `${this.frameName} frame: ${problem}`);
  }

  private take(length: number): number {
    if (this.offset + length > this.bytes.length) throw this.bad("body is truncated");
    const at = this.offset;
    this.offset += length;
    return at;
  }
}

/** Dotted-quad IPv4 text to 4 bytes (strict: four decimal parts 0–255, no leading zeros). */
export function ipv4ToBytes(text: string, field: string): Uint8Array {
  const parts = text.split(".");
  const valid = parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
  if (!valid) throw new FramingError("bad_body", `${field} ${JSON.stringify(text)} is not a dotted IPv4 address`);
  return Uint8Array.from(parts.map(Number));
}

export function ipv4FromBytes(bytes: Uint8Array): string {
  return Array.from(bytes).join(".");
}
