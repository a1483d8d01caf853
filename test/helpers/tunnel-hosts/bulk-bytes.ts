/**
 * Deterministic bulk data for transfer tests: AES-128-CTR of zeros under a key made from a seed,
 * so the sender streams it without holding it and the test computes the expected sha256 itself.
 */
import { createCipheriv, createHash } from "node:crypto";

const CHUNK = 64 * 1024;
const ZEROS = new Uint8Array(CHUNK);

/** The bytes of stream `seed`, in chunks of up to 64 KiB, `total` bytes in all. */
export function* bulkChunks(seed: string, total: number): Generator<Uint8Array> {
  const key = createHash("sha256").update(`credproxy-bulk:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, new Uint8Array(16));
  for (let sent = 0; sent < total; sent += CHUNK) {
    yield cipher.update(ZEROS.subarray(0, Math.min(CHUNK, total - sent)));
  }
}

/** The sha256 (hex) of stream `seed` cut at `total` bytes. */
export function bulkSha256(seed: string, total: number): string {
  const hash = createHash("sha256");
  for (const chunk of bulkChunks(seed, total)) hash.update(chunk);
  return hash.digest("hex");
}
