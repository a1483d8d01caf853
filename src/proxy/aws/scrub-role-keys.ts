/**
 * AWS error bodies can name the credentials a request was signed with: S3's
 * SignatureDoesNotMatch and InvalidAccessKeyId carry the access key id, InvalidToken the
 * session token. After re-signing those are the role's, which the sandbox must never see, so
 * an error body is given back with the role's values replaced by the placeholders it knows.
 * Only small, unencoded error bodies are rewritten; object data (2xx) is never touched.
 */
import type { OutgoingHttpHeaders } from "node:http";

/** Error bodies larger than this pass unchanged (AWS errors are a few hundred bytes). */
export const SCRUB_MAX_BYTES = 1024 * 1024;

export type Swaps = readonly (readonly [real: string, placeholder: string])[];

export function scrubRoleKeys(body: Buffer, swaps: Swaps): Buffer {
  let text = body.toString("latin1"); // byte-preserving: keys and tokens are ASCII
  let changed = false;
  for (const [real, placeholder] of swaps) {
    if (real === "" || !text.includes(real)) continue;
    text = text.replaceAll(real, placeholder);
    changed = true;
  }
  return changed ? Buffer.from(text, "latin1") : body;
}

/** Whether a response's body is one to rewrite: an error with a known, small length and no content-encoding. */
export function scrubbable(method: string, status: number, head: OutgoingHttpHeaders): boolean {
  const length = Number(head["content-length"]);
  return method !== "HEAD" && status >= 400 && head["content-encoding"] === undefined && Number.isInteger(length) && length <= SCRUB_MAX_BYTES;
}
