/**
 * Writes a unit file the way a package manager would: to a temp file in the same directory,
 * then rename(2), so systemd (or a reader racing `daemon-reload`) sees the old file or the new
 * one, never half of one. A different file already there is kept unless `force` is given,
 * because it may be an edited copy somebody relies on.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { CredproxyError, ErrorCode } from "../../errors.ts";

export type UnitWriteOutcome = "created" | "replaced" | "unchanged";

export function writeUnitFile(path: string, text: string, options: { force: boolean; command: string }): UnitWriteOutcome {
  const dir = dirname(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new CredproxyError(ErrorCode.Platform, `${options.command}: ${dir} is not a directory, so the unit has nowhere to go`, {
      hint: "is this a systemd system? Give the unit directory with --unit-dir, or print the unit with --dry-run",
    });
  }
  const existing = existsSync(path) ? readFileSync(path, "utf8") : undefined;
  if (existing === text) return "unchanged";
  if (existing !== undefined && !options.force) {
    throw new CredproxyError(ErrorCode.Usage, `${options.command}: ${path} exists and differs from the unit this would write`, {
      hint: "see the new one with --dry-run; replace the old one with --force",
    });
  }
  const temp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(temp, "wx", 0o644);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    throw new CredproxyError(ErrorCode.Platform, `${options.command}: cannot write ${path}: ${(error as Error).message}`, {
      hint: code === "EACCES" || code === "EPERM" || code === "EROFS" ? "run it as root (sudo), or give a writable --unit-dir" : undefined,
      cause: error,
    });
  }
  return existing === undefined ? "created" : "replaced";
}
