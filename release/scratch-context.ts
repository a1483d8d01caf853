/**
 * Fills a directory with exactly what a FROM-scratch image of a glibc Linux binary needs, for
 * Dockerfile.scratch (`COPY dist/scratch/ /`):
 *
 *   usr/local/bin/credproxy               the binary, copied byte for byte (never stripped:
 *                                         stripping deletes a `bun build --compile` payload)
 *   lib/x86_64-linux-gnu/libc.so.6 …      every library `ldd` reports, at the path ldd names,
 *                                         as a real file (symlinks dereferenced)
 *   lib64/ld-linux-x86-64.so.2            the ELF interpreter at the path the binary asks for
 *                                         (PT_INTERP); where the host has it as a symlink, the
 *                                         same relative symlink to a real copy at its target
 *   etc/passwd, etc/group                 root and nonroot (65532:65532, home /home/nonroot)
 *   home/nonroot/                         empty; meant to be owned by 65532:65532 (see `owners`)
 *
 * The binary is not put at /credproxy: that path is the config directory
 * (/credproxy/config.yaml, /credproxy/dynamic) that CredProxy users mount, and a file there
 * would make those mounts impossible.
 *
 * Nothing here is specific to credproxy beyond the default in-image name: ldd output is
 * parsed generically and the interpreter is read from the ELF header, so any dynamically (or
 * statically) linked glibc binary for the host's architecture works.
 *
 * Usage: bun release/scratch-context.ts <binary> <outDir>
 */
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, closeSync, copyFileSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, isAbsolute, join, normalize, relative, resolve, sep } from "node:path";
import { elfNeeded } from "./elf-needed.ts";

/** Where the binary lives inside the image (relative to /). Dockerfile.scratch relies on it. */
export const IMAGE_BINARY_PATH = "usr/local/bin/credproxy";
export const NONROOT_UID = 65532;
export const NONROOT_GID = 65532;
export const NONROOT_HOME = "home/nonroot";

const PASSWD = `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${NONROOT_UID}:${NONROOT_GID}:nonroot:/${NONROOT_HOME}:/sbin/nologin\n`;
const GROUP = `root:x:0:\nnonroot:x:${NONROOT_GID}:\n`;

export interface ScratchContextOptions {
  /** In-image path of the binary, relative to /. Default usr/local/bin/credproxy. */
  binaryPath?: string;
  /**
   * For a binary of another architecture (ldd cannot list those): the directory on this
   * machine that holds its libraries, a cross sysroot such as /usr/aarch64-linux-gnu/lib from
   * Debian's libc6-arm64-cross, and where they go in the image (e.g. lib/aarch64-linux-gnu).
   * The libraries are then the DT_NEEDED closure read from the ELF files; the loader goes at
   * the binary's PT_INTERP path.
   */
  foreignLibraries?: { from: string; to: string };
}

export interface ScratchContext {
  /** Every entry written, relative to outDir, sorted: files, symlinks and the home directory. */
  files: string[];
  /**
   * Ownership the image must give these entries. A Dockerfile COPY makes everything 0:0, so
   * Dockerfile.scratch sets these with `COPY --chown`; when run as root they are also set here.
   */
  owners: { path: string; uid: number; gid: number }[];
}

class ScratchContextError extends Error {
  override name = "ScratchContextError";
}

interface ElfInfo {
  /** PT_INTERP, e.g. /lib64/ld-linux-x86-64.so.2; undefined for a static binary. */
  interpreter: string | undefined;
  machine: number;
}

const ELF_MACHINES: Record<string, number> = { x64: 62, arm64: 183, ia32: 3, arm: 40, riscv64: 243, ppc64: 21, s390x: 22 };

/** Reads the ELF header and program headers: enough for the machine and PT_INTERP. */
export function readElf(path: string): ElfInfo {
  const fd = openSync(path, "r");
  try {
    const read = (offset: number, length: number): Buffer => {
      const buf = Buffer.alloc(length);
      const n = readSync(fd, buf, 0, length, offset);
      if (n !== length) throw new ScratchContextError(`${path}: truncated ELF file`);
      return buf;
    };
    const ident = read(0, 64);
    if (ident.readUInt32BE(0) !== 0x7f454c46) throw new ScratchContextError(`${path} is not an ELF executable`);
    const is64 = ident[4] === 2;
    const le = ident[5] === 1;
    if (!is64 && ident[4] !== 1) throw new ScratchContextError(`${path}: unknown ELF class ${ident[4]}`);
    const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const addr = (b: Buffer, o: number): number => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
    const machine = u16(ident, 18);
    const phoff = addr(ident, is64 ? 32 : 28);
    const phentsize = u16(ident, is64 ? 54 : 42);
    const phnum = u16(ident, is64 ? 56 : 44);
    let interpreter: string | undefined;
    for (let i = 0; i < phnum; i++) {
      const ph = read(phoff + i * phentsize, phentsize);
      if (u32(ph, 0) !== 3 /* PT_INTERP */) continue;
      const offset = addr(ph, is64 ? 8 : 4);
      const size = addr(ph, is64 ? 32 : 16);
      interpreter = read(offset, size).toString("latin1").replace(/\0.*$/s, "");
    }
    return { interpreter, machine };
  } finally {
    closeSync(fd);
  }
}

