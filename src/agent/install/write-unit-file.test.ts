import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, isCredproxyError } from "../../errors.ts";
import { writeUnitFile } from "./write-unit-file.ts";

const OPTIONS = { force: false, command: "agent install" };
const fresh = () => mkdtempSync(join(tmpdir(), "cp-write-unit-"));

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}

describe("writeUnitFile()", () => {
  test("creates the file with mode 0644 and leaves no temp file", () => {
    const dir = fresh();
    const path = join(dir, "x.service");
    expect(writeUnitFile(path, "a\n", OPTIONS)).toBe("created");
    expect(readFileSync(path, "utf8")).toBe("a\n");
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir)).toEqual(["x.service"]);
  });

  test("the same text again is unchanged, and the file is not rewritten", () => {
    const dir = fresh();
    const path = join(dir, "x.service");
    writeUnitFile(path, "a\n", OPTIONS);
    const inode = statSync(path).ino;
    expect(writeUnitFile(path, "a\n", OPTIONS)).toBe("unchanged");
    expect(statSync(path).ino).toBe(inode);
  });

  test("a different file is kept without force (a usage error naming --force) and replaced with it", () => {
    const dir = fresh();
    const path = join(dir, "x.service");
    writeFileSync(path, "edited\n");
    const error = caught(() => writeUnitFile(path, "new\n", OPTIONS));
    expect(isCredproxyError(error, ErrorCode.Usage)).toBe(true);
    expect((error as { hint: string }).hint).toContain("--force");
    expect(readFileSync(path, "utf8")).toBe("edited\n");
    expect(writeUnitFile(path, "new\n", { ...OPTIONS, force: true })).toBe("replaced");
    expect(readFileSync(path, "utf8")).toBe("new\n");
  });

  test("a missing directory is a platform error that points at --unit-dir", () => {
    const error = caught(() => writeUnitFile(join(fresh(), "nope", "x.service"), "a\n", OPTIONS));
    expect(isCredproxyError(error, ErrorCode.Platform)).toBe(true);
    expect((error as { hint: string }).hint).toContain("--unit-dir");
  });

  test("a directory it cannot write to fails cleanly: the old file intact, no temp file left", () => {
    const dir = fresh();
    const path = join(dir, "x.service");
    writeFileSync(path, "old\n");
    chmodSync(dir, 0o555);
    // root ignores directory modes; drop to nobody for the write, as a non-root user would be
    const script = `import { writeUnitFile } from ${JSON.stringify(join(import.meta.dir, "write-unit-file.ts"))};
      try { writeUnitFile(${JSON.stringify(path)}, "new\\n", { force: true, command: "agent install" }); } catch (e) { console.log(JSON.stringify({ message: e.message, hint: e.hint })); }`;
    const run = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const out = JSON.parse(run.stdout.toString().trim()) as { message: string; hint: string };
    expect(out.message).toContain(`cannot write ${path}`);
    expect(out.hint).toContain("root");
    expect(readFileSync(path, "utf8")).toBe("old\n");
    expect(readdirSync(dir)).toEqual(["x.service"]);
  });
});
