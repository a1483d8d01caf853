import { expect, test } from "bun:test";
import { lstatSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDirSync } from "../../test/helpers/cleanup.ts";
import { withUmask } from "./umask.ts";

test("withUmask() creates files with the mask in force and restores the previous mask", () => {
  const before = process.umask();
  const file = join(tempDirSync("credproxy-umask-"), "f");
  withUmask(0o177, () => writeFileSync(file, "x", { mode: 0o666 }));
  expect(lstatSync(file).mode & 0o777).toBe(0o600);
  expect(process.umask()).toBe(before);
});

test("withUmask() restores the previous mask when the call throws", () => {
  const before = process.umask();
  expect(() =>
    withUmask(0o177, () => {
      throw new Error("bind failed");
    }),
  ).toThrow("bind failed");
  expect(process.umask()).toBe(before);
});
