import { describe, expect, test } from "bun:test";
import { hasNetAdmin } from "./net-admin.ts";

const status = (capEff: string) => `Name:\tcredproxy\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;

describe("the CAP_NET_ADMIN check", () => {
  test("root's full effective set has it", () => expect(hasNetAdmin(status("000001ffffffffff"))).toBe(true));
  test("just bit 12 is enough", () => expect(hasNetAdmin(status("0000000000001000"))).toBe(true));
  test("an unprivileged user's empty set lacks it", () => expect(hasNetAdmin(status("0000000000000000"))).toBe(false));
  test("every other capability without bit 12 lacks it", () => expect(hasNetAdmin(status("000001ffffffefff"))).toBe(false));
});
