/**
 * Interface addresses on macOS through the system's own `/sbin/ifconfig`: what
 * native/linux/netlink.ts does with rtnetlink. Running the binary (SIOCAIFADDR and friends
 * behind it) avoids hand-built ioctl structs that could not be checked without a Mac.
 *
 * Every call is synchronous (spawnSync), so a delete can run from a process "exit" hook.
 * Adding or deleting needs root; listing needs nothing. A run that outlives its timeout is
 * killed with SIGKILL (a hung ifconfig may ignore SIGTERM) and fails with kind "timeout".
 *
 * UNVERIFIED on a Mac: the argv, the output format and the error texts follow ifconfig(8)
 * and its source (apple-oss-distributions/network_cmds, ifconfig.tproj: in_status() and
 * in6_status() print the lines parsed here, Perror() the errors), and the tests feed it
 * macOS-shaped text, but it has never run on macOS.
 */
import { spawnSync } from "node:child_process";

export const IFCONFIG_PATH = "/sbin/ifconfig";
const DEFAULT_TIMEOUT_MS = 5000;

/** One `inet` / `inet6` line of `ifconfig` output. */
export interface IfconfigAddress {
  /** The interface whose block it is in, e.g. "lo0". */
  interface: string;
  family: 4 | 6;
  /** As printed, without any "%zone" suffix: "127.0.0.1", "fe80::1". */
  address: string;
  prefixLength: number;
}

/** What an add or delete is about; `address` is passed to ifconfig as it is. */
export interface IfconfigAliasRequest {
  family: 4 | 6;
  address: string;
  prefixLength: number;
}

/** What `run` returns for one ifconfig invocation; `exitCode` is null when a signal ended it. */
export interface IfconfigResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `path` with `args` and waits for it; throws (code "ENOENT" …) when it cannot start and
 * (code "ETIMEDOUT") when it had to be killed for taking too long.
 */
export type IfconfigRunner = (path: string, args: readonly string[]) => IfconfigResult;

/**
 * Why ifconfig failed, from its stderr or the spawn error: "not-permitted" EPERM/EACCES (not
 * root), "exists" EEXIST, "not-found" EADDRNOTAVAIL or no such interface, "missing" no
 * ifconfig binary, "timeout" killed after the timeout (whether its change took effect is
 * unknown), "failed" anything else.
 */
export type IfconfigFailure = "not-permitted" | "exists" | "not-found" | "missing" | "timeout" | "failed";

/** A failed ifconfig run, carrying its argv, exit code and stderr. */
export class IfconfigError extends Error {
  override readonly name = "IfconfigError";
  readonly kind: IfconfigFailure;
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  /** Trimmed, e.g. "ifconfig: ioctl (SIOCAIFADDR): Operation not permitted". */
  readonly stderr: string;

  /** `timeoutMs` names the limit in the message of a run that timed out (code "ETIMEDOUT"). */
  constructor(argv: readonly string[], outcome: { exitCode?: number | null; stderr?: string; cause?: unknown; timeoutMs?: number }) {
    const stderr = (outcome.stderr ?? "").trim();
    const code = (outcome.cause as NodeJS.ErrnoException | undefined)?.code;
    const command = argv.join(" ");
    const timeoutMs = outcome.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let message: string;
    if (code === "ETIMEDOUT") {
      message = `${command} did not finish within ${timeoutMs % 1000 === 0 ? `${timeoutMs / 1000} s` : `${timeoutMs} ms`}`;
    } else if (outcome.cause !== undefined) {
      message = `Cannot run ${command}: ${outcome.cause instanceof Error ? outcome.cause.message : String(outcome.cause)}`;
    } else {
      const status = outcome.exitCode === null ? "was killed" : `exited with ${outcome.exitCode ?? "?"}`;
      message = `${command} ${status}${stderr ? `: ${stderr}` : ""}`;
    }
    super(message, outcome.cause === undefined ? undefined : { cause: outcome.cause });
    this.argv = argv;
    this.exitCode = outcome.exitCode ?? null;
    this.stderr = stderr;
    this.kind = code === "ENOENT" ? "missing" : code === "ETIMEDOUT" ? "timeout" : outcome.cause !== undefined ? "failed" : failureOf(stderr);
  }
}

/** The calls credproxy makes; `ifconfig()` gives the real one, tests pass a fake. */
export interface Ifconfig {
  /** `ifconfig -a`: the IPv4 and IPv6 addresses of every interface. */
  list(): IfconfigAddress[];
  /** `ifconfig <name> alias A netmask M`, or `ifconfig <name> inet6 A prefixlen N alias`. */
  addAlias(name: string, request: IfconfigAliasRequest): void;
  /** `ifconfig <name> -alias A`, or `ifconfig <name> inet6 A -alias`. */
  deleteAlias(name: string, request: IfconfigAliasRequest): void;
}

/**
 * The ifconfig at `path` (default /sbin/ifconfig), run by `run` (default: spawnSync with LC_ALL=C,
 * killed with SIGKILL after `timeoutMs`, default 5000). Every call throws IfconfigError when
 * ifconfig fails.
 */
