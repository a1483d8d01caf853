import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { basename } from "node:path";
import { elfNeeded } from "./elf-needed.ts";

describe("elfNeeded", () => {
  test.skipIf(process.platform !== "linux")("names the same libraries as ldd for this machine's bun", () => {
    const ldd = spawnSync("ldd", [process.execPath], { encoding: "utf8" }).stdout;
    const fromLdd = [...ldd.matchAll(/^\s*(\S+?\.so[.\d]*)\s/gm)].map((m) => basename(m[1]!)).filter((n) => !n.startsWith("linux-vdso"));
    expect(elfNeeded(process.execPath).sort()).toEqual(fromLdd.sort());
  });

  test("a non-ELF file is refused", () => {
    expect(() => elfNeeded(import.meta.path)).toThrow(/is not an ELF file/);
  });
});
