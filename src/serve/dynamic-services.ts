import { watch, type FSWatcher } from "node:fs";
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import type { DynamicDirectory, DynamicServicesConfig, ServiceSpec } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { RefusedService, ServiceRegistry } from "./service-registry.ts";

const SERVICE_FILE = /\.(ya?ml|json)$/i;
/** A missed inotify event (a replaced directory, an NFS mount) is caught by this rescan. */
const RESCAN_MS = 30_000;

export interface DynamicFileStatus {
  readonly file: string;
  readonly status: "ok" | "error";
  readonly services: readonly string[];
  /** Why the current content was rejected; the last good version, if any, keeps serving. */
  readonly error?: string;
  readonly refused?: readonly RefusedService[];
}

interface Known {
  fingerprint: string;
  content: string;
  status: DynamicFileStatus;
}

export interface DynamicServicesOptions {
  config: DynamicServicesConfig;
  registry: ServiceRegistry;
  /** Parses one file into services (the config loader, bound to aws_defaults). Throws on bad content. */
  load: (file: string, text: string) => readonly ServiceSpec[];
  logger: Logger;
}

/**
 * Watches the dynamic-services directories and keeps the registry in step with them.
 * Events only say "look again": after `reload_interval` of quiet, the whole directory is
 * reconciled against what was loaded before, so renames, atomic saves and editors' temp files
 * all end in the same place. Patterns match the file name, not the full path.
 */
export class DynamicServices {
  readonly #opts: DynamicServicesOptions;
  readonly #known = new Map<string, Known>();
  readonly #watchers: FSWatcher[] = [];
  readonly #timers = new Map<string, Timer>();
  readonly #running = new Map<string, Promise<void>>();
  #rescan: Timer | undefined;
  #stopped = false;

  constructor(options: DynamicServicesOptions) {
    this.#opts = options;
  }

  async start(): Promise<void> {
    for (const dir of this.#opts.config.directories) {
      const path = resolve(dir.path);
      try {
        await mkdir(path, { recursive: true });
      } catch (error) {
        this.#opts.logger.warn("cannot create dynamic services directory; will retry", { directory: path, error });
      }
      await this.reconcile(dir);
      this.#watch(dir, path);
    }
    this.#rescan = setInterval(() => {
      for (const dir of this.#opts.config.directories) void this.reconcile(dir);
    }, RESCAN_MS);
    this.#rescan.unref?.();
  }

  stop(): void {
    this.#stopped = true;
    for (const w of this.#watchers) w.close();
    for (const t of this.#timers.values()) clearTimeout(t);
    if (this.#rescan) clearInterval(this.#rescan);
  }

  files(): DynamicFileStatus[] {
    return [...this.#known.values()].map((k) => k.status);
  }

  /** Brings the registry in line with the directory's current files (serialised per directory). */
  reconcile(dir: DynamicDirectory): Promise<void> {
    const key = resolve(dir.path);
    const previous = this.#running.get(key) ?? Promise.resolve();
    const next = previous.then(() => this.#reconcile(dir, key));
    this.#running.set(key, next.catch(() => {}));
    return next;
  }

  #watch(dir: DynamicDirectory, path: string): void {
    try {
      const watcher = watch(path, { persistent: false }, () => this.#schedule(dir, path));
      watcher.on("error", (error) => this.#opts.logger.warn("dynamic services watcher failed", { directory: path, error }));
      this.#watchers.push(watcher);
    } catch (error) {
      this.#opts.logger.warn("cannot watch dynamic services directory; relying on periodic rescan", { directory: path, error });
    }
  }

  #schedule(dir: DynamicDirectory, path: string): void {
    if (this.#stopped) return;
    clearTimeout(this.#timers.get(path));
    const delay = this.#opts.config.reloadIntervalSeconds * 1000;
    this.#timers.set(path, setTimeout(() => void this.reconcile(dir), delay));
  }

  async #reconcile(dir: DynamicDirectory, path: string): Promise<void> {
    if (this.#stopped) return;
    const present = new Set<string>();
    for (const name of await listNames(path)) {
      if (!matches(name, dir, this.#opts.logger)) continue;
      const file = join(path, name);
      const fingerprint = await fileFingerprint(file);
      if (fingerprint === undefined) continue; // vanished, or not a regular file
      present.add(file);
      const known = this.#known.get(file);
      // A rejected file is tried again on every pass: what it refers to (a ${fromFile:} secret,
      // an env var) may have appeared since, without the file itself changing.
      const settled = known?.status.status === "ok";
      if (settled && known.fingerprint === fingerprint) continue;
      const content = await readFile(file, "utf8").catch(() => undefined);
      if (content === undefined) continue;
      if (settled && known.content === content) {
        known.fingerprint = fingerprint; // touched, not changed
        continue;
      }
      this.#loadFile(file, fingerprint, content);
    }
    for (const file of [...this.#known.keys()]) {
      if (file.startsWith(path + "/") && !present.has(file)) this.#forget(file);
    }
  }

  #loadFile(file: string, fingerprint: string, content: string): void {
    const log = this.#opts.logger;
    const before = this.#known.get(file);
    let specs: readonly ServiceSpec[];
    try {
      specs = this.#opts.load(file, content);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const serving = before?.status.services ?? [];
      // Rejected files are retried on every pass; say so again only when the reason changes.
      if (before?.status.error !== message) log.error("dynamic services file rejected", {
        file,
        error: message,
        ...(serving.length > 0 ? { still_serving: serving } : {}),
      });
      this.#known.set(file, { fingerprint, content, status: { file, status: "error", services: serving, error: message } });
      return;
    }
    const change = this.#opts.registry.applyFile(file, specs);
    const services = specs.map((s) => s.name).filter((n) => !change.refused.some((r) => r.name === n));
    this.#known.set(file, {
      fingerprint,
      content,
      status: { file, status: "ok", services, ...(change.refused.length > 0 ? { refused: change.refused } : {}) },
    });
    log.info("dynamic services file loaded", {
      file,
      added: change.added,
      updated: change.updated,
      removed: change.removed,
      refused: change.refused.map((r) => r.name),
    });
  }

  #forget(file: string): void {
    this.#known.delete(file);
    const removed = this.#opts.registry.removeFile(file);
    this.#opts.logger.info("dynamic services file removed", { file, removed });
  }
}

async function listNames(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch {
    return [];
  }
}

async function fileFingerprint(file: string): Promise<string | undefined> {
  try {
    const s = await stat(file);
    return s.isFile() ? `${s.mtimeMs}:${s.size}:${s.ino}` : undefined;
  } catch {
    return undefined;
  }
}

const compiled = new Map<string, RegExp | null>();
function regex(pattern: string, log: Logger): RegExp | null {
  let re = compiled.get(pattern);
  if (re === undefined) {
    try {
      // CredProxy uses Python's re.match, which anchors at the start; keep that meaning.
      re = new RegExp(`^(?:${pattern})`);
    } catch (error) {
      log.warn("invalid dynamic services pattern ignored", { pattern, error });
      re = null;
    }
    compiled.set(pattern, re);
  }
  return re;
}

/** Exclude wins; an empty include list means everything; only YAML and JSON files count. */
export function matches(name: string, dir: DynamicDirectory, log: Logger): boolean {
  if (!SERVICE_FILE.test(name)) return false;
  const base = basename(name);
  if (dir.exclude.some((p) => regex(p, log)?.test(base))) return false;
  return dir.include.length === 0 || dir.include.some((p) => regex(p, log)?.test(base));
}
