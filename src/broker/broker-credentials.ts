import type { ServiceSpec, SourceSpec } from "../config/types.ts";
import type { RefreshingCredentials } from "../credentials/refreshing-credentials.ts";
import { createServiceCredentials } from "../credentials/service-credentials.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";

export interface BrokerCredentialsOptions {
  /** Named profile for the source credentials; the default chain when absent. */
  readonly profile?: string | undefined;
  /** The role `/` serves. Required: the broker never hands long-lived keys to a child. */
  readonly roleArn: string;
  readonly durationSeconds?: number | undefined;
  readonly region: string;
  readonly stsEndpoint?: string | undefined;
  readonly sessionName?: string | undefined;
  /** Patterns (`*` matches any run of characters) of the ARNs `/role-arn/<ARN>` may assume. */
  readonly allowRoles?: readonly string[] | undefined;
  readonly logger: Logger;
}

export interface BrokerCredentials {
  /** The credentials of `/`: the configured role. */
  readonly base: RefreshingCredentials;
  /**
   * The credentials for `/role-arn/<arn>`, cached per ARN with their own refresh, or a
   * CredproxyError saying why this ARN is not allowed.
   */
  forRoleArn(arn: string): RefreshingCredentials | CredproxyError;
  stop(): void;
}

/** At most this many per-ARN caches; the least recently used one is dropped beyond it. */
const MAX_ROLE_CACHES = 64;
const ROLE_ARN = /^arn:aws(-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const SETTINGS = { refreshBufferSeconds: 300, retryDelaySeconds: 60, requestTimeoutSeconds: 30 } as const;

/**
 * The credential side of `credproxy broker` (exec, the unix socket and IMDS all use it): the
 * core's refreshing, single-flight cache for one role, plus a bounded per-ARN cache for
 * `/role-arn/<ARN>` restricted to an allow-list.
 */
export function createBrokerCredentials(options: BrokerCredentialsOptions): BrokerCredentials {
  const source: SourceSpec = options.profile ? { kind: "profile", profile: options.profile } : { kind: "default-chain" };
  const make = (roleArn: string, name: string): RefreshingCredentials => {
    const spec: ServiceSpec = {
      name,
      region: options.region,
      source,
      stsEndpoint: options.stsEndpoint,
      assumeRole: { RoleArn: roleArn, RoleSessionName: options.sessionName ?? "credproxy-broker", DurationSeconds: options.durationSeconds ?? 3600 },
      origin: { kind: "static" },
    };
    const creds = createServiceCredentials(spec, SETTINGS, { logger: options.logger.child({ role_arn: roleArn }) });
    creds.start();
    return creds;
  };
  if (!ROLE_ARN.test(options.roleArn)) {
    throw new CredproxyError(ErrorCode.Usage, `--role-arn "${options.roleArn}" is not an IAM role ARN`, {
      hint: "use the form arn:aws:iam::123456789012:role/Name",
    });
  }
  const base = make(options.roleArn, "broker");
  const allow = (options.allowRoles ?? []).map(globToRegExp);
  const byArn = new Map<string, RefreshingCredentials>();

  return {
    base,
    forRoleArn(arn) {
      if (!ROLE_ARN.test(arn)) {
        return new CredproxyError(ErrorCode.Usage, `"${arn}" is not an IAM role ARN`, { hint: "use /role-arn/arn:aws:iam::123456789012:role/Name" });
      }
      if (!allow.some((re) => re.test(arn))) {
        return new CredproxyError(ErrorCode.Usage, `role ${arn} is not in the broker's allow-list`, {
          hint: "start the broker with --allow-role <pattern> (for example --allow-role 'arn:aws:iam::123456789012:role/dev-*')",
        });
      }
      let creds = byArn.get(arn);
      if (creds) {
        byArn.delete(arn); // re-insert: most recently used last
      } else {
        creds = make(arn, `role-arn:${arn}`);
        if (byArn.size >= MAX_ROLE_CACHES) {
          const [oldest, evicted] = byArn.entries().next().value as [string, RefreshingCredentials];
          evicted.stop();
          byArn.delete(oldest);
        }
      }
      byArn.set(arn, creds);
      return creds;
    },
    stop() {
      base.stop();
      for (const c of byArn.values()) c.stop();
      byArn.clear();
    },
  };
}

/** `*` matches any run of characters; everything else is literal; the whole ARN must match. */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern.split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*");
  return new RegExp(`^${body}$`);
}
