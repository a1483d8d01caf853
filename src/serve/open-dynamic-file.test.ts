import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, linkSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDynamicFile, type DynamicFile } from "./open-dynamic-file.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "credproxy-dynopen-")));
  dirs.push(dir);
  return dir;
}
const strict = { allowGroupWritable: false };

async function textOf(file: DynamicFile): Promise<string | undefined> {
  if (file.kind !== "open") return undefined;
  try {
    return await file.read();
  } finally {
    await file.close();
  }
}
const reasonOf = (file: DynamicFile) => (file.kind === "refused" ? file.reason : `not refused (${file.kind})`);

describe("opening a dynamic service file", () => {
  test("reads a regular file of credproxy's user with mode 0644", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "a.yaml"), "services: {}\n", { mode: 0o644 });
    expect(await textOf(await openDynamicFile(dir, "a.yaml", strict))).toBe("services: {}\n");
  });

  test("follows a Kubernetes ConfigMap layout: a symlink into ..data inside the same directory", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "..2026_12_02_06_00_00.123"));
    writeFileSync(join(dir, "..2026_12_02_06_00_00.123", "svc.yaml"), "services: {}\n", { mode: 0o644 });
    symlinkSync("..2026_12_02_06_00_00.123", join(dir, "..data"));
    symlinkSync("..data/svc.yaml", join(dir, "svc.yaml"));
    expect(await textOf(await openDynamicFile(dir, "svc.yaml", strict))).toBe("services: {}\n");
  });

  test("refuses a symlink that leads outside the directory, naming where it leads", async () => {
    const dir = tempDir();
    const outside = tempDir();
    writeFileSync(join(outside, "secret"), "AKIA-SECRET");
    symlinkSync(join(outside, "secret"), join(dir, "evil.yaml"));
    const opened = await openDynamicFile(dir, "evil.yaml", strict);
    expect(reasonOf(opened)).toBe(`is a symbolic link to ${join(outside, "secret")}, outside the directory ${dir}; only links that stay inside it are followed`);
  });

  test("refuses a dangling symlink", async () => {
    const dir = tempDir();
    symlinkSync(join(dir, "nothing"), join(dir, "gone.yaml"));
    expect(reasonOf(await openDynamicFile(dir, "gone.yaml", strict))).toContain("which does not exist");
  });

  test("refuses a file its group may write, unless the directory allows it", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "g.yaml"), "services: {}\n");
    chmodSync(join(dir, "g.yaml"), 0o664);
    expect(reasonOf(await openDynamicFile(dir, "g.yaml", strict))).toBe(
      "may be written by its group or other users (mode 0664); run chmod go-w on it, or set allow_group_writable: true on the directory",
    );
    expect(await textOf(await openDynamicFile(dir, "g.yaml", { allowGroupWritable: true }))).toBe("services: {}\n");
  });

  test("refuses a file anyone may write, even when the group may", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "o.yaml"), "services: {}\n");
    chmodSync(join(dir, "o.yaml"), 0o666);
    expect(reasonOf(await openDynamicFile(dir, "o.yaml", { allowGroupWritable: true }))).toContain("may be written by other users (mode 0666)");
  });

  test("refuses a file of another user", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "u.yaml"), "services: {}\n");
    const uid = process.getuid!();
    if (uid === 0) chownSync(join(dir, "u.yaml"), 4321, 4321);
    const expected = uid === 0 ? "belongs to uid 4321, not to credproxy's user (uid 0) or root; chown it" : `not to credproxy's user (uid 4321)`;
    expect(reasonOf(await openDynamicFile(dir, "u.yaml", { allowGroupWritable: false, uid: uid === 0 ? 0 : 4321 }))).toContain(expected);
  });

  test("refuses a FIFO at once, through a symlink too, instead of blocking on it", async () => {
    const dir = tempDir();
    Bun.spawnSync(["mkfifo", join(dir, "fifo.yaml")]);
    symlinkSync("fifo.yaml", join(dir, "link.yaml"));
    expect(reasonOf(await openDynamicFile(dir, "fifo.yaml", strict))).toBe("is not a regular file");
    expect(reasonOf(await openDynamicFile(dir, "link.yaml", strict))).toBe("is not a regular file");
  });

  test("refuses a file over the size limit without reading it", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "big.yaml"), "#".repeat(64 * 1024 + 1));
    expect(reasonOf(await openDynamicFile(dir, "big.yaml", strict))).toBe("is 65537 bytes, over the dynamic service file size limit of 65536 bytes");
  });

  test("refuses a hard link, which could name a file from outside the directory", async () => {
    const dir = tempDir();
    const outside = tempDir();
    writeFileSync(join(outside, "private.yaml"), "services: {}\n", { mode: 0o600 });
    linkSync(join(outside, "private.yaml"), join(dir, "linked.yaml"));
    expect(reasonOf(await openDynamicFile(dir, "linked.yaml", strict))).toContain("has 2 hard links");
  });

  test("says a file that vanished is gone, not refused", async () => {
    expect((await openDynamicFile(tempDir(), "none.yaml", strict)).kind).toBe("gone");
  });
});
