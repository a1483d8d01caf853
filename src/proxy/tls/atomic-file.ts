/**
 * Writes a file so a reader sees either the old content or the whole new content, never a
 * half-written key or bundle: a private temp file beside it, fsync, then rename over.
 */
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";

/** `mode` is applied with fchmod, so the umask cannot loosen or tighten it. */
export function writeFileAtomic(path: string, data: string | Buffer, mode: number): void {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const fd = openSync(temp, "wx", 0o600);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  renameSync(temp, path);
  syncDirectory(dirname(path));
}

/** Makes the rename durable; best effort, as some filesystems refuse fsync on a directory. */
function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // the rename itself already happened; durability across a crash is a bonus here
  }
}
