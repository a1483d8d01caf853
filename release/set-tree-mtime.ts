/**
 * Gives every entry under a directory (files, symlinks themselves, directories, and the
 * directory itself) one modification and access time, so a tree laid out by copying (whose
 * mtimes would be the moment of the copy) is the same in two builds: for dist/scratch, which
 * image builders and tar archive with its mtimes.
 */
import { lutimes, readdir, utimes } from "node:fs/promises";
import { join } from "node:path";

export async function setTreeMtime(dir: string, time: Date): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await setTreeMtime(path, time);
    else await lutimes(path, time, time);
  }
  // Last: writing the children above would otherwise move the directory's own mtime again.
  await utimes(dir, time, time);
}
