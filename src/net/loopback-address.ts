/**
 * Extra addresses on the loopback interface, so that credproxy can own a well-known metadata
 * address (169.254.170.2 for ECS, 169.254.169.254 for EC2) without an `ip` binary or a
 * sidecar: `addLoopbackAliases()` adds them and hands back a `remove()` that takes away
 * exactly the ones it added.
 *
 * Linux: `lo` through rtnetlink, needs CAP_NET_ADMIN (loopback-backend-linux.ts).
 * macOS: `lo0` through /sbin/ifconfig, needs root (loopback-backend-darwin.ts).
 */
import { ifconfig, type Ifconfig } from "../../native/darwin/ifconfig.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { createLogger } from "../log.ts";
import type { LoopbackBackend, LoopbackHintText, LoopbackRequest } from "./loopback-backend.ts";
import { darwinLoopbackBackend } from "./loopback-backend-darwin.ts";
import { linuxLoopbackBackend, nativeLoopbackSystem, type LoopbackSystem } from "./loopback-backend-linux.ts";
import { removeLeftovers, type LeftoverOptions, type LeftoverResult } from "./loopback-leftovers.ts";
import { formatAddress, parseAddress, type ParsedAddress } from "./loopback-parse-address.ts";
import { runState, type LoopbackStateOptions, type RunState } from "./loopback-state.ts";

export { formatAddress, parseAddress };
export type { LoopbackSystem, ParsedAddress };

export interface LoopbackAlias {
  /** Canonical text: "169.254.170.2", "fd00:ec2::23". */
  address: string;
  prefixLength: number;
  /** True when this call added it (and `remove()` will take it away); false when it was already there. */
  added: boolean;
}

/** How error hints name the caller and its way around a failure. */
export interface LoopbackHints {
  /** What asked for the addresses, named when the platform cannot have them: "server.ecs_metadata", "broker imds". */
  setting: string;
  /** What to do instead, ending every hint after "…, or ": "drop server.ecs_metadata and point …". */
  fallback: string;
  /**
   * How to get CAP_NET_ADMIN on Linux, before "…, or ". Default: the Docker wording
   * ("run with CAP_NET_ADMIN (docker run --cap-add NET_ADMIN --cap-add SETUID --cap-add SETGID --user 0, …)"). On macOS a refusal
   * hints "run with sudo"; a missing or hung ifconfig hints the fallback alone.
   */
  linuxPrivilege?: string | undefined;
}

export interface LoopbackAliasOptions {
  /** credproxy's own port, for the default (ECS) fallback URL in hints; "<port>" when absent. */
  fallbackPort?: number | undefined;
  /** Default: `server.ecs_metadata` and the AWS_CONTAINER_CREDENTIALS_FULL_URI fallback. */
  hints?: LoopbackHints | undefined;
  /** Told about an address `remove()` could not take away (it never throws). Default: a warning on stderr. */
  onRemoveError?: ((alias: LoopbackAlias, error: unknown) => void) | undefined;
  /** How long to wait for an added address to become routable (IPv6 on Linux is asynchronous). Default 2000 ms. */
  readyTimeoutMs?: number | undefined;
  /** Which platform's way to use. Default: process.platform. */
  platform?: string | undefined;
  /** Linux: the rtnetlink calls (tests pass a fake). */
  system?: LoopbackSystem | undefined;
  /** macOS: the ifconfig calls (tests pass a fake, or `ifconfig({ path })` for a stand-in binary). */
  ifconfig?: Ifconfig | undefined;
  /**
   * The record of added addresses (loopback-state.ts), and the removal of dead runs' leftovers
   * before adding. Default: on with the real rtnetlink calls on Linux, off with a fake `system`.
   */
  state?: LoopbackStateOptions | false | undefined;
  /** Told about each leftover of a dead run removed at start. Default: a warning on stderr. */
  onLeftoverRemoved?: ((leftover: LeftoverResult) => void) | undefined;
}

