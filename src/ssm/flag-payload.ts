/** PayloadType Flag payloads: one big-endian u32 from StreamFlag (ssm-tunnel.md §2.5). */
import { protocolError } from "./ssm-error.ts";

/** The four payload bytes for `flag`. */
export function buildFlagPayload(flag: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, flag);
  return bytes;
}

/** The flag value in a Flag payload; refuses anything but exactly four bytes. */
export function parseFlagPayload(payload: Uint8Array): number {
  if (payload.length !== 4) throw protocolError("flag", `flag payload of ${payload.length} bytes, expected 4`);
  return new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
}
