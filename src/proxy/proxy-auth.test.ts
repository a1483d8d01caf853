import { describe, expect, test } from "bun:test";
import { presentedTokens, selectByToken } from "./proxy-auth.ts";

const basic = (userinfo: string) => `Basic ${Buffer.from(userinfo).toString("base64")}`;
const runs = [
  { name: "a", token: "run-a-9Qm4Xr7Lz2Wk8Vn5B" },
  { name: "b", token: "run-b/7Hq+Zt3Lp9Wx%41" },
  { name: "none", token: undefined },
];

describe("the tokens a Proxy-Authorization presents", () => {
  test("Basic presents the password, whatever the user name", () => {
    expect(presentedTokens(basic("anything:s3cret"))).toEqual(["s3cret"]);
    expect(presentedTokens(basic(":s3cret"))).toEqual(["s3cret"]);
  });
  test("a password with colons keeps everything after the first one", () => {
    expect(presentedTokens(basic("u:a:b"))).toEqual(["a:b"]);
  });
  test("a percent-escaped password is tried as sent and decoded", () => {
    expect(presentedTokens(basic("u:a%2Fb"))).toEqual(["a%2Fb", "a/b"]);
  });
  test("a malformed escape is tried only as sent", () => {
    expect(presentedTokens(basic("u:100%"))).toEqual(["100%"]);
  });
  test("Bearer presents its token, and the scheme is case-insensitive", () => {
    expect(presentedTokens("Bearer tok")).toEqual(["tok"]);
    expect(presentedTokens("bAsIc " + Buffer.from("u:p").toString("base64"))).toEqual(["p"]);
  });
  test("nothing usable presents nothing", () => {
    for (const header of [undefined, "", "Basic", "Basic !!!", basic("no-colon"), "Digest x", "Bearer a b"]) {
      expect(presentedTokens(header)).toEqual([]);
    }
  });
});

describe("selecting a run by its token", () => {
  test("each run's token selects that run and no other", () => {
    expect(selectByToken(runs, basic("x:run-a-9Qm4Xr7Lz2Wk8Vn5B"))?.name).toBe("a");
    expect(selectByToken(runs, "Bearer run-b/7Hq+Zt3Lp9Wx%41")?.name).toBe("b");
  });
  test("a token that needed URL-decoding still selects its run", () => {
    expect(selectByToken(runs, basic("x:run-b%2F7Hq%2BZt3Lp9Wx%2541"))?.name).toBe("b");
  });
  test("a wrong, missing or prefix token selects nothing", () => {
    expect(selectByToken(runs, basic("x:run-a-9Qm4Xr7Lz2Wk8Vn5"))).toBeUndefined();
    expect(selectByToken(runs, undefined)).toBeUndefined();
    expect(selectByToken(runs, basic("x:"))).toBeUndefined();
  });
  test("a run without a token is never selected", () => {
    expect(selectByToken([{ token: undefined }], basic("x:"))).toBeUndefined();
  });
});
