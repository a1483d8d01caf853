/** Cutting a byte run into stream message payloads. */
import { CLIENT_MESSAGE_HEADER_BYTES } from "./client-message.ts";
import { STREAM_DATA_PAYLOAD_SIZE } from "./message-types.ts";

/** Views of at most `size` bytes each (no copy). */
export function splitPayloads(bytes: Uint8Array, size = STREAM_DATA_PAYLOAD_SIZE): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size));
  return out;
}

/** The framed size of `bytes` once split: payloads plus one header per message. */
export function framedBytes(bytes: Uint8Array, size = STREAM_DATA_PAYLOAD_SIZE): number {
  return bytes.length + Math.ceil(bytes.length / size) * CLIENT_MESSAGE_HEADER_BYTES;
}
