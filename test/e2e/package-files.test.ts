/**
 * The files a packaged tool ships beside its binary: the licence package.json names and a
 * changelog with a section for the version being built.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { REPO_ROOT } from "../helpers/binary.ts";

// SHA-256 of https://www.mozilla.org/media/MPL/2.0/index.txt (also Debian's /usr/share/common-licenses/MPL-2.0).
const MPL_2_0_SHA256 = "fab3dd6bdab226f1c08630b1dd917e11fcb4ec5e1e020e2c16f83a0a13863e85";

describe("package files", () => {
  test("LICENSE is the unmodified MPL-2.0 text, the licence package.json names", async () => {
    expect(pkg.license).toBe("MPL-2.0");
    const text = await Bun.file(join(REPO_ROOT, "LICENSE")).bytes();
    expect(new Bun.CryptoHasher("sha256").update(text).digest("hex")).toBe(MPL_2_0_SHA256);
  });

  test("CHANGELOG.md keeps a changelog with an Unreleased section and one for package.json's version", async () => {
    const text = await Bun.file(join(REPO_ROOT, "CHANGELOG.md")).text();
    expect(text).toContain("[Keep a Changelog](https://keepachangelog.com/");
    const versions = [...text.matchAll(/^## \[([^\]]+)\]/gm)].map((m) => m[1]);
    expect(versions[0]).toBe("Unreleased");
    expect(versions).toContain(pkg.version);
    for (const command of ["serve", "broker", "proxy", "validate", "healthcheck", "cleanup"]) expect(text).toContain(`credproxy ${command}`);
  });
});
