/**
 * `tunnel up --dns ZONE...`: queries for the zones go through the tunnel to the agent's DNS
 * forwarder on its tunnel address (the agent relays them to the instance's own resolver, the
 * VPC's), and no other name is touched. How the system learns that, by platform:
 *
 * - Linux with systemd-resolved: per-link DNS on the TUN (resolved-link.ts).
 * - Linux without it, or `--dns-mode local`: a relay on the tunnel's own address, port 53, that
 *   forwards the zones' queries to the agent and answers REFUSED for every other name; nothing
 *   on the system points at it by itself (resolv.conf is not edited), so `tunnel up` says where
 *   it is for the user's resolver (dnsmasq `server=/zone/ADDR`, unbound `forward-zone`, …).
 * - macOS: `/etc/resolver/<zone>` files (resolver-files.ts).
 *
 * apply() runs when a session comes up; a new TUN (the agent gave new addresses) takes the
 * settings down and puts them up again on the new one. close() takes them down; what a crash
 * leaves is in the state record for `tunnel down --force` (removeTunnelDnsLeftovers).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { silentLogger, type Logger } from "../../log.ts";
import { DNS_PORT, startDnsRelay, type DnsRelay } from "./dns-relay.ts";
import { zoneMatcher } from "./dns-zones.ts";
import { resolvedRevertCommand, resolvedSetCommands, systemdResolvedHere } from "./resolved-link.ts";
import { RESOLVER_DIR, removeResolverFiles, writeResolverFiles } from "./resolver-files.ts";

export const DNS_MODES = ["auto", "resolved", "local"] as const;
export type DnsMode = (typeof DNS_MODES)[number];

/** What is set up, for the state record and the `tunnel up:` line. */
export interface TunnelDnsRecord {
  readonly zones: readonly string[];
  readonly how: "resolved" | "local" | "resolver-files";
  readonly interface: string;
  /** Where the system's queries for the zones go: the agent's address, or the local relay's. */
  readonly server: string;
  readonly files?: readonly string[] | undefined;
}

export interface TunnelAddresses {
  readonly interface: string;
  readonly clientAddress: string;
  readonly agentAddress: string;
}

export type RunCommand = (argv: readonly string[]) => { code: number; stderr: string };

export interface TunnelDnsOptions {
  readonly zones: readonly string[];
  readonly mode: DnsMode;
  /** The tunnel's name, in the resolver files' marker. */
  readonly tunnel: string;
  readonly logger?: Logger;
  readonly platform?: string;
  readonly run?: RunCommand;
  readonly resolvedHere?: () => boolean;
  readonly resolverDir?: string;
  /** The local relay's port (53; tests may pick another). */
  readonly localPort?: number;
}

export interface TunnelDns {
  apply(addresses: TunnelAddresses): Promise<TunnelDnsRecord>;
  /** What is set up now (for tunnel status). */
  current(): TunnelDnsRecord | undefined;
  close(): Promise<void>;
}

interface Applied {
  readonly key: string;
  readonly record: TunnelDnsRecord;
  readonly undo: () => Promise<void>;
}

export function tunnelDns(options: TunnelDnsOptions): TunnelDns {
  const logger = options.logger ?? silentLogger;
  let applied: Applied | undefined;
  // One change at a time: a session coming up while the first apply runs waits for it.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(step: () => Promise<T>): Promise<T> => {
    const next = queue.then(step);
    queue = next.catch(() => undefined);
    return next;
  };
  return {
    current: () => applied?.record,
    apply: (addresses) =>
      serial(async () => {
        const key = `${addresses.interface}|${addresses.clientAddress}|${addresses.agentAddress}`;
        if (applied?.key === key) return applied.record;
        if (applied !== undefined) await applied.undo();
        applied = undefined;
        const done = await setUp(options, addresses);
        applied = { key, ...done };
        logger.info("tunnel DNS set up", { ...done.record, zones: done.record.zones.join(","), files: done.record.files?.join(",") });
        return done.record;
      }),
    close: () =>
      serial(async () => {
        const current = applied;
        applied = undefined;
        if (current !== undefined) await current.undo();
      }),
  };
}

/** How queries for the zones reach the agent on this system. */
export function dnsHow(mode: DnsMode, platform: string, resolvedHere: () => boolean): TunnelDnsRecord["how"] {
  if (mode === "local") return "local";
  if (platform === "darwin") {
    if (mode === "resolved") throw new CredproxyError(ErrorCode.Usage, "tunnel up: --dns-mode resolved is for Linux with systemd-resolved", { hint: "on macOS leave --dns-mode out (auto: /etc/resolver files)" });
    return "resolver-files";
  }
  if (resolvedHere()) return "resolved";
  if (mode === "resolved") {
    throw new CredproxyError(ErrorCode.Platform, "tunnel up: --dns-mode resolved, but systemd-resolved does not run here (or not in this network namespace)", {
      hint: "start systemd-resolved, or use --dns-mode local (a resolver on the tunnel address to point yours at)",
    });
  }
  return "local";
}