const ECS_SETTING = "server.ecs_metadata";
// Docker gives added capabilities to uid 0 only (no ambient capabilities for other users).
const DOCKER_PRIVILEGE =
  'run with CAP_NET_ADMIN (docker run --cap-add NET_ADMIN --cap-add SETUID --cap-add SETGID --user 0, or in compose cap_add: [NET_ADMIN, SETUID, SETGID] with user: "0:0"; Docker does not pass added capabilities to other users, and serve needs SETUID/SETGID to become server.user after binding)';
const DARWIN_PRIVILEGE = "run with sudo";

/**
 * Adds each address to the loopback interface, as a host address (/32, /128) unless a prefix
 * is written. An address already present is left alone and reported with `added: false`;
 * `remove()` takes away only what was added, is idempotent, never throws and is synchronous,
 * so it can run from a signal handler or a process "exit" hook.
 *
 * All addresses are parsed before anything changes, and a failure part-way removes the ones
 * already added. Throws CredproxyError E_PLATFORM without the privilege (CAP_NET_ADMIN on
 * Linux, root on macOS) and on other platforms.
 *
 * @example
 * const { remove } = await addLoopbackAliases(["169.254.170.2"]);
 * process.on("exit", remove);
 */
export async function addLoopbackAliases(
  addresses: string[],
  options: LoopbackAliasOptions = {},
): Promise<{ aliases: LoopbackAlias[]; remove(): void }> {
  const wanted = new Map<string, LoopbackRequest>(); // by address: the first prefix written wins
  for (const text of addresses) {
    const parsed = parseAddress(text);
    const key = formatAddress(parsed.family, parsed.bytes);
    if (!wanted.has(key)) wanted.set(key, { ...parsed, text: key });
  }
  const first = wanted.values().next().value;
  if (first === undefined) return { aliases: [], remove: () => {} };
  const platform = options.platform ?? process.platform;
  const setting = options.hints?.setting ?? ECS_SETTING;
  const fallback = options.hints?.fallback ?? ecsFallback(options.fallbackPort);
  const privilege = platform === "darwin" ? DARWIN_PRIVILEGE : (options.hints?.linuxPrivilege ?? DOCKER_PRIVILEGE);
  const hints: LoopbackHintText = { hint: `${privilege}, or ${fallback}`, fallback };

  let backend: LoopbackBackend;
  if (platform === "linux") backend = linuxLoopbackBackend(options.system ?? nativeLoopbackSystem(), hints);
  else if (platform === "darwin") backend = darwinLoopbackBackend(options.ifconfig ?? ifconfig(), hints);
  else {
    throw new CredproxyError(
      ErrorCode.Platform,
      `Cannot add ${first.text}/${first.prefixLength} to the loopback interface as ${setting} needs Linux or macOS: current platform is "${platform}"`,
      { hint: fallback },
    );
  }
  let present = backend.list();
  const stateOptions = options.state ?? (platform === "linux" && options.system === undefined ? {} : false);
  const state: RunState = stateOptions === false ? { record() {}, forget() {} } : runState(backend.interfaceName, { onError: stateWriteWarning, ...stateOptions });
  if (stateOptions !== false) {
    const removedLeftovers = startupLeftovers(backend, present, stateOptions, options.onLeftoverRemoved ?? leftoverWarning);
    if (removedLeftovers) present = backend.list();
  }

  const aliases: LoopbackAlias[] = [];
  const ours: { alias: LoopbackAlias; request: LoopbackRequest }[] = [];
  let removed = false;
  const onRemoveError = options.onRemoveError ?? defaultRemoveError;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    for (const { alias, request } of ours.reverse()) {
      try {
        backend.delete(request);
        state.forget(request.text);
      } catch (error) {
        try {
          onRemoveError(alias, error);
        } catch {
          // A reporting failure must not break a shutdown path.
        }
      }
    }
  };

  for (const request of wanted.values()) {
    const alreadyThere = present.some((p) => p.family === request.family && sameBytes(p.bytes, request.bytes));
    let added = false;
    if (!alreadyThere) {
      // Recorded first: a SIGKILL right after the add must still find it in the record.
      state.record({ address: request.text, prefixLength: request.prefixLength });
      try {
        added = backend.add(request);
      } catch (error) {
        state.forget(request.text);
        remove();
        throw error;
      }
      if (!added) state.forget(request.text);
    }
    const alias: LoopbackAlias = { address: request.text, prefixLength: request.prefixLength, added };
    aliases.push(alias);
    if (added) ours.push({ alias, request });
  }
  // Wait until each added address is usable (on Linux an IPv6 one gets its local route later).
  const readyTimeoutMs = options.readyTimeoutMs ?? 2000;
  for (const { request } of ours) {
    const ready = await waitUntil(() => backend.routesLocally(request), readyTimeoutMs);
    if (ready.ok) continue;
    remove();
    const why = ready.error === undefined ? "" : `: ${reason(ready.error)}`;
    throw new CredproxyError(
      ErrorCode.Platform,
      `Cannot use ${request.text}/${request.prefixLength} on the loopback interface ${backend.interfaceName} as the kernel did not route it locally within ${readyTimeoutMs} ms${why}`,
      { cause: ready.error, hint: hints.hint },
    );
  }
  return { aliases: aliases.map((a) => ({ ...a })), remove };
}

