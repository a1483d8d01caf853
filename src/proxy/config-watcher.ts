/**
 * Notices edits of proxy.yaml and of runs_dir: fs.watch for a prompt answer, and a stat of
 * the file and the directory every `intervalMs` for file systems whose events do not arrive
 * (bind mounts, network file systems, editors that replace files). Only a real change of
 * what would be read (inode, size, mtime of the file; names and stats of the run files; the
 * files their ${fromFile:} references name, so a token rotated on disk is reloaded too)
 * calls `onChange`, and never twice at once.
 */
import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { substitutionSyntax } from "../config/substitute.ts";

export interface ConfigWatcher {
  close(): void;
}

/** A change is loaded once the files have stopped changing for this long: a file written in two steps (create, then fill) is not read half-written. */
const SETTLE_MS = 150;

export function watchConfig(options: { file: string | undefined; runsDir: string | undefined; intervalMs?: number; settleMs?: number; onChange: () => Promise<void> | void }): ConfigWatcher {
  let last = signature(options.file, options.runsDir);
  let running = false;
  let again = false;
  const check = async (): Promise<void> => {
    if (running) return void (again = true);
    running = true;
    try {
      do {
        again = false;
        let now = signature(options.file, options.runsDir);
        if (now === last) continue;
        for (let settled = false; !settled; ) {
          await new Promise((resolve) => setTimeout(resolve, options.settleMs ?? SETTLE_MS));
          const later = signature(options.file, options.runsDir);
          settled = later === now;
          now = later;
        }
        last = now;
        await options.onChange();
      } while (again);
    } finally {
      running = false;
    }
  };
  const watchers: FSWatcher[] = [];
  const watchDir = (dir: string, only?: string) => {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        if (only === undefined || name === null || name === only) void check();
      });
      w.on("error", () => w.close());
      watchers.push(w);
    } catch {
      // the directory may not exist yet: the interval notices it appearing
    }
  };
  if (options.file) watchDir(dirname(options.file), basename(options.file));
  if (options.runsDir) watchDir(options.runsDir);
  const timer = setInterval(() => void check(), options.intervalMs ?? 2_000);
  timer.unref?.();
  return {
    close() {
      clearInterval(timer);
      for (const w of watchers) w.close();
    },
  };
}

function signature(file: string | undefined, runsDir: string | undefined): string {
  const parts: string[] = [];
  if (file) parts.push(stamp(file), ...referencedStamps(file));
  if (runsDir) {
    let names: string[] = [];
    try {
      names = readdirSync(runsDir).sort();
    } catch {
      parts.push("no runs_dir");
    }
    for (const name of names) parts.push(`${name}=${stamp(join(runsDir, name))}`, ...referencedStamps(join(runsDir, name)));
  }
  return parts.join("\n");
}

/** The stats of the files a config's ${fromFile:} references name (relative ones from the working directory, as the loader reads them). */
function referencedStamps(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8").slice(0, 1 << 20);
  } catch {
    return [];
  }
  const { fromFileTag, separator } = substitutionSyntax(process.env);
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`\\$\\{${escape(fromFileTag)}${escape(separator)}([^}]+)\\}`, "g");
  return [...text.matchAll(pattern)].map((m) => {
    const path = resolve(m[1]!);
    return `${path}=${stamp(path)}`;
  });
}

function stamp(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return "missing";
  }
}
