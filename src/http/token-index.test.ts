import { describe, expect, test } from "bun:test";
import { TokenIndex } from "./token-index.ts";

describe("TokenIndex", () => {
  const index = new TokenIndex([
    ["token-alpha-0001", "alpha"],
    ["token-beta-0002", "beta"],
  ]);

  test("finds the entry whose token matches exactly", () => {
    expect(index.lookup("token-alpha-0001")).toBe("alpha");
    expect(index.lookup("token-beta-0002")).toBe("beta");
  });

  test("matches the raw header value only: no scheme stripping, no trimming, case-sensitive", () => {
    expect(index.lookup("Bearer token-alpha-0001")).toBeUndefined();
    expect(index.lookup("token-alpha-0001 ")).toBeUndefined();
    expect(index.lookup("TOKEN-ALPHA-0001")).toBeUndefined();
  });

  test("a prefix or a longer string of a token does not match", () => {
    expect(index.lookup("token-alpha-000")).toBeUndefined();
    expect(index.lookup("token-alpha-00012")).toBeUndefined();
    expect(index.lookup("")).toBeUndefined();
  });

  test("an empty index matches nothing", () => {
    expect(new TokenIndex<string>([]).lookup("anything")).toBeUndefined();
  });
});
