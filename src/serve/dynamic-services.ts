import { watch, type FSWatcher } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { compilePythonMatch } from "../config/python-regex.ts";
import { openDynamicFile } from "./open-dynamic-file.ts";
import { pathFingerprint } from "./path-fingerprint.ts";
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
  /** ${fromFile:…} paths the last attempt read, with their fingerprints then. */
  refs: ReadonlyMap<string, string>;
}

export interface DynamicServicesOptions {
  config: DynamicServicesConfig;
  registry: ServiceRegistry;
  /**
   * Parses one file into services (the dynamic file loader, bound to aws_defaults and to the
   * directory's settings; serve.ts runs it in a worker). Reports each ${fromFile:…} path with
   * `onRead`, with its fingerprint just before the read (else taken at the call). Throws on bad content.
   */
  load: (file: string, text: string, dir: DynamicDirectory, onRead: (path: string, fingerprint?: string) => void) => readonly ServiceSpec[] | Promise<readonly ServiceSpec[]>;
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
  readonly #missing = new Set<string>();
  #rescan: Timer | undefined;
  #poll: Timer | undefined;
  #stopped = false;

  constructor(options: DynamicServicesOptions) {
    this.#opts = options;
  }

  async start(): Promise<void> {
    for (const dir of this.#opts.config.directories) {
      const path = resolve(dir.path);
      if (await isDirectory(path)) await this.#attach(dir, path);
      else this.#markMissing(path);
      await this.reconcile(dir);
    }
    this.#rescan = setInterval(() => {
      for (const dir of this.#opts.config.directories) void this.reconcile(dir);
    }, RESCAN_MS);
    this.#rescan.unref?.();
    // A missing directory is never created (a typo would silently become an empty directory):
    // it is looked for again every reload_interval, and taken up when it appears.
    this.#poll = setInterval(() => void this.#lookForMissing(), this.#opts.config.reloadIntervalSeconds * 1000);
    this.#poll.unref?.();
  }

  /** Each configured directory, and whether it exists (for /health). */
  directories(): { directory: string; status: "ok" | "missing"; message?: string }[] {
    return this.#opts.config.directories.map((dir) => {
      const directory = resolve(dir.path);
      return this.#missing.has(directory)
        ? { directory, status: "missing", message: `dynamic directory ${directory} does not exist; it is picked up when it appears` }
        : { directory, status: "ok" };
    });
  }

  async #attach(dir: DynamicDirectory, path: string): Promise<void> {
    await this.#warnIfOpen(path).catch(() => {});
    this.#watch(dir, path);
  }

  #markMissing(path: string): void {
    if (this.#missing.has(path)) return;
    this.#missing.add(path);
    this.#opts.logger.warn("dynamic services directory does not exist; it is picked up when it appears", { directory: path });
  }

  async #lookForMissing(): Promise<void> {
    for (const dir of this.#opts.config.directories) {
      const path = resolve(dir.path);
      if (this.#stopped || !this.#missing.has(path) || !(await isDirectory(path))) continue;
      this.#missing.delete(path);
      this.#opts.logger.info("dynamic services directory appeared", { directory: path });
      await this.#attach(dir, path);
      await this.reconcile(dir);
    }
  }

  /** Files of other users are refused anyway, but in a directory anyone may write they can delete or replace credproxy's. */
  async #warnIfOpen(path: string): Promise<void> {
    const mode = (await stat(path)).mode;
    if ((mode & 0o002) !== 0 && (mode & 0o1000) === 0) {
      const octal = (mode & 0o7777).toString(8).padStart(4, "0");
      this.#opts.logger.warn("dynamic services directory is writable by every user; run chmod o-w on it", { directory: path, mode: octal });
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const w of this.#watchers) w.close();
    for (const t of this.#timers.values()) clearTimeout(t);
    if (this.#rescan) clearInterval(this.#rescan);
    if (this.#poll) clearInterval(this.#poll);
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
    const realDir = await realpath(path).catch(() => path);
    const present = new Set<string>();
    for (const name of await listNames(path)) {
      if (!matches(name, dir, this.#opts.logger)) continue;
      const file = join(path, name);
      try {
        if (await this.#visit(dir, realDir, name, file)) present.add(file);
      } catch (error) {
        // An I/O error on one file must not end the pass (nor go unhandled); keep what it served.
        if (this.#known.has(file)) present.add(file);
        this.#opts.logger.warn("cannot read dynamic services file; will retry", { file, error });
      }
    }
    for (const file of [...this.#known.keys()]) {
      if (file.startsWith(path + "/") && !present.has(file)) this.#forget(file);
    }
  }

  /** Looks at one file and (re)loads it when needed; false when it is gone. */
  async #visit(dir: DynamicDirectory, realDir: string, name: string, file: string): Promise<boolean> {
    const opened = await openDynamicFile(realDir, name, { allowGroupWritable: dir.allowGroupWritable });
    if (opened.kind === "gone") return false;
    const known = this.#known.get(file);
    if (opened.kind === "refused") {
      const message = `${file} ${opened.reason}`;
      if (known?.fingerprint !== opened.fingerprint || known.status.error !== message) this.#reject(file, opened.fingerprint, "", new Map(), message);
      return true;
    }
    try {
      // A rejected file is tried again only when it, or a ${fromFile:} file it referred to, changed:
      // a secret that appears later is picked up, and a hostile file is not parsed on every pass.
      if (known?.fingerprint === opened.fingerprint && (known.status.status === "ok" || !refsChanged(known.refs))) return true;
      const content = await opened.read();
      if (known?.status.status === "ok" && known.content === content) known.fingerprint = opened.fingerprint; // touched, not changed
      else await this.#loadFile(dir, file, opened.fingerprint, content);
      return true;
    } finally {
      await opened.close();
    }
  }

  async #loadFile(dir: DynamicDirectory, file: string, fingerprint: string, content: string): Promise<void> {
    const refs = new Map<string, string>();
    let specs: readonly ServiceSpec[];
    try {
      specs = await this.#opts.load(file, content, dir, (ref, print) => refs.set(ref, print ?? pathFingerprint(ref)));
    } catch (error) {
      this.#reject(file, fingerprint, content, refs, error instanceof Error ? error.message : String(error));
      return;
    }
    const change = this.#opts.registry.applyFile(file, specs);
    const services = specs.map((s) => s.name).filter((n) => !change.refused.some((r) => r.name === n));
    this.#known.set(file, {
      fingerprint,
      content,
      refs,
      status: { file, status: "ok", services, ...(change.refused.length > 0 ? { refused: change.refused } : {}) },
    });
    this.#opts.logger.info("dynamic services file loaded", {
      file,
      added: change.added,
      updated: change.updated,
      removed: change.removed,
      refused: change.refused.map((r) => r.name),
    });
  }

  /** The file's current content (or the file itself) is refused; the last good version, if any, keeps serving. */
  #reject(file: string, fingerprint: string, content: string, refs: ReadonlyMap<string, string>, message: string): void {
    const before = this.#known.get(file);
    const serving = before?.status.services ?? [];
    // Say so again only when the reason changes.
    if (before?.status.error !== message) {
      this.#opts.logger.error("dynamic services file rejected", { file, error: message, ...(serving.length > 0 ? { still_serving: serving } : {}) });
    }
    this.#known.set(file, { fingerprint, content, refs, status: { file, status: "error", services: serving, error: message } });
  }

  #forget(file: string): void {
    this.#known.delete(file);
    const removed = this.#opts.registry.removeFile(file);
    this.#opts.logger.info("dynamic services file removed", { file, removed });
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

async function listNames(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch {
    return [];
  }
}

function refsChanged(refs: ReadonlyMap<string, string>): boolean {
  for (const [path, print] of refs) if (pathFingerprint(path) !== print) return true;
  return false;
}

const compiled = new Map<string, RegExp | null>();
function regex(pattern: string, log: Logger): RegExp | null {
  let re = compiled.get(pattern);
  if (re === undefined) {
    try {
      // CredProxy's patterns are Python's, matched with re.match (anchored at the start).
      re = compilePythonMatch(pattern);
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
