/**
 * One service's credentials: its source → sts:AssumeRole → the refreshing cache. This is what
 * `serve` (and later `broker` and `proxy`) hold per service.
 */
import type { CredentialSettings, ServiceSpec } from "../config/types";
import { isCredproxyError, ErrorCode } from "../errors";
import type { Logger } from "../log";
import { createAssumeRoleProvider, isSourceCredentialFault } from "./assume-role";
import {
  createRefreshingCredentials,
  type RefreshingCredentials,
  type RefreshingCredentialsOptions,
  type Timers,
} from "./refreshing-credentials";
import { createSourceProvider, type SourceProvider } from "./source-provider";
import type { RoleCredentialProvider } from "./types";

export interface ServiceCredentialsDeps {
  readonly logger?: Logger | undefined;
  /** Called for every sts:AssumeRole request sent. */
  readonly onStsCall?: (() => void) | undefined;
  readonly onRefresh?: RefreshingCredentialsOptions["onRefresh"];
  readonly now?: (() => number) | undefined;
  readonly random?: (() => number) | undefined;
  readonly timers?: Timers | undefined;
}

export function createServiceCredentials(
  spec: ServiceSpec,
  settings: CredentialSettings,
  deps: ServiceCredentialsDeps = {},
): RefreshingCredentials {
  const source = createSourceProvider(spec.source, {
    region: spec.region,
    stsEndpoint: spec.stsEndpoint,
    now: deps.now,
  });
  const assumeRole = createAssumeRoleProvider({
    source,
    region: spec.region,
    stsEndpoint: spec.stsEndpoint,
    params: spec.assumeRole,
    logger: deps.logger,
    onStsCall: deps.onStsCall,
  });
  return createRefreshingCredentials({
    name: spec.name,
    fetch: withSourceInvalidation(assumeRole, source, deps.logger),
    refreshBufferSeconds: settings.refreshBufferSeconds,
    retryDelaySeconds: settings.retryDelaySeconds,
    requestTimeoutSeconds: settings.requestTimeoutSeconds,
    logger: deps.logger,
    now: deps.now,
    random: deps.random,
    timers: deps.timers,
    onRefresh: deps.onRefresh,
  });
}

/**
 * When STS says the source credentials are bad or expired, forget the memoized source so the
 * next attempt re-resolves it (a rotated key in ~/.aws/credentials, a renewed SSO session).
 *
 * @internal exported for tests
 */
export function withSourceInvalidation(
  fetch: RoleCredentialProvider,
  source: Pick<SourceProvider, "invalidate" | "description">,
  logger?: Logger | undefined,
): RoleCredentialProvider {
  return async (signal) => {
    try {
      return await fetch(signal);
    } catch (error) {
      const awsCode = isCredproxyError(error, ErrorCode.AssumeRole) ? error.details?.awsCode : undefined;
      if (typeof awsCode === "string" && isSourceCredentialFault(awsCode)) {
        logger?.debug("STS rejected the source credentials; they will be resolved again", { source: source.description, awsCode });
        source.invalidate();
      }
      throw error;
    }
  };
}
