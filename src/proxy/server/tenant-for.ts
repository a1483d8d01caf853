/**
 * Which tenant a request belongs to. With runs_dir, every request must present a run's token;
 * with a top-level `token`, it must present that one; otherwise (a loopback proxy) every
 * request is the default tenant's. A missing or wrong token is a 407 Basic challenge, the one
 * answer curl and git retry with the proxy URL's userinfo.
 */
import type { ProxyConfig, Tenant } from "../config/proxy-config.ts";
import { selectByToken } from "../proxy-auth.ts";
import { authRequired, type Refusal } from "../refusal.ts";

export function tenantFor(config: ProxyConfig, runs: readonly Tenant[], proxyAuthorization: string | undefined): Tenant | Refusal {
  if (config.runsDir !== undefined) return selectByToken(runs, proxyAuthorization) ?? authRequired(proxyAuthorization !== undefined);
  if (config.token === undefined) return config.defaultTenant;
  const holder = selectByToken([{ token: config.token }], proxyAuthorization);
  return holder ? config.defaultTenant : authRequired(proxyAuthorization !== undefined);
}

export function isRefusal(value: object): value is Refusal {
  return "status" in value && "code" in value && "message" in value;
}
