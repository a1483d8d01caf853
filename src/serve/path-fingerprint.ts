import { statSync } from "node:fs";

/** What a ${fromFile:} reference pointed at: changes when the file appears, goes, or changes. */
export function pathFingerprint(path: string): string {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch (error) {
    return `missing:${(error as { code?: string }).code ?? "?"}`;
  }
}
