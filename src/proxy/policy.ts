/**
 * The proxy's network policy: given the allow and deny lists, the hosts of the run's grants and
 * the mode, decides whether a CONNECT or plain-HTTP request to a canonical host:port may go out.
 * Pure: no I/O, no logging; the caller logs the decision and sends denyResponse() on refusal.
 *
 * - deny wins in every mode, and a deny pattern without a port denies every port of the host
 *   (unlike allow, where no port means 80 and 443 only), so "deny: [evil.example]" cannot be
 *   side-stepped by asking for port 8443;
 * - strict: allowed only when an allow or grant pattern matches host and port;
 * - report: allowed like permissive, but carries `wouldDeny`, what strict would have said (a dry run);
 * - permissive: everything that is not denied.
 */
import { hostPatternMatchesHost, matchesAny, type HostPattern, type HostTarget } from "./host-pattern.ts";

export type PolicyMode = "strict" | "permissive" | "report";

export interface PolicyInput {
  readonly policy: PolicyMode;
  readonly allow: readonly HostPattern[];
  readonly deny: readonly HostPattern[];
  readonly grantHosts: readonly HostPattern[];
  /** Where the lists came from, named in messages: "proxy.yaml", "runs/ci-42.yaml". */
  readonly source: string;
}

export interface Denial {
  readonly code: "host-denied" | "host-not-allowed" | "port-not-allowed";
  /** One paragraph naming the canonical host:port and the config key that would allow it. */
  readonly message: string;
}

export type Decision =
  | {
      readonly allowed: true;
      readonly by: "allow" | "grant" | "permissive";
      readonly pattern?: string;
      /** Report mode only: what strict would have said. */
      readonly wouldDeny?: Denial;
    }
  | ({ readonly allowed: false } & Denial);

export function decide(input: PolicyInput, target: HostTarget): Decision {
  const denied = input.deny.find((p) => denyMatches(p, target));
  if (denied !== undefined) return { allowed: false, ...deniedBy(input, target, denied) };
  if (input.policy === "permissive") return { allowed: true, by: "permissive" };
  const strict = decideStrict({ ...input, policy: "strict" }, target);
  if (input.policy === "strict" || strict.allowed) return strict;
  const { allowed: _, ...wouldDeny } = strict;
  return { allowed: true, by: "permissive", wouldDeny };
}

function denyMatches(p: HostPattern, target: HostTarget): boolean {
  return hostPatternMatchesHost(p, target.host) && (p.port === undefined || p.port === target.port);
}

function decideStrict(input: PolicyInput, target: HostTarget): Decision {
  const allowed = matchesAny(input.allow, target);
  if (allowed !== undefined) return { allowed: true, by: "allow", pattern: allowed.text };
  const granted = matchesAny(input.grantHosts, target);
  if (granted !== undefined) return { allowed: true, by: "grant", pattern: granted.text };
  const sameHost = [...input.allow, ...input.grantHosts].find((p) => hostPatternMatchesHost(p, target.host));
  return { allowed: false, ...(sameHost ? portNotAllowed(input, target, sameHost) : hostNotAllowed(input, target)) };
}

function deniedBy(input: PolicyInput, target: HostTarget, pattern: HostPattern): Denial {
  return {
    code: "host-denied",
    message:
      `credproxy refused ${authority(target)}: it matches "${pattern.text}" in the deny list of ${input.source}, ` +
      `and deny wins over allow, grants and every policy. To allow it, remove or narrow that entry in deny.`,
  };
}

function hostNotAllowed(input: PolicyInput, target: HostTarget): Denial {
  return {
    code: "host-not-allowed",
    message:
      `credproxy refused ${authority(target)}: the host is not in the allow list of ${input.source} (policy: ${input.policy}). ` +
      `To allow it, add "${suggestion(target)}" to allow, or a grant that covers it.`,
  };
}

function portNotAllowed(input: PolicyInput, target: HostTarget, pattern: HostPattern): Denial {
  const from = input.allow.includes(pattern) ? `in the allow list of ${input.source}` : `from a grant in ${input.source}`;
  const ports = pattern.port === undefined ? "ports 80 and 443" : `port ${pattern.port}`;
  return {
    code: "port-not-allowed",
    message:
      `credproxy refused ${authority(target)}: "${pattern.text}" ${from} covers the host only on ${ports} (policy: ${input.policy}). ` +
      `To allow this port, add "${authority(target)}" to allow in ${input.source}.`,
  };
}

/** host:port with IPv6 in brackets. */
function authority(target: HostTarget): string {
  return `${bracketed(target.host)}:${target.port}`;
}

/** What to add to allow: the bare host for ports 80 and 443, else host:port. */
function suggestion(target: HostTarget): string {
  return target.port === 80 || target.port === 443 ? bracketed(target.host) : authority(target);
}

function bracketed(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/**
 * The response to a refused request: 407 with a Proxy-Authenticate scheme no client prompts a
 * password for, the reason code in a header for scripts, and the message as the body.
 */
export function denyResponse(denial: Denial): { status: 407; headers: Record<string, string>; body: string } {
  return {
    status: 407,
    headers: {
      "Proxy-Authenticate": 'Credproxy-Policy realm="credproxy"',
      "X-Credproxy-Deny-Reason": denial.code,
      "Content-Type": "text/plain; charset=utf-8",
      "Cache-Control": "no-store",
    },
    body: denial.message + "\n",
  };
}
