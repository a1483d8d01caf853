/**
 * The systemd unit `credproxy agent install` writes. Why each hardening line is what it is:
 *
 * - User=root, not DynamicUser= or a service user: the agent runs nft/iptables, which lock
 *   the root-owned /run/xtables.lock (0600) and write root-owned sysctl and netfilter state; a
 *   dynamic uid cannot open that lock and gets a fresh uid every start. Root here is boxed in
 *   by the bounding set instead: no CAP_DAC_OVERRIDE, CAP_SYS_ADMIN, CAP_SYS_MODULE or
 *   CAP_SYS_PTRACE, so root cannot read other users' files, load modules or trace processes.
 * - CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE: TUNSETIFF, rtnetlink
 *   and nftables need NET_ADMIN; legacy iptables opens a raw socket (NET_RAW); the DNS forwarder
 *   binds port 53 on each client's tunnel address (NET_BIND_SERVICE). AmbientCapabilities= is only for
 *   services that run as another user, so it is absent.
 * - ProtectKernelTunables=yes with ReadWritePaths= on ip_forward (and the IPv6 conf below): the sysctls the
 *   agent turns on (and back off on exit); the rest of /proc/sys and /sys stay read-only.
 * - ReadWritePaths=-/proc/sys/net/ipv6/conf: IPv6 forwarding and accept_ra for NAT66 (the "-"
 *   keeps the unit starting on a kernel without IPv6).
 * - ReadWritePaths=/run: ProtectSystem=strict makes /run read-only too, and iptables must be
 *   able to create /run/xtables.lock.
 * - DevicePolicy=closed + DeviceAllow=/dev/net/tun rw, not PrivateDevices= (whose private
 *   /dev has no net/tun). The kernel still loads the tun and nf_* modules on demand itself,
 *   so ProtectKernelModules=yes costs nothing.
 * - No MemoryDenyWriteExecute=: Bun's JavaScript JIT needs writable+executable pages.
 * - No PrivateNetwork=: the agent's whole job is the host's network namespace.
 *
 * With `--mode socks` the agent only listens and dials TCP, so the unit drops root altogether:
 * DynamicUser=yes (a fresh unprivileged uid; nothing of its own to keep), an empty bounding
 * set, PrivateDevices=yes and no writable path at all.
 */
export const UNIT_NAME = "credproxy-agent.service";
export const UNIT_DIR = "/etc/systemd/system";
export const UNIT_CAPABILITIES = ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"] as const;

export interface AgentUnitOptions {
  /** Absolute path of the credproxy executable. */
  readonly binary: string;
  /** The arguments after the binary: `agent --listen …`. */
  readonly args: readonly string[];
  /** Default tun. */
  readonly mode?: "tun" | "socks";
}

export function agentUnit(options: AgentUnitOptions): string {
  return [
    "# Written by `credproxy agent install`: rerun it (with --force) rather than editing this file.",
    "[Unit]",
    "Description=credproxy agent: the instance end of credproxy tunnels over Session Manager",
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${execLine([options.binary, ...options.args])}`,
    ...(options.mode === "socks" ? ["DynamicUser=yes"] : ["User=root"]),
    "Restart=on-failure",
    "RestartSec=2s",
    "TimeoutStopSec=20s",
    `CapabilityBoundingSet=${options.mode === "socks" ? "" : UNIT_CAPABILITIES.join(" ")}`,
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateMounts=yes",
    "UMask=0077",
    "ProtectKernelModules=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    ...(options.mode === "socks"
      ? ["RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX", "PrivateDevices=yes"]
      : ["ReadWritePaths=/proc/sys/net/ipv4/ip_forward -/proc/sys/net/ipv6/conf /run", "RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX", "DevicePolicy=closed", "DeviceAllow=/dev/net/tun rw"]),
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * One ExecStart= command line. Plain words stay bare; anything else is double-quoted with
 * backslash escapes. `%` (specifiers) and `$` (variable expansion) are doubled in both forms,
 * so a path holding them reaches the program as written.
 */
export function execLine(argv: readonly string[]): string {
  return argv.map(execWord).join(" ");
}

function execWord(word: string): string {
  if (/[\0-\x1f\x7f]/.test(word)) throw new Error(`a control character cannot go into a unit's ExecStart: ${JSON.stringify(word)}`);
  const escaped = word.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  if (/^[A-Za-z0-9_@%+=:,./[\]$-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** Directories the unit's sandbox hides from the service: a binary there cannot be started. */
const HIDDEN = [
  { dir: "/home", by: "ProtectHome=yes" },
  { dir: "/root", by: "ProtectHome=yes" },
  { dir: "/run/user", by: "ProtectHome=yes" },
  { dir: "/tmp", by: "PrivateTmp=yes" },
  { dir: "/var/tmp", by: "PrivateTmp=yes" },
] as const;

/** Which directive hides `path` from the service, if one does. */
export function hiddenByUnit(path: string): { dir: string; by: string } | undefined {
  return HIDDEN.find((h) => path === h.dir || path.startsWith(`${h.dir}/`));
}
