/**
 * Everything decided about a request before a byte goes upstream, in one order for CONNECT
 * and plain requests alike: the tenant (407), the one canonical target (400), the tenant's
 * policy (407), and the exact addresses that may be dialled (403). What comes out is the
 * only description of the destination the rest of the proxy uses: interception, credential
 * lookup, the upstream SNI and the dial all read `target` and `addresses`, never the raw text.
 */
import type { IpAddress } from "../../net/ip-address.ts";
import type { SelfAddress } from "../address-class.ts";
import { parseAuthority, type CanonicalTarget } from "../canonical-host.ts";
import type { ProxyConfig, Tenant } from "../config/proxy-config.ts";
import { decide, denyResponse, type Decision } from "../policy.ts";
import type { Refusal } from "../refusal.ts";
import { resolveDestination, type Lookup } from "../resolve-destination.ts";
import { isRefusal, tenantFor } from "./tenant-for.ts";

export type Allowed = Extract<Decision, { allowed: true }>;

export interface Admitted {
  readonly tenant: Tenant;
  readonly target: CanonicalTarget;
  readonly decision: Allowed;
  /** The checked addresses; empty only when an upstream proxy takes a name this host cannot resolve. */
  readonly addresses: readonly IpAddress[];
}

export interface AdmitRequest {
  /** The CONNECT authority or the absolute URI's authority, as sent. */
  readonly authority: string;
  readonly proxyAuthorization: string | undefined;
  /** 80 for an absolute http:// URI without a port; CONNECT needs one. */
  readonly defaultPort?: number;
}

export interface AdmitContext {
  readonly config: ProxyConfig;
  readonly runs: readonly Tenant[];
  readonly self: readonly SelfAddress[];
  readonly lookup?: Lookup | undefined;
  /** True when the target is reached through an upstream proxy, which resolves names itself. */
  readonly viaProxy?: ((target: CanonicalTarget) => boolean) | undefined;
}

/** The refusal carries the tenant when one was found, for the request log. */
export type Refused = Refusal & { readonly tenant?: Tenant; readonly target?: CanonicalTarget };

export async function admit(request: AdmitRequest, context: AdmitContext): Promise<Admitted | Refused> {
  const tenant = tenantFor(context.config, context.runs, request.proxyAuthorization);
  if (isRefusal(tenant)) return tenant;
  const target = parseAuthority(request.authority, request.defaultPort === undefined ? {} : { defaultPort: request.defaultPort });
  if ("problem" in target) return { status: 400, code: "bad-authority", message: `credproxy refused the request: ${target.problem}.`, tenant };
  const decision = decide(tenant, target);
  if (!decision.allowed) {
    const { headers } = denyResponse(decision);
    return { status: 407, code: decision.code, message: decision.message, headers: { "Proxy-Authenticate": headers["Proxy-Authenticate"]! }, tenant, target };
  }
  const resolved = await resolveDestination(target, { lookup: context.lookup, allow: tenant.allowAddresses, self: context.self });
  if (!resolved.ok) {
    // Behind a corporate proxy the local resolver often knows no outside names: a name that
    // does not resolve here goes to the upstream proxy by name. Refused answers stay refused.
    if (resolved.code !== "address-refused" && context.viaProxy?.(target)) return { tenant, target, decision, addresses: [] };
    return destinationRefusal(resolved, tenant, target);
  }
  return { tenant, target, decision, addresses: resolved.addresses };
}

function destinationRefusal(resolved: { code: string; reason: string }, tenant: Tenant, target: CanonicalTarget): Refused {
  if (resolved.code === "address-refused") {
    return {
      status: 403,
      code: "address-refused",
      message: `credproxy refused ${target.authority}: ${resolved.reason}. If this destination is intended, add its address or range to allow_addresses in ${tenant.source}.`,
      tenant,
      target,
    };
  }
  const timedOut = resolved.code === "resolve-timeout";
  return { status: timedOut ? 504 : 502, code: resolved.code, message: `credproxy could not resolve ${target.host}.`, tenant, target };
}
