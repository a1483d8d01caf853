/**
 * How hard a configured secret (an `auth_token`, the random segment of a `relative_uri`) is to
 * guess, estimated from the text alone. The estimate is an upper bound: it sees short, repeated
 * and sequential secrets (`a`, `aaaaaaaa`, `abcdefgh`, `12345678`, `abcabcabc`), not that a
 * phrase is made of dictionary words, so a secret should still come from a random generator.
 *
 * The rule: every character counts log2(alphabet) bits, where the alphabet is the union of the
 * character classes the secret uses (26 lower-case, 26 upper-case, 10 digits, 33 other printable
 * characters), except a character that
 * - repeats the one before it, or continues a sequence with the two before it (`aaa`, `abc`, `975`);
 * - ends a run of three characters that already occurred earlier (`abcXabc`, `passpass`).
 * Those count nothing.
 */

/** Below this, an auth_token is refused. About 7 random lower-case letters. */
export const TOKEN_REFUSE_BITS = 32;
/** Below this, an auth_token gets a warning. About 16 random letters and digits. */
export const TOKEN_WARN_BITS = 96;
/** A relative_uri needs one segment of at least this many characters … */
export const RELATIVE_URI_MIN_CHARS = 22;
/**
 * … whose estimate reaches this. The length already carries the 128 bits (22 × 6 of base64url);
 * this only refuses long segments that repeat or count (`aaaa…`, `0123…`), and a random one
 * passes every time (22 random lower-case letters estimate at ~103).
 */
export const RELATIVE_URI_MIN_BITS = 96;

const CLASSES: readonly { test: RegExp; size: number }[] = [
  { test: /[a-z]/, size: 26 },
  { test: /[A-Z]/, size: 26 },
  { test: /[0-9]/, size: 10 },
  { test: /[^a-zA-Z0-9]/, size: 33 },
];

/** The estimated strength of `secret` in bits (see the module comment for the rule). */
export function estimateBits(secret: string): number {
  const chars = [...secret];
  const alphabet = CLASSES.reduce((sum, c) => (c.test.test(secret) ? sum + c.size : sum), 0);
  if (alphabet === 0) return 0;
  const perChar = Math.log2(alphabet);
  const seen = new Set<string>();
  let counted = 0;
  for (let i = 0; i < chars.length; i++) {
    const trigram = i >= 2 ? chars[i - 2]! + chars[i - 1]! + chars[i]! : undefined;
    const predictable = repeatsOrContinues(chars, i) || (trigram !== undefined && seen.has(trigram));
    if (trigram !== undefined) seen.add(trigram);
    if (!predictable) counted++;
  }
  return counted * perChar;
}

function repeatsOrContinues(chars: readonly string[], i: number): boolean {
  if (i === 0) return false;
  const step = code(chars[i]!) - code(chars[i - 1]!);
  if (step === 0) return true;
  return i >= 2 && Math.abs(step) === 1 && step === code(chars[i - 1]!) - code(chars[i - 2]!);
}

const code = (ch: string): number => ch.codePointAt(0)!;

export interface StrengthVerdict {
  readonly level: "ok" | "weak" | "refused";
  /** Why, in words fit for a config message; never quotes the secret. */
  readonly message?: string;
}

const TOKEN_ADVICE = "generate one with: openssl rand -hex 32";

/** The verdict on an auth_token: refused below TOKEN_REFUSE_BITS, weak below TOKEN_WARN_BITS. */
export function tokenStrength(token: string): StrengthVerdict {
  const bits = estimateBits(token);
  if (bits < TOKEN_REFUSE_BITS) {
    return {
      level: "refused",
      message: `is too easy to guess: it is estimated at under ${TOKEN_REFUSE_BITS} bits (short, repeated or sequential characters); ${TOKEN_ADVICE}`,
    };
  }
  if (bits < TOKEN_WARN_BITS) {
    return {
      level: "weak",
      message: `is weak: it is estimated at under ${TOKEN_WARN_BITS} bits, and anyone who can reach credproxy may guess it; ${TOKEN_ADVICE}`,
    };
  }
  return { level: "ok" };
}

/** Whether some segment of a relative_uri path is long and random enough to be its secret. */
export function hasStrongSegment(path: string): boolean {
  return path
    .split("/")
    .some((segment) => /^[A-Za-z0-9_-]+$/.test(segment) && segment.length >= RELATIVE_URI_MIN_CHARS && estimateBits(segment) >= RELATIVE_URI_MIN_BITS);
}
