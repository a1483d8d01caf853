/**
 * Opens one dynamic service file the way its trust model requires (README, "Dynamic services"):
 * - a symlink is followed only when its real path stays inside the directory's real path (as
 *   Kubernetes ConfigMap/Secret volumes do: `svc.yaml -> ..data/svc.yaml`); anything else is refused;
 * - the file is opened once with O_NOFOLLOW|O_NONBLOCK and judged on that descriptor: a regular
 *   file, owned by credproxy's uid or root, not writable by others (nor by its group unless the
 *   directory allows it), with no other hard link, at most DYNAMIC_FILE_MAX_BYTES.
 * Refusals carry a reason for /health and the log, and a fingerprint so an unchanged refused
 * file is not judged (or logged) again.
 */
import { constants, readlinkSync } from "node:fs";
import { lstat, open, readlink, realpath, type FileHandle } from "node:fs/promises";
import { join, sep } from "node:path";
import { ownershipProblem } from "../config/checked-file.ts";
import { DYNAMIC_FILE_MAX_BYTES } from "../config/parse-limits.ts";

export type DynamicFile =
  | { readonly kind: "gone" }
  | { readonly kind: "refused"; readonly fingerprint: string; readonly reason: string }
  | { readonly kind: "open"; readonly fingerprint: string; read(): Promise<string>; close(): Promise<void> };

export interface OpenDynamicOptions {
  readonly allowGroupWritable: boolean;
  /** The uid files must belong to (or root); default process.getuid(). */
  readonly uid?: number | undefined;
}

const GONE: DynamicFile = { kind: "gone" };

/** `realDir` is the directory's real path (symlinks resolved); `name` a file name in it. */
export async function openDynamicFile(realDir: string, name: string, options: OpenDynamicOptions): Promise<DynamicFile> {
  const path = join(realDir, name);
  const link = await lstat(path).catch(() => undefined);
  if (link === undefined) return GONE;
  let target = path;
  if (link.isSymbolicLink()) {
    const to = await readlink(path).catch(() => "?");
    const linkPrint = `link:${link.ino}:${link.ctimeMs}:${to}`;
    const real = await realpath(path).catch(() => undefined);
    if (real === undefined) return { kind: "refused", fingerprint: linkPrint, reason: `is a symbolic link to ${to}, which does not exist` };
    if (!inside(real, realDir)) {
      return { kind: "refused", fingerprint: `${linkPrint}:${real}`, reason: `is a symbolic link to ${real}, outside the directory ${realDir}; only links that stay inside it are followed` };
    }
    target = real;
  } else if (!link.isFile()) {
    return { kind: "refused", fingerprint: `other:${link.ino}:${link.mode}`, reason: "is not a regular file" };
  }
  let handle: FileHandle;
  try {
    handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT") return GONE; // replaced between the look and the open: the next pass sees the new one
    return { kind: "refused", fingerprint: `error:${link.ino}:${link.ctimeMs}:${code}`, reason: `cannot be opened (${code ?? String(error)})` };
  }
  try {
    return await judge(handle, realDir, options);
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function judge(handle: FileHandle, realDir: string, options: OpenDynamicOptions): Promise<DynamicFile> {
  const stat = await handle.stat();
  const fingerprint = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
  const refuse = async (reason: string): Promise<DynamicFile> => {
    await handle.close();
    return { kind: "refused", fingerprint, reason };
  };
  // realpath and open are two steps: a directory component swapped in between is caught here (Linux).
  const opened = openedPath(handle.fd);
  if (opened !== undefined && !inside(opened, realDir)) return refuse(`resolved outside the directory ${realDir} while being opened`);
  if (!stat.isFile()) return refuse("is not a regular file");
  const uid = options.uid ?? process.getuid?.() ?? 0;
  const problem = ownershipProblem(stat, uid, { allowGroupWritable: options.allowGroupWritable });
  if (problem?.kind === "owner") return refuse(`belongs to uid ${problem.owner}, not to credproxy's user (uid ${uid}) or root; chown it`);
  if (problem?.kind === "mode") {
    const who = options.allowGroupWritable ? "other users" : "its group or other users";
    return refuse(`may be written by ${who} (mode ${problem.octal}); run chmod go-w on it${options.allowGroupWritable ? "" : ", or set allow_group_writable: true on the directory"}`);
  }
  // A hard link made by someone who may write the directory could pull in a file from anywhere on the same file system.
  if (stat.nlink > 1) return refuse(`has ${stat.nlink} hard links; a service file must be its only name (copy it instead of linking it)`);
  if (stat.size > DYNAMIC_FILE_MAX_BYTES) return refuse(`is ${stat.size} bytes, over the dynamic service file size limit of ${DYNAMIC_FILE_MAX_BYTES} bytes`);
  return {
    kind: "open",
    fingerprint,
    read: () => readAtMost(handle, DYNAMIC_FILE_MAX_BYTES),
    close: () => handle.close(),
  };
}

/** Reads up to `max` bytes; a file that grew past it since fstat reads as its first max+1 bytes, which the parser's size cap then refuses. */
async function readAtMost(handle: FileHandle, max: number): Promise<string> {
  const buf = Buffer.alloc(max + 1);
  let total = 0;
  while (total < buf.length) {
    const { bytesRead } = await handle.read(buf, total, buf.length - total, total);
    if (bytesRead === 0) break;
    total += bytesRead;
  }
  return buf.subarray(0, total).toString("utf8");
}

function openedPath(fd: number): string | undefined {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined; // no /proc (macOS): the realpath check above stands alone
  }
}

export function inside(path: string, dir: string): boolean {
  return path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}
