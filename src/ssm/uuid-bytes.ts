/**
 * UUID text ↔ 16 bytes. The data channel carries message ids as raw bytes (with a half swap that
 * client-message.ts applies) and as hyphenated lowercase text in acknowledge payloads.
 */
import { protocolError } from "./ssm-error.ts";

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a hyphenated UUID in any case. */
export function isUuid(text: string): boolean {
  return UUID_TEXT.test(text);
}

/** The 16 bytes of a hyphenated UUID, in text order. */
export function uuidToBytes(text: string): Uint8Array {
  if (!isUuid(text)) throw protocolError("uuid", `not a UUID: ${JSON.stringify(text.slice(0, 64))}`);
  return Uint8Array.from(Buffer.from(text.replaceAll("-", ""), "hex"));
}

/** Hyphenated lowercase text for 16 bytes in text order. */
export function uuidFromBytes(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
