import { describe, expect, test } from "bun:test";
import { estimateBits, hasStrongSegment, tokenStrength, TOKEN_REFUSE_BITS, TOKEN_WARN_BITS } from "./secret-strength.ts";

const randomHex = (bytes: number): string => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
const randomBase64Url = (chars: number): string => Buffer.from(crypto.getRandomValues(new Uint8Array(chars))).toString("base64url").slice(0, chars);

describe("estimateBits", () => {
  test("counts log2 of the alphabet of the classes used for every character", () => {
    expect(estimateBits("qz")).toBeCloseTo(2 * Math.log2(26));
    expect(estimateBits("qZ7")).toBeCloseTo(3 * Math.log2(62));
    expect(estimateBits("q-")).toBeCloseTo(2 * Math.log2(59));
  });

  test("repeated and sequential characters count nothing", () => {
    expect(estimateBits("aaaaaaaaaaaaaaaaaaaaaaaa")).toBeCloseTo(Math.log2(26));
    expect(estimateBits("abcdefghijklmnopqrstuvwx")).toBeCloseTo(2 * Math.log2(26));
    expect(estimateBits("9876543210")).toBeCloseTo(2 * Math.log2(10));
  });

  test("a run of three seen before counts nothing the second time", () => {
    expect(estimateBits("xqzxqzxqz")).toBeCloseTo(5 * Math.log2(26)); // x q z x q, then "zxq", "xqz", … repeat
    expect(estimateBits("passpass")).toBeLessThan(estimateBits("pasXwoRd"));
  });

  test("an empty string is worth nothing", () => {
    expect(estimateBits("")).toBe(0);
  });
});

describe("tokenStrength", () => {
  test.each(["a", "t", "same", "0123", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abcdefghijklmnopqrstuvwxyz", "12345678901234567890"])(
    "%p is refused",
    (token) => {
      expect(tokenStrength(token).level).toBe("refused");
      expect(tokenStrength(token).message).toContain(`under ${TOKEN_REFUSE_BITS} bits`);
    },
  );

  test.each(["hunter2", "password", "changeme123", "app-token"])("%p passes the floor with a warning", (token) => {
    expect(tokenStrength(token).level).toBe("weak");
    expect(tokenStrength(token).message).toContain(`under ${TOKEN_WARN_BITS} bits`);
  });

  test("random tokens from the usual generators are fine", () => {
    for (let i = 0; i < 200; i++) {
      expect(tokenStrength(randomHex(32)).level).toBe("ok");
      expect(tokenStrength(randomHex(16)).level).toBe("ok");
      expect(tokenStrength(crypto.randomUUID()).level).toBe("ok");
    }
  });

  test("the message never quotes the token", () => {
    for (const token of ["sesame", "hunter2"]) expect(tokenStrength(token).message).not.toContain(token);
  });
});

describe("hasStrongSegment", () => {
  test("a random segment of 22 URL-safe characters or 32 hex digits is strong, every time", () => {
    for (let i = 0; i < 2000; i++) {
      expect(hasStrongSegment(`/v2/credentials/${randomBase64Url(22)}`)).toBe(true);
      expect(hasStrongSegment(`/v2/credentials/${randomHex(16)}`)).toBe(true);
    }
  });

  test("long segments that repeat or count are not", () => {
    for (const segment of ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "0123456789abcdef0123456789abcdef", "abcdefghijklmnopqrstuvwxyz", "abababababababababababab"]) {
      expect(hasStrongSegment(`/v2/credentials/${segment}`)).toBe(false);
    }
  });

  test("short random segments are not, whatever they hold", () => {
    expect(hasStrongSegment(`/v2/${randomBase64Url(21)}`)).toBe(false);
  });
});
