/**
 * `credproxy agent` from start to exit: the NAT for the pool (ip_forward + MASQUERADE, only our
 * own rules), the listener, then wait for a stop signal; on the way out every client gets a
 * CLOSE and loses its TUN, and the NAT rules go. A failed start takes back what it had set up.
 */
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { overlaps } from "../tunnel/tunnel-cidrs.ts";
import { hasNetAdmin } from "../tunnel/net-admin.ts";
import { TUNNEL_QUEUE_ENV, tunnelQueueBounds } from "../tunnel/tunnel-queue.ts";
import { openTun as openSystemTun, type TunDevice, type TunOptions } from "../net/tun-device.ts";
import { createAddressPool } from "./address-pool.ts";
import { derivedIpv6Pool, readMachineId } from "./ipv6-pool.ts";
import { ipv6Unavailable, readInstanceIpv6, type InstanceIpv6 } from "./ipv6-probe.ts";
import { instanceResolver, type DnsUpstream } from "./instance-resolver.ts";
import { startAgentServer, type AgentMode, type AgentServer } from "./agent-server.ts";
import { installNat as installSystemNat, type InstalledNat, type InstallNatOptions } from "./nat-rules.ts";

export interface AgentSettings {
  readonly host: string;
  readonly port: number;
  /** Canonical IPv4 CIDR. */
  readonly pool: string;
  /** Undefined: clients may reach everything. */
  readonly allowCidrs: readonly Cidr[] | undefined;
  /** The IPv6 tunnel prefix; undefined: derived from the machine id (ipv6-pool.ts). */
  readonly pool6?: string | undefined;
  /** false (--no-ipv6): clients are told IPv6 is off. Default: on when the instance has IPv6. */
  readonly ipv6?: boolean | undefined;
  /** Default tun. socks: no TUN, no NAT, no privilege (runSocksAgent). */
  readonly mode?: AgentMode;
  /** "off": no DNS forwarder; undefined: the instance's resolver (instance-resolver.ts). */
  readonly dnsUpstream: DnsUpstream | "off" | undefined;
}

export interface RunAgentOptions {
  readonly settings: AgentSettings;
  readonly logger: Logger;
  /** Resolves with the signal that stops the agent. */
  readonly stop: Promise<string>;
  /** The ready line, on stdout by default. */
  readonly announce?: (line: string) => void;
  readonly openTun?: (options: TunOptions) => Promise<TunDevice>;
  readonly installNat?: (options: InstallNatOptions) => Promise<InstalledNat>;
  /** The instance's IPv6 (default: /proc/net of this network namespace). */
  readonly readIpv6?: () => InstanceIpv6;
}

/** Exported for tests: the one line a user without the privilege sees. */
export function requireAgentPrivilege(netAdmin: boolean = hasNetAdmin()): void {
  if (netAdmin) return;
  throw new CredproxyError(ErrorCode.Platform, "credproxy agent needs root or CAP_NET_ADMIN to create TUN devices, routes and NAT rules", {
    hint: "run it as root (sudo, or a systemd unit without User=), or grant the capability: sudo setcap cap_net_admin+ep $(command -v credproxy)",
  });
}

