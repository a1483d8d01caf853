/**
 * tls.name_constraints: auto. A CA credproxy generates may sign only for the hosts it will
 * intercept, written into the CA as X.509 NameConstraints, so its key, if it ever leaked
 * from the machine, could not impersonate any other site to the sandboxes that trust it.
 *
 * Which hosts: those credentials are bound to, plus, with intercept: all under a strict
 * policy, every allowed host. Anything wider (runs added later, a permissive policy that
 * intercepts everything) cannot be known when the CA is made, so the CA stays unconstrained
 * and the caller says so.
 */
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { parseIp } from "../net/ip-address.ts";
import type { ProxyConfig, Tenant } from "./config/proxy-config.ts";
import type { HostPattern } from "./host-pattern.ts";
import { loadOrCreateCa, type CaNameConstraints, type ProxyCa } from "./tls/proxy-ca.ts";

export type ConstraintPlan = { readonly constraints: CaNameConstraints } | { readonly unconstrained: string };

export function caConstraintsFor(config: ProxyConfig): ConstraintPlan {
  if (config.runsDir !== undefined) return { unconstrained: "runs in runs_dir may bind credentials to any host" };
  const tenant = config.defaultTenant;
  if (tenant.intercept === "all" && tenant.policy !== "strict") return { unconstrained: `intercept: all with policy: ${tenant.policy} may intercept any host` };
  const patterns = interceptedPatterns(tenant);
  const dns = new Set<string>();
  const ips: Cidr[] = [];
  for (const pattern of patterns) {
    const ip = parseIp(pattern.host);
    const cidr = ip ? parseCidr(`${ip.text}/${ip.family === 4 ? 32 : 128}`) : undefined;
    if (cidr && !("problem" in cidr)) ips.push(cidr);
    else dns.add(pattern.host);
  }
  return { constraints: { dns: [...dns].sort(), ips } };
}

/** The intercepted hosts the CA cannot sign for: each a reason to refuse the config. */
export function hostsOutsideCa(ca: ProxyCa, config: ProxyConfig, runs: readonly Tenant[] = []): string[] {
  if (ca.constraints === undefined) return [];
  const outside = new Set<string>();
  for (const tenant of [config.defaultTenant, ...runs]) {
    for (const pattern of interceptedPatterns(tenant)) {
      const ip = parseIp(pattern.host);
      const target = ip ? { host: ip.text, kind: ip.family === 4 ? ("ipv4" as const) : ("ipv6" as const) } : { host: pattern.host, kind: "name" as const };
      if (!ca.permits(target)) outside.add(pattern.text);
    }
  }
  return [...outside];
}

function interceptedPatterns(tenant: Tenant): HostPattern[] {
  const bound = [...tenant.credentials, ...tenant.awsCredentials].flatMap((c) => c.hosts);
  return tenant.intercept === "all" ? [...bound, ...tenant.allow, ...tenant.grantHosts] : bound;
}

/** The config's CA: the user's, or the generated one (made now, constrained under auto, if missing). */
export async function loadCaFor(config: ProxyConfig, onUnconstrained: (why: string) => void = () => {}): Promise<ProxyCa> {
  const plan = config.tls.nameConstraints === "auto" && config.tls.caCert === undefined ? caConstraintsFor(config) : undefined;
  if (plan && "unconstrained" in plan) onUnconstrained(plan.unconstrained);
  return loadOrCreateCa({
    dir: config.tls.caDir,
    certPath: config.tls.caCert,
    keyPath: config.tls.caKey,
    nameConstraints: plan && "constraints" in plan ? plan.constraints : undefined,
  });
}