export interface LddResult {
  /** Absolute paths of the libraries and loader ldd resolved, in its order, vdso excluded. */
  paths: string[];
  static: boolean;
}

/**
 * Parses `ldd` output. Handled line shapes (glibc ldd):
 *   libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)     library found
 *   /lib64/ld-linux-x86-64.so.2 (0x…)                      loader / absolute DT_NEEDED
 *   linux-vdso.so.1 (0x…)   or   linux-vdso.so.1 =>  (0x…) kernel-provided, no file
 *   libfoo.so.1 => not found                               an error
 *   statically linked   /   not a dynamic executable       nothing to copy
 */
export function parseLdd(output: string): LddResult {
  const paths: string[] = [];
  const missing: string[] = [];
  let isStatic = false;
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    if (/statically linked|not a dynamic executable/.test(line)) {
      isStatic = true;
      continue;
    }
    const arrow = /^(\S+)\s+=>\s*(.*?)\s*(?:\(0x[0-9a-fA-F]+\))?$/.exec(line);
    if (arrow) {
      const target = arrow[2] ?? "";
      if (target === "not found") missing.push(arrow[1] ?? line);
      else if (target.startsWith("/")) paths.push(target);
      // empty target: the vdso on older glibc
      continue;
    }
    const bare = /^(\S+)\s+\(0x[0-9a-fA-F]+\)$/.exec(line);
    if (bare) {
      if (bare[1]?.startsWith("/")) paths.push(bare[1]);
      continue; // no slash: linux-vdso.so.1 / linux-gate.so.1, provided by the kernel
    }
    throw new ScratchContextError(`unexpected ldd output line: ${JSON.stringify(raw)}`);
  }
  if (missing.length > 0) throw new ScratchContextError(`ldd cannot find ${missing.join(", ")}`);
  return { paths: [...new Set(paths)], static: isStatic && paths.length === 0 };
}

function runLdd(binary: string): LddResult {
  const r = spawnSync("ldd", [binary], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" } });
  if (r.error) throw new ScratchContextError(`cannot run ldd (Debian package libc-bin): ${r.error.message}`);
  const out = `${r.stdout}${r.stderr}`;
  // ldd exits 1 for a static binary ("not a dynamic executable"); that is a valid answer.
  if (r.status !== 0 && !/not a dynamic executable|statically linked/.test(out)) {
    throw new ScratchContextError(`ldd ${binary} failed (exit ${r.status}): ${out.trim()}`);
  }
  return parseLdd(r.stdout + (r.status === 0 ? "" : r.stderr));
}

/** `/lib/x/libc.so.6` → `lib/x/libc.so.6`, refusing anything that would leave outDir. */
function inImage(absPath: string): string {
  if (!isAbsolute(absPath)) throw new ScratchContextError(`expected an absolute path, got ${absPath}`);
  const rel = normalize(absPath).replace(/^\/+/, "");
  if (rel === "" || rel.startsWith("..")) throw new ScratchContextError(`refusing path ${absPath}`);
  return rel;
}

type Entry = { kind: "copy"; from: string; to: string; mode: number } | { kind: "link"; to: string; target: string } | { kind: "write"; to: string; text: string } | { kind: "dir"; to: string };

/** The DT_NEEDED closure of binary, found in libDir, as copies into imageLibDir (the loader at PT_INTERP). */
function foreignPlan(binary: string, interpreter: string, libDir: string, imageLibDir: string): Entry[] {
  const entries: Entry[] = [];
  const seen = new Set<string>();
  const queue = elfNeeded(binary);
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const from = join(libDir, name);
    if (!statSync(from, { throwIfNoEntry: false })?.isFile()) throw new ScratchContextError(`${binary} needs ${name}, which is not in ${libDir}`);
    const to = name === basename(interpreter) ? inImage(interpreter) : inImage(join("/", imageLibDir, name));
    entries.push({ kind: "copy", from, to, mode: statSync(from).mode & 0o777 });
    queue.push(...elfNeeded(from));
  }
  if (!seen.has(basename(interpreter))) {
    const from = join(libDir, basename(interpreter));
    entries.push({ kind: "copy", from, to: inImage(interpreter), mode: statSync(from).mode & 0o777 });
  }
  return entries;
}