export function ifconfig(
  options: { path?: string | undefined; run?: IfconfigRunner | undefined; timeoutMs?: number | undefined } = {},
): Ifconfig {
  const path = options.path ?? IFCONFIG_PATH;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const run = options.run ?? ((file, args) => spawnTool(file, args, timeoutMs));
  const call = (args: string[]): string => {
    const argv = [path, ...args];
    let result: IfconfigResult;
    try {
      result = run(path, args);
    } catch (cause) {
      throw new IfconfigError(argv, { cause, timeoutMs });
    }
    if (result.exitCode !== 0) throw new IfconfigError(argv, { exitCode: result.exitCode, stderr: result.stderr });
    return result.stdout;
  };
  return {
    list: () => parseIfconfig(call(["-a"])),
    addAlias(name, { family, address, prefixLength }) {
      call(family === 4 ? [name, "alias", address, "netmask", netmask(prefixLength)] : [name, "inet6", address, "prefixlen", String(prefixLength), "alias"]);
    },
    deleteAlias(name, { family, address }) {
      call(family === 4 ? [name, "-alias", address] : [name, "inet6", address, "-alias"]);
    },
  };
}

/**
 * The `inet` and `inet6` lines of macOS ifconfig output, one interface block or many:
 *
 *     lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384
 *     	inet 127.0.0.1 netmask 0xff000000
 *     	inet6 fe80::1%lo0 prefixlen 64 scopeid 0x1
 *
 * IPv4 prefix lengths come from the hex netmask (its one bits), or from "A/N" in the
 * `-f inet:cidr` style; lines of other kinds (options, nd6, ether, status) are skipped.
 */
export function parseIfconfig(text: string): IfconfigAddress[] {
  const out: IfconfigAddress[] = [];
  let current = "";
  for (const line of text.split("\n")) {
    const header = /^([^\s:]+):\s+flags=/.exec(line);
    if (header) {
      current = header[1] ?? "";
      continue;
    }
    const words = line.trim().split(/\s+/);
    const kind = words[0];
    const [written, cidr] = (words[1] ?? "").split("/");
    const address = written?.replace(/%.*$/, "");
    if ((kind !== "inet" && kind !== "inet6") || !address) continue;
    const value = (key: string): string | undefined => {
      const i = words.indexOf(key, 2);
      return i === -1 ? undefined : words[i + 1];
    };
    const full = kind === "inet" ? 32 : 128;
    const mask = value("netmask");
    const prefix = Number(cidr ?? value("prefixlen") ?? (mask && /^0x[0-9a-f]{1,8}$/i.test(mask) ? popcount(parseInt(mask, 16)) : full));
    const prefixLength = Number.isInteger(prefix) && prefix >= 0 && prefix <= full ? prefix : full;
    out.push({ interface: current, family: kind === "inet" ? 4 : 6, address, prefixLength });
  }
  return out;
}

/** 32 → "255.255.255.255", 24 → "255.255.255.0". */
export function netmask(prefixLength: number): string {
  const mask = prefixLength <= 0 ? 0 : (0xffffffff << (32 - Math.min(prefixLength, 32))) >>> 0;
  return [24, 16, 8, 0].map((shift) => (mask >>> shift) & 0xff).join(".");
}

function popcount(n: number): number {
  let count = 0;
  for (let v = n >>> 0; v !== 0; v >>>= 1) count += v & 1;
  return count;
}

/**
 * Apple's ifconfig reports a failed SIOCAIFADDR/SIOCDIFADDR through Perror(): EPERM as
 * "ioctl (SIOCAIFADDR): permission denied", ENXIO as "…: no such interface", anything else
 * with err(), i.e. strerror ("Permission denied", "Can't assign requested address"). The
 * strerror form of EPERM is matched too, as other BSD ifconfigs print it.
 */
function failureOf(stderr: string): IfconfigFailure {
  // route(8) refuses a non-root user itself: "must be root to alter routing table".
  if (/Operation not permitted|Permission denied|must be root/i.test(stderr)) return "not-permitted";
  if (/File exists/i.test(stderr)) return "exists";
  // EADDRNOTAVAIL (deleting an address that is not there), or no such interface; route(8)
  // says "not in table" for a route that is not there (ESRCH).
  if (/Can't assign requested address|no such interface|does not exist|Device not configured|not in table/i.test(stderr)) return "not-found";
  return "failed";
}

/**
 * Runs a system tool (ifconfig, route) synchronously with LC_ALL=C, killed with SIGKILL after
 * `timeoutMs`; throws the spawn error (code ENOENT, ETIMEDOUT). Shared with utun-commands.ts.
 */
export function spawnTool(path: string, args: readonly string[], timeoutMs: number): IfconfigResult {
  // LC_ALL=C: stderr is matched against the C library's English strerror texts. SIGKILL: the
  // default SIGTERM can be ignored, and spawnSync would then wait for as long as ifconfig hangs.
  const result = spawnSync(path, args, {
    encoding: "utf8",
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    env: { ...process.env, LC_ALL: "C" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (result.error) throw result.error;
  return { exitCode: result.status, stdout: result.stdout, stderr: result.stderr };
}