/**
 * `credproxy cleanup`: removes the addresses dead credproxy runs recorded and left on this
 * network namespace's loopback interface (Linux), and says what it did with each recorded one.
 */
export function cleanupLoopbackLeftovers(options: LeftoverOptions & { system?: LoopbackSystem | undefined } = {}): LeftoverResult[] {
  const hint = "run it as root (sudo credproxy cleanup), or remove the address by hand: ip addr del ADDRESS dev lo";
  const backend = linuxLoopbackBackend(options.system ?? nativeLoopbackSystem(), { hint, fallback: hint });
  return removeLeftovers(backend, backend.list(), options);
}

/** Polls `check` (1, 2, 4 … 50 ms apart) until it is true, it throws, or time runs out. */
async function waitUntil(check: () => boolean, timeoutMs: number): Promise<{ ok: boolean; error?: unknown }> {
  const deadline = performance.now() + timeoutMs;
  for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
    try {
      if (check()) return { ok: true };
    } catch (error) {
      return { ok: false, error };
    }
    if (performance.now() >= deadline) return { ok: false };
    await Bun.sleep(Math.min(pause, Math.max(0, deadline - performance.now())));
  }
}

function ecsFallback(port: number | undefined): string {
  return `drop ${ECS_SETTING} and point AWS_CONTAINER_CREDENTIALS_FULL_URI at http://127.0.0.1:${port ?? "<port>"}/v1/credentials`;
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}

/** Removes dead runs' leftovers before adding; true when something was removed. */
function startupLeftovers(
  backend: LoopbackBackend,
  present: { family: 4 | 6; bytes: Uint8Array }[],
  options: LeftoverOptions,
  report: (leftover: LeftoverResult) => void,
): boolean {
  let removed = false;
  for (const leftover of removeLeftovers(backend, present, options)) {
    if (leftover.outcome === "removed") removed = true;
    if (leftover.outcome !== "removed" && leftover.outcome !== "failed") continue;
    try {
      report(leftover);
    } catch {
      // reporting must not stop a start
    }
  }
  return removed;
}

function leftoverWarning(leftover: LeftoverResult): void {
  const address = `${leftover.address}/${leftover.prefixLength}`;
  if (leftover.outcome === "removed") {
    createLogger().warn("removed a loopback address a previous credproxy run left behind", { address, pid: leftover.pid });
  } else {
    createLogger().warn("cannot remove a loopback address a previous credproxy run left behind", { address, pid: leftover.pid, error: reason(leftover.error) });
  }
}

function stateWriteWarning(error: unknown, dir: string): void {
  createLogger().warn("cannot record the loopback addresses credproxy adds; should it be killed, remove them by hand (ip addr del ADDRESS dev lo)", {
    directory: dir,
    error: reason(error),
  });
}

function defaultRemoveError(alias: LoopbackAlias, error: unknown): void {
  createLogger().warn("Cannot remove a loopback alias credproxy added", {
    address: `${alias.address}/${alias.prefixLength}`,
    error: reason(error),
  });
}
