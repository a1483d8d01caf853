/**
 * Generated placeholders: the text a sandbox holds instead of a credential's value, shaped so
 * tools that check a key's form accept it (a prefix and a length, or a JWT), and derived, not
 * random, so the proxy and `credproxy proxy env` print the same text across restarts without
 * sharing state. The derivation is an HMAC keyed by the run token (or the proxy's token) over
 * the tenant and credential names; it never reads the credential's value, so a placeholder
 * says nothing about the secret it stands for.
 *
 * The alphabet is letters and digits (plus - and _ in a JWT's base64url): characters that mean
 * nothing in a URL, so a placeholder reads the same raw, percent-encoded or form-encoded.
 */
import { createHmac } from "node:crypto";

export type PlaceholderShape =
  | { readonly kind: "prefixed"; readonly prefix: string; readonly length: number }
  | { readonly kind: "jwt" };

export interface PlaceholderOwner {
  /** "default" or the run's name. */
  readonly tenant: string;
  /** The run's token, or the proxy's top-level token; undefined when there is none. */
  readonly token: string | undefined;
  readonly credential: string;
}

export const DEFAULT_PREFIX = "cpx_";
export const DEFAULT_LENGTH = 40;
/** The derived part of a prefixed placeholder is at least this long (62^16 ≈ 2^95). */
export const MIN_DERIVED = 16;

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/** {"alg":"HS256","typ":"JWT"}, base64url. */
const JWT_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
/** 2100-01-01: tools that read exp see a token that has not expired. */
const JWT_EXP = 4_102_444_800;

export function derivePlaceholder(shape: PlaceholderShape, owner: PlaceholderOwner): string {
  if (shape.kind === "jwt") return jwtPlaceholder(owner);
  return shape.prefix + derivedCharacters(owner, shape.length - shape.prefix.length);
}

function jwtPlaceholder(owner: PlaceholderOwner): string {
  const payload = { iss: "credproxy", sub: `placeholder:${owner.credential}`, jti: derivedCharacters(owner, 22, "jti"), exp: JWT_EXP };
  const signature = digest(owner, "jwt-signature", 0).toString("base64url");
  return `${JWT_HEADER}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.${signature}`;
}

/** `count` letters and digits, uniformly (bytes 248..255 are skipped so none is likelier). */
function derivedCharacters(owner: PlaceholderOwner, count: number, label = "characters"): string {
  let out = "";
  for (let block = 0; out.length < count; block++) {
    for (const byte of digest(owner, label, block)) {
      if (byte >= 248) continue;
      out += ALPHANUMERIC[byte % 62];
      if (out.length === count) break;
    }
  }
  return out;
}

function digest(owner: PlaceholderOwner, label: string, block: number): Buffer {
  return createHmac("sha256", `credproxy placeholder key\0${owner.token ?? ""}`).update(`${label}\0${block}\0${owner.tenant}\0${owner.credential}`).digest();
}
