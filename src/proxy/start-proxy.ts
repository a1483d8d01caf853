/**
 * `credproxy proxy`, assembled: the CA (the user's, or one generated once under
 * tls.ca_dir, name-constrained with tls.name_constraints: auto), leaf certificates, the
 * sandbox trust bundle written beside the CA, credential values, upstream pools, metrics,
 * the runs of runs_dir and the listener. `reload` swaps in a new config and runs at once,
 * or keeps the running ones when the new ones cannot be used.
 */
import { join } from "node:path";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";
import { VERSION } from "../version.ts";
import { hostsOutsideCa, loadCaFor } from "./ca-constraints.ts";
import type { ProxyConfig, Tenant } from "./config/proxy-config.ts";
import { CredentialValues } from "./credential-values.ts";
import { AwsRoles } from "./aws/aws-roles.ts";
import type { Lookup } from "./resolve-destination.ts";
import { ProxyMetrics } from "./server/proxy-metrics.ts";
import type { ProxyRuntime } from "./server/proxy-runtime.ts";
import { startProxyServer } from "./server/proxy-server.ts";
import { UpstreamAgents } from "./server/upstream-agents.ts";
import { upstreamProxyChooser } from "./server/upstream-proxy.ts";
import { LeafCertificates } from "./tls/leaf-certificates.ts";
import type { ProxyCa } from "./tls/proxy-ca.ts";
import { writeTrustBundle } from "./tls/trust-bundle.ts";

export interface RunningProxy {
  readonly host: string;
  readonly port: number;
  readonly ca: ProxyCa;
  /** CA + public roots, for the sandbox's trust variables. */
  readonly trustBundle: string;
  /** Swaps config and runs at once; throws (keeping the old) when they cannot be used. */
  reload(config: ProxyConfig, runs: readonly Tenant[]): void;
  stop(): Promise<void>;
}

export interface StartProxyOptions {
  readonly logger: Logger;
  readonly runs?: readonly Tenant[];
  readonly lookup?: Lookup;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export async function startProxy(config: ProxyConfig, options: StartProxyOptions): Promise<RunningProxy> {
  const { logger } = options;
  const ca = await proxyCa(config, logger);
  const runs = options.runs ?? [];
  checkCaCovers(ca, config, runs);
  const trustBundle = writeTrustBundle(config.tls.trustBundle, ca.certPem);
  const leaves = new LeafCertificates(ca, { validityDays: config.tls.leafValidityDays });
  const runtime: ProxyRuntime = {
    state: { config, runs },
    self: [],
    leaves,
    values: new CredentialValues({ env: options.env ?? process.env }),
    aws: new AwsRoles(logger),
    agents: new UpstreamAgents(config.tls.upstreamCaBundle),
    logger,
    metrics: new ProxyMetrics(VERSION, () => leaves.size),
    lookup: options.lookup,
    chooseProxy: upstreamProxyChooser(config.upstreamProxy, options.env ?? process.env),
    connections: 0,
  };
  const server = await startProxyServer(runtime);
  return {
    host: server.host,
    port: server.port,
    ca,
    trustBundle,
    reload(next, nextRuns) {
      checkCaCovers(ca, next, nextRuns);
      if (next.tls.upstreamCaBundle !== config.tls.upstreamCaBundle) logger.warn("tls.upstream_ca_bundle changes take effect on restart");
      runtime.state = { config: { ...next, listen: config.listen }, runs: nextRuns };
      runtime.chooseProxy = upstreamProxyChooser(next.upstreamProxy, options.env ?? process.env);
      runtime.agents.retain(new Set([next.defaultTenant.name, ...nextRuns.map((r) => r.name)]));
      runtime.aws.retain([next.defaultTenant, ...nextRuns]);
    },
    stop: () => {
      runtime.aws.stop();
      return server.close();
    },
  };
}

async function proxyCa(config: ProxyConfig, logger: Logger): Promise<ProxyCa> {
  const ca = await loadCaFor(config, (why) => logger.warn(`tls.name_constraints: auto leaves the CA unconstrained: ${why}`));
  if (ca.generated) logger.info("generated the proxy CA", { cert: ca.certPath, constrained: ca.constraints !== undefined });
  return ca;
}

function checkCaCovers(ca: ProxyCa, config: ProxyConfig, runs: readonly Tenant[]): void {
  const outside = hostsOutsideCa(ca, config, runs);
  if (outside.length === 0) return;
  throw new CredproxyError(ErrorCode.ConfigInvalid, `The proxy CA ${ca.certPath} is name-constrained and cannot sign for ${outside.join(", ")}, so clients would reject those certificates`, {
    hint: `delete ${join(ca.certPath, "..")} to generate a CA for the current hosts (sandboxes must then trust the new one), or set tls.name_constraints: off`,
  });
}
