/**
 * Opening a file once and judging that one descriptor: the file checked is the file read (no
 * swap between a stat and a read), a FIFO or device never blocks the event loop (O_NONBLOCK),
 * and at most `maxBytes` are read. Shared by the broker config, the main config, ${fromFile:}
 * and dynamic service files; the ownership rule for files that decide what credproxy does is
 * here too, so every caller applies the same one.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";

/** A file as opened: what fstat said about the descriptor the text was read from. */
export interface OpenedFile {
  readonly uid: number;
  readonly mode: number;
  readonly regular: boolean;
  readonly size: number;
  /** Device, inode, size, mtime and ctime: changes whenever the file (or its mode/owner) does. */
  readonly fingerprint: string;
  /** Undefined when it is not a regular file or is over maxBytes (nothing is read then). */
  readonly text: string | undefined;
}

export interface OpenCheckedOptions {
  /** Read nothing from a larger file (its `text` is undefined); default unlimited. */
  readonly maxBytes?: number | undefined;
  /** Refuse a symlink as the last path component (ELOOP). */
  readonly noFollow?: boolean | undefined;
}

/** Opens `path` read-only and non-blocking, fstats that descriptor and reads it when it is a small regular file. */
export function openCheckedFile(path: string, options: OpenCheckedOptions = {}): OpenedFile {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow ? constants.O_NOFOLLOW : 0);
  const fd = openSync(path, flags);
  try {
    const stat = fstatSync(fd);
    const regular = stat.isFile();
    const max = options.maxBytes ?? Infinity;
    const readable = regular && stat.size <= max;
    return {
      uid: stat.uid,
      mode: stat.mode,
      regular,
      size: stat.size,
      fingerprint: `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`,
      text: readable ? readBounded(fd, max) : undefined,
    };
  } finally {
    closeSync(fd);
  }
}

/** Reads at most `max` bytes (the file may have grown since fstat; the excess is never read). */
function readBounded(fd: number, max: number): string {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const want = Math.min(64 * 1024, Number.isFinite(max) ? max + 1 - total : 64 * 1024);
    if (want <= 0) break;
    const buf = Buffer.allocUnsafe(want);
    const n = readSync(fd, buf, 0, want, null);
    if (n === 0) break;
    chunks.push(buf.subarray(0, n));
    total += n;
  }
  if (total > max) throw Object.assign(new Error(`file grew past ${max} bytes while being read`), { code: "EFBIG" });
  return Buffer.concat(chunks, total).toString("utf8");
}

/**
 * A ReadFile for ${fromFile:…} and config files: regular files only (a FIFO, device or
 * directory is refused at once, never read) of at most `maxBytes`. Throws Node-style errors
 * with a `code`: the open's own (ENOENT, EACCES, ELOOP), ENOTREGULAR or EFBIG.
 */
export function readRegularFile(path: string, maxBytes: number, options: { noFollow?: boolean } = {}): string {
  const opened = openCheckedFile(path, { maxBytes, noFollow: options.noFollow });
  if (!opened.regular) {
    const directory = (opened.mode & 0o170000) === 0o040000;
    throw Object.assign(new Error(`${path} is not a regular file`), { code: directory ? "EISDIR" : "ENOTREGULAR" });
  }
  if (opened.text === undefined) throw Object.assign(new Error(`${path} is ${opened.size} bytes, over ${maxBytes}`), { code: "EFBIG", size: opened.size, limit: maxBytes });
  return opened.text;
}

/** Why a file that decides what credproxy does may not be trusted, or undefined when it may. */
export type OwnershipProblem = { readonly kind: "owner"; readonly owner: number } | { readonly kind: "mode"; readonly octal: string };

/**
 * The rule for trusted input files: owned by `uid` (credproxy's) or root, and not writable by
 * others; not writable by the group either unless `allowGroupWritable`.
 */
export function ownershipProblem(stat: { uid: number; mode: number }, uid: number, options: { allowGroupWritable?: boolean } = {}): OwnershipProblem | undefined {
  if (stat.uid !== uid && stat.uid !== 0) return { kind: "owner", owner: stat.uid };
  const forbidden = options.allowGroupWritable ? 0o002 : 0o022;
  if ((stat.mode & forbidden) !== 0) return { kind: "mode", octal: (stat.mode & 0o777).toString(8).padStart(4, "0") };
  return undefined;
}
