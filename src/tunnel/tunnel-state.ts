/**
 * What a running tunnel leaves for `tunnel status`, `list` and `down` to find, in
 * <runtime>/tunnels/ (the runtime directory of loopback-state.ts: $CREDPROXY_RUNTIME_DIR, else
 * /run/credproxy for root, else $XDG_RUNTIME_DIR/credproxy; on macOS /var/run/credproxy for
 * root), created 0700:
 *
 * - `<name>.json`: pid and its start time, interface, addresses, routes, CIDRs, instance,
 *   session id, start time; written with a temp file + rename, removed on exit.
 * - `<name>.sock`: a unix socket that answers every connection with the status JSON, one line.
 * - `<name>.log`: the detached process's log.
 *
 * A record whose pid is gone, or is now another process (start time differs), is stale.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { stateDirectory } from "../net/loopback-state.ts";
import { parseStatStartTime } from "../net/proc-stat.ts";
import type { TunnelDnsRecord } from "./dns/tunnel-dns.ts";

export interface TunnelRecord {
  readonly name: string;
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat, to tell a reused pid from the owner. */
  readonly pidStartTime: string | undefined;
  readonly interface: string;
  readonly clientAddress: string;
  readonly agentAddress: string;
  readonly routes: readonly string[];
  readonly cidrs: readonly string[];
  readonly instanceId: string;
  readonly region: string;
  /** The --profile of `up`, so `down --force` can call TerminateSession as it would have. */
  readonly profile?: string | undefined;
  /** The SSM endpoint `up` used when one was configured (AWS_ENDPOINT_URL_SSM, the profile's). */
  readonly ssmEndpoint?: string | undefined;
  readonly sessionId: string | undefined;
  /** ISO time. */
  readonly startedAt: string;
  readonly logFile: string | undefined;
  /** What `--dns` set up (absent without it), for `tunnel down --force`. */
  readonly dns?: TunnelDnsRecord | undefined;
}

export interface FoundTunnel {
  readonly record: TunnelRecord;
  readonly file: string;
  readonly socket: string;
  readonly alive: boolean;
}

/**
 * <runtime>/tunnels, or undefined when there is no runtime directory. On macOS, which has no
 * /run and where a tunnel needs root anyway, root's runtime directory is /var/run/credproxy
 * (/var/run is root's, and emptied at boot like /run).
 */
export function tunnelsDirectory(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, uid = process.getuid?.() ?? -1): string | undefined {
  const darwin = (): string | undefined => env.CREDPROXY_RUNTIME_DIR || (uid === 0 ? "/var/run/credproxy" : undefined);
  const base = platform === "darwin" ? darwin() : stateDirectory(env, uid);
  return base === undefined ? undefined : join(base, "tunnels");
}

export function ensureTunnelsDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export function tunnelPaths(dir: string, name: string): { record: string; socket: string; log: string } {
  return { record: join(dir, `${name}.json`), socket: join(dir, `${name}.sock`), log: join(dir, `${name}.log`) };
}

export function pidStartTime(pid: number | "self"): string | undefined {
  try {
    return parseStatStartTime(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

export function writeTunnelRecord(dir: string, record: TunnelRecord): void {
  const { record: file } = tunnelPaths(dir, record.name);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(record, null, 2) + "\n", { mode: 0o600 });
  renameSync(temp, file);
}

export function removeTunnelFiles(dir: string, name: string, { log = false } = {}): void {
  const paths = tunnelPaths(dir, name);
  for (const path of [paths.record, paths.socket, ...(log ? [paths.log] : [])]) rmSync(path, { force: true });
}

/** Whether the record's process still runs (same pid, same start time, not a zombie). */
export function recordAlive(record: Pick<TunnelRecord, "pid" | "pidStartTime">): boolean {
  try {
    process.kill(record.pid, 0);
  } catch (error) {
    if ((error as { code?: string }).code !== "EPERM") return false;
  }
  if (isZombie(record.pid)) return false;
  const now = pidStartTime(record.pid);
  return record.pidStartTime === undefined || now === undefined || now === record.pidStartTime;
}

/** A process that has exited but is not reaped yet (state Z in /proc/<pid>/stat) is gone for us. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return false;
  }
}

/** Every tunnel record in `dir`, by name; unreadable files are skipped. */
export function findTunnels(dir: string | undefined): FoundTunnel[] {
  if (dir === undefined) return [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const found: FoundTunnel[] = [];
  for (const entry of names.filter((n) => n.endsWith(".json")).sort()) {
    const file = join(dir, entry);
    try {
      const record = JSON.parse(readFileSync(file, "utf8")) as TunnelRecord;
      if (typeof record.name !== "string" || typeof record.pid !== "number") continue;
      found.push({ record, file, socket: tunnelPaths(dir, record.name).socket, alive: recordAlive(record) });
    } catch {
      continue;
    }
  }
  return found;
}

/** Serves `status()` as one JSON line to every connection on `path` (an old socket file is replaced). */
export async function serveControlSocket(path: string, status: () => unknown): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer((socket) => {
    socket.on("error", () => undefined);
    socket.end(JSON.stringify(status()) + "\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  return server;
}

/** Asks the control socket at `path` for the status; undefined when nobody answers in time. */
export function queryControlSocket(path: string, timeoutMs = 2000): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, timeoutMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    socket.on("end", () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>);
      } catch {
        resolve(undefined);
      }
    });
  });
}