export async function runAgent(options: RunAgentOptions): Promise<void> {
  const { settings, logger } = options;
  if (settings.mode === "socks") return runSocksAgent(options);
  requireAgentPrivilege();
  const instance6 = (options.readIpv6 ?? readInstanceIpv6)();
  let ipv6Off = settings.ipv6 === false ? "IPv6 is turned off on the agent (--no-ipv6)" : ipv6Unavailable(instance6);
  const pool6 = ipv6Off === undefined ? (settings.pool6 ?? derivedIpv6Pool(readMachineId(), instance6.inUse)) : undefined;
  const pool = createAddressPool(settings.pool, pool6);
  const clash = settings.pool6 === undefined || pool.cidr6 === undefined ? undefined : instance6.inUse.find((c) => overlaps(c, parseCidr(pool.cidr6!) as Cidr));
  if (clash !== undefined) logger.warn("--pool6 overlaps an address or route of this instance; replies to clients may go astray", { pool6: pool.cidr6, overlaps: clash.text, hint: "leave --pool6 out for a derived prefix clear of the instance's own" });
  const queue = tunnelQueueBounds();
  if (queue.mode === "unbounded") logger.warn(`${TUNNEL_QUEUE_ENV}=unbounded: no bound on the queue toward the SSM agent (a benchmark switch; latency under load grows without limit)`);
  const nat = await (options.installNat ?? installSystemNat)({
    pool: pool.cidr,
    allowCidrs: settings.allowCidrs?.map((c) => c.text),
    pool6: pool.cidr6,
    log: logger,
  });
  ipv6Off ??= nat.ipv6Unavailable;
  const dns = settings.dnsUpstream === "off" ? undefined : (settings.dnsUpstream ?? instanceResolver());
  let server: AgentServer;
  try {
    server = startAgentServer({
      host: settings.host,
      port: settings.port,
      pool,
      allowCidrs: settings.allowCidrs,
      openTun: options.openTun ?? openSystemTun,
      ipv6Unavailable: ipv6Off,
      dnsUpstream: dns,
      logger,
      queue,
    });
  } catch (error) {
    await nat.remove();
    throw error;
  }
  const where = settings.host.includes(":") ? `[${settings.host}]:${server.port}` : `${settings.host}:${server.port}`;
  const dnsText = dns === undefined ? "off" : `to ${hostPort(dns)}`;
  const allowed = settings.allowCidrs === undefined ? "everywhere" : settings.allowCidrs.map((c) => c.text).join(" ");
  (options.announce ?? ((line) => process.stdout.write(line + "\n")))(
    `agent: listening on ${where}, pool ${pool.cidr} (${pool.size} clients), allowed ${allowed}, NAT via ${nat.firewall}, ${ipv6Off === undefined ? `IPv6 pool ${pool.cidr6}` : `IPv6 not available: ${ipv6Off}`}, DNS ${dnsText}`,
  );
  logger.info("agent listening", { listen: where, pool: pool.cidr, allowed, firewall: nat.firewall, dns: dnsText, pool6: ipv6Off === undefined ? pool.cidr6 : undefined, ipv6Unavailable: ipv6Off });
  const signal = await options.stop;
  logger.info("agent stopping", { signal, clients: server.sessions().length });
  try {
    await server.close("the agent is shutting down");
  } finally {
    await nat.remove();
  }
  logger.info("agent stopped");
}

/**
 * `agent --mode socks`: only the listener; streams are dialled from this process, so it needs
 * no root, no CAP_NET_ADMIN, no TUN and no NAT (any user may run it).
 */
async function runSocksAgent(options: RunAgentOptions): Promise<void> {
  const { settings, logger } = options;
  const server = startAgentServer({
    host: settings.host,
    port: settings.port,
    mode: "socks",
    pool: createAddressPool(settings.pool),
    allowCidrs: settings.allowCidrs,
    openTun: () => Promise.reject(new Error("an agent in socks mode opens no TUN")),
    logger,
  });
  const where = settings.host.includes(":") ? `[${settings.host}]:${server.port}` : `${settings.host}:${server.port}`;
  const allowed = settings.allowCidrs === undefined ? "everywhere but the instance itself" : settings.allowCidrs.map((c) => c.text).join(" ");
  (options.announce ?? ((line) => process.stdout.write(line + "\n")))(`agent: listening on ${where}, mode socks (no TUN, no NAT), allowed ${allowed}`);
  logger.info("agent listening", { listen: where, mode: "socks", allowed });
  const signal = await options.stop;
  logger.info("agent stopping", { signal, clients: server.streamSessions().length });
  await server.close("the agent is shutting down");
  logger.info("agent stopped");
}

function hostPort({ host, port }: DnsUpstream): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