async function setUp(options: TunnelDnsOptions, up: TunnelAddresses): Promise<Omit<Applied, "key">> {
  const zones = options.zones;
  const run = options.run ?? runSync;
  const how = dnsHow(options.mode, options.platform ?? process.platform, options.resolvedHere ?? (() => systemdResolvedHere()));
  const base = { zones, how, interface: up.interface };
  if (how === "resolved") {
    for (const argv of resolvedSetCommands(up.interface, up.agentAddress, zones)) {
      const result = run(argv);
      if (result.code === 0) continue;
      run(resolvedRevertCommand(up.interface));
      throw new CredproxyError(ErrorCode.Platform, `tunnel up: ${argv.join(" ")} failed: ${result.stderr.trim() || `exit ${result.code}`}`, {
        hint: "check systemd-resolved (resolvectl status), or use --dns-mode local",
      });
    }
    return { record: { ...base, server: up.agentAddress }, undo: async () => void run(resolvedRevertCommand(up.interface)) };
  }
  if (how === "resolver-files") {
    const files = writeResolverFiles(options.resolverDir ?? RESOLVER_DIR, zones, up.agentAddress, options.tunnel);
    const undo = async (): Promise<void> => {
      removeResolverFiles(files);
      run(["dscacheutil", "-flushcache"]);
    };
    return { record: { ...base, server: up.agentAddress, files }, undo };
  }
  const relay = await startLocalRelay(options, up);
  return { record: { ...base, server: `${up.clientAddress}:${relay.port}` }, undo: () => relay.close() };
}

async function startLocalRelay(options: TunnelDnsOptions, up: TunnelAddresses): Promise<DnsRelay> {
  const inZones = zoneMatcher(options.zones);
  const port = options.localPort ?? DNS_PORT;
  try {
    return await startDnsRelay({
      host: up.clientAddress,
      port,
      upstream: { host: up.agentAddress, port: DNS_PORT },
      upstreamSource: up.clientAddress,
      accepts: (question) => inZones(question.name),
      // Programs on this machine only: their queries to a local address come from it or loopback.
      asker: (address) => address === up.clientAddress || address.startsWith("127.") || address === "::ffff:127.0.0.1",
      ...(options.logger === undefined ? {} : { logger: options.logger.child({ part: "dns" }) }),
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new CredproxyError(ErrorCode.Listen, `tunnel up: cannot answer DNS on ${up.clientAddress}:${port}: ${code === "EACCES" ? "port 53 needs root or CAP_NET_BIND_SERVICE" : String((error as Error).message ?? error)}`, {
      cause: error,
      hint: "run tunnel up as root, or leave --dns out",
    });
  }
}

/**
 * What `tunnel down --force` does about a crashed tunnel's DNS; returns what it removed. A link
 * that a live tunnel now owns (`linkOwnedElsewhere`) keeps its settings: they are that tunnel's.
 */
export function removeTunnelDnsLeftovers(record: TunnelDnsRecord, options: { linkOwnedElsewhere?: boolean; run?: RunCommand } = {}): string[] {
  if (record.how === "resolver-files") return removeResolverFiles(record.files ?? []);
  // resolved drops a link's settings with the link; a TUN still there is reverted first.
  const run = options.run ?? runSync;
  if (record.how === "resolved" && options.linkOwnedElsewhere !== true && existsSync(`/sys/class/net/${record.interface}`) && run(resolvedRevertCommand(record.interface)).code === 0) {
    return [`${record.interface}'s DNS settings`];
  }
  // The local relay's sockets died with the process.
  return [];
}

/** The `tunnel up:` line's DNS part. */
export function describeTunnelDns(record: TunnelDnsRecord): string {
  const zones = record.zones.join(" ");
  if (record.how === "resolved") return `dns ${zones} via systemd-resolved on ${record.interface}`;
  if (record.how === "resolver-files") return `dns ${zones} via ${RESOLVER_DIR}`;
  return `dns ${zones} answered at ${record.server} (no systemd-resolved: point your resolver there, e.g. dnsmasq server=/${record.zones[0]}/${record.server.replace(/:53$/, "")}; resolv.conf is not changed)`;
}

function runSync(argv: readonly string[]): { code: number; stderr: string } {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 10_000 });
  if (result.error !== undefined) return { code: 127, stderr: result.error.message };
  return { code: result.status ?? -1, stderr: result.stderr };
}
