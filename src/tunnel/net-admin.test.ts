import { describe, expect, test } from "bun:test";
import { hasNetAdmin, requireNetAdmin } from "./net-admin.ts";

const status = (capEff: string) => `Name:\tcredproxy\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;

describe("the CAP_NET_ADMIN check", () => {
  test("root's full effective set has it", () => expect(hasNetAdmin(status("000001ffffffffff"))).toBe(true));
  test("just bit 12 is enough", () => expect(hasNetAdmin(status("0000000000001000"))).toBe(true));
  test("an unprivileged user's empty set lacks it", () => expect(hasNetAdmin(status("0000000000000000"))).toBe(false));
  test("every other capability without bit 12 lacks it", () => expect(hasNetAdmin(status("000001ffffffefff"))).toBe(false));
});

describe("requireNetAdmin() on macOS", () => {
  test("root may go on", () => expect(() => requireNetAdmin("tunnel up", "darwin", 0)).not.toThrow());
  test("any other user is told that a utun needs root, and to use sudo", () => {
    expect(() => requireNetAdmin("tunnel up", "darwin", 501)).toThrow(
      expect.objectContaining({ code: "E_PLATFORM", message: "tunnel up needs root on macOS to create its utun device and routes", hint: "run it with sudo: sudo credproxy tunnel up …" }),
    );
  });
});
