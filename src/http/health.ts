import type { CredentialStatus } from "../credentials/refreshing-credentials.ts";

export interface ServiceHealth {
  status: CredentialStatus["state"];
  /** True when the service can answer a credential request right now. */
  serving: boolean;
  origin: string;
  role_arn: string;
  expires_at?: string;
  reason?: string;
  code?: string;
  next_attempt_at?: string;
}

export interface HealthReport {
  /** "healthy" when every service can hand out credentials now; else "unhealthy" (HTTP 503). */
  status: "healthy" | "unhealthy";
  /** CredProxy's field: how many services are configured, static and dynamic. */
  services: number;
  checks: Record<string, ServiceHealth>;
  dynamic_files?: unknown[];
}

export interface HealthInput {
  name: string;
  roleArn: string;
  origin: string;
  status: CredentialStatus;
}

/**
 * Builds the /health body. Whether a service is serving is the credential cache's own answer
 * (it stops handing out credentials a safety margin before they expire), so /health and
 * /v1/credentials can never disagree.
 */
export function healthReport(services: readonly HealthInput[], dynamicFiles?: unknown[]): HealthReport {
  const checks: Record<string, ServiceHealth> = {};
  let healthy = true;
  for (const s of services) {
    const st = s.status;
    const serving = st.serving;
    healthy &&= serving;
    checks[s.name] = {
      status: st.state,
      serving,
      origin: s.origin,
      role_arn: s.roleArn,
      ...(st.expiresAt ? { expires_at: st.expiresAt.toISOString() } : {}),
      ...(st.reason ? { reason: st.reason } : st.state === "pending" ? { reason: "fetching the first credentials" } : {}),
      ...(st.code ? { code: st.code } : {}),
      ...(st.nextAttemptAt && st.state === "failing" ? { next_attempt_at: st.nextAttemptAt.toISOString() } : {}),
    };
  }
  return {
    status: healthy ? "healthy" : "unhealthy",
    services: services.length,
    checks,
    ...(dynamicFiles ? { dynamic_files: dynamicFiles } : {}),
  };
}