function plan(binary: string, binaryPath: string, foreign?: ScratchContextOptions["foreignLibraries"]): Entry[] {
  const elf = readElf(binary);
  if (foreign !== undefined) {
    const entries: Entry[] = [{ kind: "copy", from: binary, to: binaryPath, mode: 0o755 }];
    if (elf.interpreter !== undefined) entries.push(...foreignPlan(binary, elf.interpreter, foreign.from, foreign.to));
    return [...entries, ...commonEntries()];
  }
  const hostMachine = ELF_MACHINES[process.arch];
  if (hostMachine !== undefined && elf.machine !== hostMachine) {
    throw new ScratchContextError(
      `${binary} is for ELF machine ${elf.machine}, this host (${process.arch}) is ${hostMachine}: ldd can only list libraries of a host-architecture binary; build the context on a matching machine`,
    );
  }
  const entries: Entry[] = [{ kind: "copy", from: binary, to: binaryPath, mode: 0o755 }];
  if (elf.interpreter !== undefined) {
    const ldd = runLdd(binary);
    const libs = new Set(ldd.paths);
    libs.add(elf.interpreter);
    const placed = new Set<string>();
    for (const lib of libs) {
      if (lib === elf.interpreter && lstatSync(lib).isSymbolicLink()) {
        // Keep the loader path the binary hard-codes, as a relative symlink to a real copy at
        // the link's own target (lib64/ld-linux-x86-64.so.2 -> ../lib/x86_64-linux-gnu/…).
        const target = resolve(dirname(lib), readlinkSync(lib));
        const to = inImage(target);
        if (!placed.has(to)) entries.push({ kind: "copy", from: lib, to, mode: statSync(lib).mode & 0o777 });
        placed.add(to);
        entries.push({ kind: "link", to: inImage(lib), target: relative(dirname(lib), target) });
        placed.add(inImage(lib));
        continue;
      }
      const to = inImage(lib);
      if (placed.has(to)) continue;
      placed.add(to);
      entries.push({ kind: "copy", from: lib, to, mode: statSync(lib).mode & 0o777 });
    }
  }
  return [...entries, ...commonEntries()];
}

function commonEntries(): Entry[] {
  return [
    { kind: "write", to: "etc/passwd", text: PASSWD },
    { kind: "write", to: "etc/group", text: GROUP },
    { kind: "dir", to: NONROOT_HOME },
  ];
}

/**
 * outDir may be missing, empty, or a previous output (only names this function would create
 * at its top level); anything else is refused rather than deleted.
 */
function resetOutDir(outDir: string, entries: Entry[], binary: string): void {
  const abs = resolve(outDir);
  if (abs === "/" || abs === resolve(process.cwd()) || resolve(binary).startsWith(abs + sep)) {
    throw new ScratchContextError(`refusing to use ${outDir} as the output directory`);
  }
  let existing: string[];
  try {
    existing = readdirSync(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      mkdirSync(abs, { recursive: true });
      return;
    }
    throw err;
  }
  const ours = new Set(entries.map((e) => e.to.split("/")[0]));
  const foreign = existing.filter((name) => !ours.has(name));
  if (foreign.length > 0) {
    throw new ScratchContextError(`${outDir} holds ${foreign.join(", ")}, which this tool did not make: remove it or choose another directory`);
  }
  for (const name of existing) rmSync(join(abs, name), { recursive: true, force: true });
}

export async function prepareScratchContext(binary: string, outDir: string, options: ScratchContextOptions = {}): Promise<ScratchContext> {
  const binaryPath = inImage("/" + (options.binaryPath ?? IMAGE_BINARY_PATH));
  if (!statSync(binary).isFile()) throw new ScratchContextError(`${binary} is not a file`);
  const entries = plan(binary, binaryPath, options.foreignLibraries);
  resetOutDir(outDir, entries, binary);
  const out = resolve(outDir);
  const owners: ScratchContext["owners"] = [];
  for (const e of entries) {
    const dest = join(out, e.to);
    mkdirSync(dirname(dest), { recursive: true, mode: 0o755 });
    switch (e.kind) {
      case "copy":
        copyFileSync(e.from, dest); // follows symlinks: a real file
        chmodSync(dest, e.mode);
        break;
      case "link":
        symlinkSync(e.target, dest);
        break;
      case "write":
        writeFileSync(dest, e.text, { mode: 0o644 });
        chmodSync(dest, 0o644);
        break;
      case "dir":
        mkdirSync(dest, { recursive: true, mode: 0o755 });
        chmodSync(dest, 0o755);
        owners.push({ path: e.to, uid: NONROOT_UID, gid: NONROOT_GID });
        if (process.getuid?.() === 0) chownSync(dest, NONROOT_UID, NONROOT_GID);
        break;
    }
  }
  return { files: entries.map((e) => e.to).sort(), owners };
}

if (import.meta.main) {
  const [binary, outDir, ...extra] = process.argv.slice(2);
  if (binary === undefined || outDir === undefined || extra.length > 0) {
    console.error("usage: bun release/scratch-context.ts <binary> <outDir>");
    process.exit(2);
  }
  try {
    const { files, owners } = await prepareScratchContext(binary, outDir);
    let bytes = 0;
    for (const f of files) {
      const st = lstatSync(join(outDir, f));
      if (st.isFile()) bytes += st.size;
    }
    for (const f of files) console.log(f);
    for (const o of owners) console.error(`${o.path} must be owned by ${o.uid}:${o.gid} in the image (COPY --chown)`);
    console.error(`${outDir}: ${files.length} entries, ${(bytes / 1048576).toFixed(1)} MiB`);
  } catch (err) {
    console.error(`scratch-context: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
