/**
 * `credproxy agent check`: whether this machine can run the agent, as pure functions over
 * what probes found, so each verdict and hint is tested without changing the machine. The
 * probes (system-probes.ts) only look: they open and close, bind and release, never write.
 */
export type CheckStatus = "ok" | "fail" | "unknown";

export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  /** Only required checks decide the exit code; the rest are advice. */
  readonly required: boolean;
  readonly detail: string;
  readonly hint?: string | undefined;
}

/** A probe that failed reports its errno code (ENOENT, EACCES …) and message. */
export interface ProbeError {
  readonly code: string | undefined;
  readonly message: string;
}

export interface Privileges {
  readonly uid: number;
  readonly netAdmin: boolean;
}

export function checkPrivileges(p: Privileges): CheckResult {
  const base = { name: "privileges", required: true };
  if (p.netAdmin) return { ...base, status: "ok", detail: p.uid === 0 ? "running as root" : `uid ${p.uid} with CAP_NET_ADMIN` };
  return {
    ...base,
    status: "fail",
    detail: p.uid === 0 ? "root, but CAP_NET_ADMIN is not in the effective set" : `uid ${p.uid} without CAP_NET_ADMIN`,
    hint: "run the agent as root (sudo, or the unit credproxy agent install writes); a capability bounding set must keep CAP_NET_ADMIN",
  };
}

export function checkTun(error: ProbeError | undefined, path = "/dev/net/tun"): CheckResult {
  const base = { name: "tun", required: true };
  if (error === undefined) return { ...base, status: "ok", detail: `${path} opens` };
  const hint =
    error.code === "ENOENT" || error.code === "ENODEV" || error.code === "ENXIO"
      ? "load the tun module (modprobe tun); in a container, pass the device in (docker run --device /dev/net/tun)"
      : "run as root; under systemd the unit needs DeviceAllow=/dev/net/tun rw";
  return { ...base, status: "fail", detail: `cannot open ${path}: ${error.code ?? error.message}`, hint };
}

export function checkFirewall(found: { nft: string | null; iptables: string | null }): CheckResult {
  const base = { name: "firewall", required: true };
  if (found.nft) return { ...base, status: "ok", detail: `nft (${found.nft}) for the agent's NAT table` };
  if (found.iptables) return { ...base, status: "ok", detail: `iptables (${found.iptables}) for the agent's NAT chains` };
  return {
    ...base,
    status: "fail",
    detail: "neither nft nor iptables is on PATH or in /usr/sbin, /sbin",
    hint: "install nftables (dnf install nftables, apt-get install nftables) or iptables",
  };
}

export function checkIpForward(result: { value: string } | ProbeError, file = "/proc/sys/net/ipv4/ip_forward"): CheckResult {
  const base = { name: "ip-forward", required: true };
  if ("value" in result) {
    const now = result.value === "1" ? "on already" : `now ${result.value}; the agent turns it on while it runs`;
    return { ...base, status: "ok", detail: `${file} is writable (${now})` };
  }
  return {
    ...base,
    status: "fail",
    detail: `cannot open ${file} for writing: ${result.code ?? result.message}`,
    hint:
      result.code === "EROFS"
        ? "/proc/sys is read-only here (ProtectKernelTunables= or a container): allow this file, e.g. ReadWritePaths=/proc/sys/net/ipv4/ip_forward"
        : "run as root (or with CAP_NET_ADMIN) to change net.ipv4.ip_forward",
  };
}

export function checkListen(listen: { host: string; port: number }, error: ProbeError | undefined): CheckResult {
  const base = { name: "listen", required: true };
  const where = listen.host.includes(":") ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`;
  if (error === undefined) return { ...base, status: "ok", detail: `${where} is free` };
  const hints: Record<string, string> = {
    EADDRINUSE: "another process listens there (a running agent? systemctl status credproxy-agent); stop it or pick another --listen",
    EADDRNOTAVAIL: "no interface here has that address (is lo up? ip link set lo up); the SSM agent dials localhost",
    EACCES: "ports below 1024 need root; pick another --listen",
  };
  return {
    ...base,
    status: "fail",
    detail: `cannot listen on ${where}: ${error.code ?? error.message}`,
    hint: hints[error.code ?? ""] ?? "pick another --listen HOST:PORT",
  };
}

/** What the SSM agent probes saw: a process, and systemd's view when systemd runs. */
export interface SsmAgentSeen {
  readonly process: string | undefined;
  /** Unit name → `systemctl is-active` answer; undefined when there is no systemd to ask. */
  readonly units: Readonly<Record<string, string>> | undefined;
}

export function checkSsmAgent(seen: SsmAgentSeen): CheckResult {
  const base = { name: "ssm-agent", required: false };
  if (seen.process !== undefined) return { ...base, status: "ok", detail: `running (process ${seen.process})` };
  const active = Object.entries(seen.units ?? {}).find(([, state]) => state === "active");
  if (active) return { ...base, status: "ok", detail: `${active[0]} is active` };
  const hint = "install and start it: amazon-ssm-agent (a package, or the snap on Ubuntu); Session Manager reaches the agent port through it";
  if (seen.units === undefined) return { ...base, status: "unknown", detail: "no amazon-ssm-agent process seen here and no systemd to ask", hint };
  const states = Object.entries(seen.units).map(([unit, state]) => `${unit} ${state}`).join(", ");
  return { ...base, status: "fail", detail: `not running (${states})`, hint };
}

const LABEL: Record<CheckStatus, string> = { ok: "ok", fail: "FAIL", unknown: "unknown" };

/** `ok       listen      127.0.0.1:7860 is free`, a hint after a failure or an unknown. */
export function checkLine(result: CheckResult): string {
  const advisory = result.required ? "" : " (advisory)";
  const hint = result.status !== "ok" && result.hint ? `; hint: ${result.hint}` : "";
  return `${LABEL[result.status].padEnd(8)} ${result.name.padEnd(11)} ${result.detail}${advisory}${hint}`;
}

export function checksPassed(results: readonly CheckResult[]): boolean {
  return results.every((r) => !r.required || r.status === "ok");
}

export function checkSummary(results: readonly CheckResult[]): string {
  const failed = results.filter((r) => r.required && r.status !== "ok");
  if (failed.length === 0) return "agent check: every required check passed";
  return `agent check: ${failed.length} of ${results.filter((r) => r.required).length} required checks failed (${failed.map((r) => r.name).join(", ")})`;
}

/** Advice only: IPv6 through the tunnel needs a global IPv6 address and an IPv6 default route here. */
export function checkIpv6(info: { globalAddresses: readonly string[]; defaultRouteVia: string | undefined }, unavailable: string | undefined): CheckResult {
  const base = { name: "ipv6", required: false };
  if (unavailable === undefined) return { ...base, status: "ok", detail: `${info.globalAddresses.join(", ")}; default route via ${info.defaultRouteVia}: clients get IPv6 through the tunnel` };
  return {
    ...base,
    status: "fail",
    detail: `${unavailable}: clients get IPv4 only, and are told IPv6 is not available`,
    hint: "for IPv6, give the instance an IPv6 address in a dual-stack subnet (EC2: assign an IPv6 address; the subnet route table needs ::/0); IPv4 is unaffected",
  };
}
