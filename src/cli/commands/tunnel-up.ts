import { isIpv6Pair } from "../../tunnel/ipv6-offer.ts";
import { describeIpv6 } from "../../tunnel/ipv6-state.ts";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { createLogger, type Logger } from "../../log.ts";
import { loadTunnelConfig } from "../../tunnel/load-tunnel-config.ts";
import { requireNetAdmin } from "../../tunnel/net-admin.ts";
import {
  ensureTunnelsDirectory,
  findTunnels,
  pidStartTime,
  removeTunnelFiles,
  serveControlSocket,
  tunnelPaths,
  tunnelsDirectory,
  writeTunnelRecord,
  type TunnelRecord,
} from "../../tunnel/tunnel-state.ts";
import type { TunnelUp } from "../../tunnel/tunnel-session.ts";
import { describeTunnelDns, tunnelDns, type TunnelDnsRecord } from "../../tunnel/dns/tunnel-dns.ts";
import { parseCommandArgs, usageError } from "../args.ts";
import { logLevelSetting } from "../env.ts";
import { logOutput, logOutputHelp } from "../log-output.ts";
import { firstSignal } from "../signals.ts";
import { DETACHED_CHILD_ENV, detachTunnel, UP_LINE_PREFIX } from "../tunnel-detach.ts";
import { TUNNEL_UP_FLAGS, tunnelName, tunnelUpSettings, type TunnelUpSettings } from "../tunnel-settings.ts";
import type { Command } from "./index.ts";

const COMMAND = "tunnel up";

const USAGE = `Usage: credproxy tunnel up --cidr CIDR... (--instance-id ID | --tag KEY=VALUE...) [options]

Routes private CIDRs through an EC2 instance over Session Manager: a TUN device here, a Port
session to \`credproxy agent\` on the instance. When traffic can flow it prints one line starting
"tunnel up:" (name, interface, addresses, routes) and, without --foreground, goes on in the
background. Needs root or CAP_NET_ADMIN on Linux, root on macOS (unverified there). Stop it with \`credproxy tunnel down NAME\`.

Options:
  --cidr CIDR          A range to route through the tunnel (repeat for more)
  --instance-id ID     The instance, e.g. i-0123456789abcdef0
  --tag KEY=VALUE      Select the one running instance with this tag (repeat: all must match)
  --profile P          AWS profile for the credentials (SSO and role_arn chains work).
                       Default: the default credential chain
  --region R           Default: $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1
  --document NAME      Session Manager Port document. Default: AWS-StartSSHSession, and
                       AWS-StartPortForwardingSession (smux mode) when that is denied
  --stream-endpoint HOST
                       Also accept session streams (wss:// only) on HOST[:PORT], for a private
                       name or relay in front of ssmmessages. Default: ssmmessages hosts only
  --agent-port N       Port credproxy agent listens on at the instance. Default: 7860
  --name NAME          The tunnel's name for status and down. Default: the instance id
                       (or the --tag values)
  --mtu N              The TUN's MTU (the agent may lower it). Default: 1400
  --dns ZONE           Resolve names in ZONE (and below) through the tunnel with the VPC's
                       resolver, e.g. internal.corp, compute.internal (repeat for more);
                       other names are untouched. Needs the agent's DNS forwarder (on by default)
  --dns-mode MODE      auto: systemd-resolved per-link DNS if it runs, else local (macOS:
                       /etc/resolver files); resolved; local: a resolver on the tunnel address,
                       port 53, that answers only the zones, for your resolver to forward to
                       (resolv.conf is never changed). Default: auto
  --sessions N         Open N Port sessions (1-8) and spread flows over them by a hash
                       of their addresses and ports; one flow stays on one session.
                       Default: 1
  --foreground         Stay in the foreground (logs on stderr) instead of detaching
  -c, --config FILE    Read these settings from a tunnel file (flags win; check it with
                       credproxy validate --tunnel FILE)
  --log-level LEVEL    debug, info, warn or error. Default: info
${logOutputHelp(19, "text")}
  -h, --help           Show this help

State: $CREDPROXY_RUNTIME_DIR, else /run/credproxy (root), else $XDG_RUNTIME_DIR/credproxy,
in tunnels/NAME.json (and NAME.sock, which answers tunnel status; NAME.log when detached).`;

export const tunnelUpCommand: Command = {
  name: "up",
  summary: "Start a tunnel: route CIDRs through an instance over Session Manager",
  usage: USAGE,
  flags: TUNNEL_UP_FLAGS,
  async run(argv) {
    const { values } = parseCommandArgs(COMMAND, argv, TUNNEL_UP_FLAGS);
    const file = values.config === undefined ? undefined : loadTunnelConfig(values.config);
    const settings = tunnelUpSettings(values, file);
    const output = logOutput(COMMAND, values, "text");
    const level = logLevelSetting(values["log-level"], process.env, output.dev ? "debug" : "info", (m) => usageError(COMMAND, m));
    requireNetAdmin(COMMAND);
    const dir = tunnelsDirectory();
    if (dir === undefined) {
      throw new CredproxyError(ErrorCode.Platform, `${COMMAND}: no runtime directory for the tunnel's state`, {
        hint: `set CREDPROXY_RUNTIME_DIR (or XDG_RUNTIME_DIR), or run as root (${process.platform === "darwin" ? "/var/run/credproxy" : "/run/credproxy"})`,
      });
    }
    const name = tunnelName(settings);
    const detachedChild = process.env[DETACHED_CHILD_ENV] === "1";
    if (!detachedChild) refuseRunningTunnel(dir, name);
    ensureTunnelsDirectory(dir);
    if (values.foreground !== true && !detachedChild) return detachTunnel(["tunnel", "up", ...argv], tunnelPaths(dir, name).log);
    delete process.env[DETACHED_CHILD_ENV];
    const logger = createLogger({ level, format: output.format }, { tunnel: name });
    return runTunnel({ settings, name, dir, logger, logFile: detachedChild ? tunnelPaths(dir, name).log : undefined });
  },
};

