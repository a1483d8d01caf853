/**
 * What every part of a running proxy shares: the current configuration (swapped whole on
 * reload), the leaf certificates, credential values, upstream connection pools, logger and
 * metrics. Passed explicitly, so each piece is testable with its own.
 */
import type { SecureContext } from "node:tls";
import type { Logger } from "../../log.ts";
import type { SelfAddress } from "../address-class.ts";
import type { CanonicalTarget } from "../canonical-host.ts";
import type { ProxyConfig, Tenant } from "../config/proxy-config.ts";
import type { CredentialValues } from "../credential-values.ts";
import type { AwsRoles } from "../aws/aws-roles.ts";
import type { Lookup } from "../resolve-destination.ts";
import type { ProxyMetrics } from "./proxy-metrics.ts";
import type { UpstreamAgents } from "./upstream-agents.ts";
import type { ProxyChooser } from "./upstream-proxy.ts";

/** Mints (or finds) the certificate the proxy shows a client for a canonical host. */
export interface LeafSource {
  contextFor(target: Pick<CanonicalTarget, "host" | "kind">): SecureContext;
  readonly size: number;
}

export interface ProxyState {
  readonly config: ProxyConfig;
  /** The runs of runs_dir, each a tenant with its own token. */
  readonly runs: readonly Tenant[];
}

export interface ProxyRuntime {
  state: ProxyState;
  readonly self: SelfAddress[];
  readonly leaves: LeafSource;
  readonly values: CredentialValues;
  /** The role credentials of `aws:` credentials, refreshed ahead of expiry. */
  readonly aws: AwsRoles;
  readonly agents: UpstreamAgents;
  readonly logger: Logger;
  readonly metrics: ProxyMetrics;
  readonly lookup?: Lookup | undefined;
  /** The corporate proxy a target is reached through, if any (upstream_proxy or the environment). */
  chooseProxy: ProxyChooser;
  /** Open client connections (tunnels and plain), for the max_connections limit and /health. */
  connections: number;
}
