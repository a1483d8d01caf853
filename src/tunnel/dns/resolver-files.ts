/**
 * Split DNS on macOS: one `/etc/resolver/<zone>` file per zone naming the agent's tunnel address
 * (resolver(5); ssm-tunnel.md §5), which the system resolver picks up by itself. Each file
 * starts with a marker line naming the tunnel, and only a file with our marker is ever replaced
 * or removed, so a resolver file the user wrote is never touched. Removed on exit, and by
 * `tunnel down --force` after a crash (the paths are in the tunnel's state record).
 *
 * UNVERIFIED on a Mac: the file format follows resolver(5); it has never run on macOS.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CredproxyError, ErrorCode } from "../../errors.ts";

export const RESOLVER_DIR = "/etc/resolver";
const MARKER = "# written by credproxy tunnel";

/** The file's text: the marker with the tunnel's name, then the server. */
export function resolverFileText(server: string, tunnel: string): string {
  return `${MARKER} ${tunnel}; removed by credproxy tunnel down\nnameserver ${server}\nport 53\n`;
}

/** Writes one file per zone; returns their paths. A file that is not ours is an error. */
export function writeResolverFiles(dir: string, zones: readonly string[], server: string, tunnel: string): string[] {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const paths = zones.map((zone) => join(dir, zone));
  for (const path of paths) {
    const existing = readIfPresent(path);
    if (existing !== undefined && !existing.startsWith(MARKER)) {
      throw new CredproxyError(ErrorCode.Platform, `tunnel up: ${path} exists and was not written by credproxy`, {
        hint: "remove it or leave that zone out of --dns; credproxy does not replace a resolver file it did not write",
      });
    }
  }
  for (const path of paths) writeFileSync(path, resolverFileText(server, tunnel), { mode: 0o644 });
  return paths;
}

/** Removes those of `paths` that carry our marker; returns the ones removed. */
export function removeResolverFiles(paths: readonly string[]): string[] {
  const removed: string[] = [];
  for (const path of paths) {
    if (!readIfPresent(path)?.startsWith(MARKER)) continue;
    rmSync(path, { force: true });
    removed.push(path);
  }
  return removed;
}

function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
