import type { CredentialStatus } from "../credentials/refreshing-credentials.ts";
import type { RefusedService } from "../serve/service-registry.ts";

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
  dynamic_files?: DynamicFileHealth[];
  /** Each dynamic services directory; a missing one is a warning, not a failure (it may appear later). */
  dynamic_directories?: DynamicDirectoryHealth[];
}

export interface DynamicDirectoryHealth {
  readonly directory: string;
  readonly status: "ok" | "missing";
  readonly message?: string;
}

/** What a peer that is not this host gets (server.health_details: local): the verdict and the count. */
export interface PublicHealthReport {
  status: HealthReport["status"];
  services: number;
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
export function healthReport(
  services: readonly HealthInput[],
  dynamicFiles?: readonly DynamicFileHealth[],
  dynamicDirectories?: readonly DynamicDirectoryHealth[],
): HealthReport {
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
      ...(st.reason ? { reason: scrubSecrets(st.reason) } : st.state === "pending" ? { reason: "fetching the first credentials" } : {}),
      ...(st.code ? { code: st.code } : {}),
      ...(st.nextAttemptAt && st.state === "failing" ? { next_attempt_at: st.nextAttemptAt.toISOString() } : {}),
    };
  }
  return {
    status: healthy ? "healthy" : "unhealthy",
    services: services.length,
    checks,
    ...(dynamicFiles ? { dynamic_files: dynamicFiles.map(healthFileStatus) } : {}),
    ...(dynamicDirectories ? { dynamic_directories: [...dynamicDirectories] } : {}),
  };
}

/** The part of `report` every peer may see: the same verdict (and so the same status code) and the count. */
export function publicHealth(report: HealthReport): PublicHealthReport {
  return { status: report.status, services: report.services };
}

export interface DynamicFileHealth {
  readonly file: string;
  readonly status: "ok" | "error";
  readonly services: readonly string[];
  readonly error?: string;
  readonly refused?: readonly RefusedService[];
}

/**
 * A dynamic file's status as /health shows it. A service refused for a clashing auth_token or
 * relative_uri is reported without the service that holds it: naming the owner would tell
 * whoever wrote the file that their guess of another service's secret was right.
 */
function healthFileStatus(status: DynamicFileHealth): DynamicFileHealth {
  const out = status.error === undefined ? status : { ...status, error: scrubSecrets(status.error) };
  if (!status.refused) return out;
  return { ...out, refused: status.refused.map((r) => ({ name: r.name, clash: r.clash, reason: refusedReason(r) })) };
}

function refusedReason(r: RefusedService): string {
  return r.clash === "name" ? r.reason : `its ${r.clash} is not unique among the configured services`;
}

/** AWS key ids (AKIA…, ASIA…) and other access-key-shaped values. */
const KEY_ID = /\b(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|APKA|ABIA|ACCA)[A-Z0-9]{12,}\b/g;
/** Secret keys (40 characters) and session tokens: long runs of base64 mixing cases and digits. */
const SECRET_SHAPED = /(?=[A-Za-z0-9+/=]*[0-9])(?=[A-Za-z0-9+/=]*[a-z])(?=[A-Za-z0-9+/=]*[A-Z])[A-Za-z0-9+/=]{40,}/g;

/** `text` with anything key- or token-shaped cut to its last 4 characters (`…WXYZ`). */
export function scrubSecrets(text: string): string {
  return text.replace(KEY_ID, (m) => `…${m.slice(-4)}`).replace(SECRET_SHAPED, (m) => `…${m.slice(-4)}`);
}
