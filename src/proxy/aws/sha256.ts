/**
 * The hash @smithy/signature-v4 is given: SHA-256, or HMAC-SHA256 when constructed with a key,
 * over node:crypto (the SDK's own hash packages are not among credproxy's dependencies).
 */
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import type { SourceData } from "@smithy/types";

/** The signer's hash: SHA-256, or HMAC-SHA256 when given a key. */
export class Sha256 {
  readonly #hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(secret));
  }
  update(data: SourceData): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}

function bytes(data: SourceData): string | Buffer {
  if (typeof data === "string") return data;
  return ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);
}
