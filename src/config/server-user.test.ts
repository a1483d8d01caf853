import { describe, expect, test } from "bun:test";
import { ErrorCode } from "../errors.ts";
import { load, minimal, thrown } from "./testing.ts";

const withUser = (value: string) => load(minimal(`server:\n  user: ${value}\n`)).server.user;

describe("server.user", () => {
  test("is absent unless written", () => {
    expect(load(minimal()).server.user).toBeUndefined();
  });

  test('"uid:gid" gives both numbers', () => {
    expect(withUser('"1000:2000"')).toEqual({ uid: 1000, gid: 2000 });
  });

  test("a lone uid, as a YAML number or a string, is also the gid", () => {
    expect(withUser("65532")).toEqual({ uid: 65532, gid: 65532 });
    expect(withUser('"4242"')).toEqual({ uid: 4242, gid: 4242 });
  });

  test("root and 0 both mean keep root", () => {
    expect(withUser("root")).toEqual({ uid: 0, gid: 0 });
    expect(withUser("0")).toEqual({ uid: 0, gid: 0 });
  });

  test("a name is refused with the forms that work, since a scratch image has no user database", () => {
    const error = thrown(() => withUser("nobody"), ErrorCode.ConfigInvalid);
    expect(error.message).toContain("server.user");
    expect(error.message).toContain('a uid:gid such as "65532:65532", a uid, or root');
  });

  test("(uid_t)-1 is refused: setresuid reads it as leave unchanged", () => {
    expect(thrown(() => withUser('"4294967295:1"'), ErrorCode.ConfigInvalid).message).toContain("out of range");
  });

  test("uid 0 with another group is refused", () => {
    expect(thrown(() => withUser('"0:5"'), ErrorCode.ConfigInvalid).message).toContain("keeps uid 0 but not group 0");
  });
});