function refuseRunningTunnel(dir: string, name: string): void {
  const existing = findTunnels(dir).find((t) => t.record.name === name);
  if (existing === undefined) return;
  if (existing.alive) {
    throw new CredproxyError(ErrorCode.Usage, `${COMMAND}: tunnel ${name} is already up (pid ${existing.record.pid}, ${existing.record.interface})`, {
      hint: `stop it first (credproxy tunnel down ${name}), or give this one another --name`,
    });
  }
  throw new CredproxyError(ErrorCode.Usage, `${COMMAND}: tunnel ${name} left a state file behind (pid ${existing.record.pid} is gone)`, {
    hint: `clean up after it with: credproxy tunnel down --force ${name}`,
  });
}

interface RunTunnelOptions {
  readonly settings: TunnelUpSettings;
  readonly name: string;
  readonly dir: string;
  readonly logger: Logger;
  readonly logFile: string | undefined;
}

/** The tunnel in this process until a stop signal (tunnel down sends SIGTERM) or a fatal error. */
async function runTunnel(options: RunTunnelOptions): Promise<number> {
  const { settings, name, dir, logger } = options;
  const stop = firstSignal();
  const abort = new AbortController();
  void stop.then(() => abort.abort());
  const dns = settings.dns.length === 0 ? undefined : tunnelDns({ zones: settings.dns, mode: settings.dnsMode, tunnel: name, logger });
  // A later session may bring a new TUN: the DNS settings move to it (the first is awaited below).
  const onUp = dns === undefined ? undefined : (up: TunnelUp) => void dns.apply(up).catch((error: unknown) => logger.error("tunnel DNS failed", { error: (error as Error).message }));
  const { openAwsTunnel } = await import("../../tunnel/open-aws-tunnel.ts");
  const aws = await openAwsTunnel({ settings, logger, signal: abort.signal, onUp });
  const { tunnel, instance } = aws;
  const startedAt = new Date().toISOString();
  let filesWritten = false;
  let clean = false;
  try {
    tunnel.ready.catch(() => undefined);
    const first = await Promise.race([tunnel.ready.then((up) => ({ up })), stop.then((signal) => ({ signal }))]);
    if ("signal" in first) {
      await tunnel.close(`stopped by ${first.signal} before it was up`);
      clean = true;
      return 0;
    }
    const { up } = first;
    // A failure (resolvectl refused, port 53 taken) ends the tunnel with that error.
    const dnsRecord = await dns?.apply(up);
    const record: TunnelRecord = {
      name,
      pid: process.pid,
      pidStartTime: pidStartTime("self"),
      interface: up.interface,
      clientAddress: up.clientAddress,
      agentAddress: up.agentAddress,
      routes: up.routes,
      cidrs: settings.cidrs,
      instanceId: instance.instanceId,
      region: settings.region,
      profile: settings.profile,
      ssmEndpoint: aws.ssmEndpoint,
      sessionId: up.sessionId,
      startedAt,
      logFile: options.logFile,
      ...(dnsRecord === undefined ? {} : { dns: dnsRecord }),
    };
    filesWritten = true;
    writeTunnelRecord(dir, record);
    const server = await serveControlSocket(tunnelPaths(dir, name).socket, () => ({
      name,
      pid: process.pid,
      instanceId: instance.instanceId,
      region: settings.region,
      ...tunnel.status(),
      ...(dns === undefined ? {} : { dns: dns.current() }),
    }));
    process.stdout.write(upLine(name, up, instance.instanceId, dnsRecord, settings.cidrs) + "\n");
    logger.info("tunnel up", { interface: up.interface, routes: up.routes, instance: instance.instanceId, session: up.sessionId });
    const end = await Promise.race([tunnel.closed, stop.then((signal) => tunnel.close(`stopped by ${signal}`))]);
    server.close();
    if (end.error !== undefined) throw end.error;
    logger.info("tunnel down", { reason: end.reason });
    clean = true;
    return 0;
  } finally {
    // Before the TUN goes, so resolvectl can still name its link.
    await dns?.close().catch((error: unknown) => logger.warn("removing the tunnel's DNS settings failed", { error: (error as Error).message }));
    await tunnel.close();
    aws.destroy();
    if (filesWritten) removeTunnelFiles(dir, name, { log: clean });
  }
}

/**
 * `tunnel up: work via cpx0 100.64.0.2 -> 100.64.0.1 mtu 1400, routes 10.99.0.0/24[, dns …], instance i-…, session …`,
 * then `, ipv6 fd…::3 -> fd…::2` (or `, ipv6 not available: why`) when an IPv6 CIDR was asked for or the agent gave a pair.
 */
export function upLine(name: string, up: TunnelUp, instanceId: string, dns?: TunnelDnsRecord, cidrs: readonly string[] = []): string {
  const dnsPart = dns === undefined ? "" : `, ${describeTunnelDns(dns)}`;
  const line = `${UP_LINE_PREFIX} ${name} via ${up.interface} ${up.clientAddress} -> ${up.agentAddress} mtu ${up.mtu}, routes ${up.routes.join(" ")}${dnsPart}, instance ${instanceId}, session ${up.sessionId ?? "(none)"}`;
  return isIpv6Pair(up.ipv6) || cidrs.some((c) => c.includes(":")) ? `${line}, ipv6 ${describeIpv6(up.ipv6)}` : line;
}
