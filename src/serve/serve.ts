import type { Server } from "bun";
import { deepFreeze } from "../config/prepare-document.ts";
import type { ResolvedConfig } from "../config/types.ts";
import { createServiceCredentials } from "../credentials/service-credentials.ts";
import { credentialsEndpoint, relativeUriEndpoint } from "../http/credentials-endpoint.ts";
import { healthReport, publicHealth } from "../http/health.ts";
import { json, methodNotAllowed, notFound } from "../http/json.ts";
import { listen, type Handler, type Listener, type Routes } from "../http/listen.ts";
import { hostLocalPeers, isLocalPeer } from "../http/local-peer.ts";
import { CredproxyMetrics } from "../http/metrics.ts";
import type { Logger } from "../log.ts";
import { privilegeDrop } from "../platform/serve-privileges.ts";
import { VERSION } from "../version.ts";
import { DynamicServices } from "./dynamic-services.ts";
import { ServicesFileWorker } from "./services-file-worker.ts";
import { ecsMetadataListeners } from "./ecs-metadata.ts";
import { ServiceRegistry, type CredentialsFactory } from "./service-registry.ts";
import { taskMetadataPaths, taskMetadataRoutes } from "./task-metadata.ts";

export interface ServeOptions {
  logger: Logger;
  /** Log every /health request (server.log_health_checks or CREDPROXY_LOG_HEALTH_CHECKS). */
  logHealthChecks: boolean;
  /** Replaces the STS-backed credentials (tests pass fakes). */
  factory?: CredentialsFactory;
}

export interface RunningServe {
  readonly main: Listener;
  readonly metricsListener: Listener | undefined;
  readonly registry: ServiceRegistry;
  stop(): Promise<void>;
}

/**
 * `credproxy serve`: listens first (so a busy port fails before any STS work), then loads
 * the static services, starts their warm-up, and begins watching dynamic-service files.
 */
export async function startServe(config: ResolvedConfig, options: ServeOptions): Promise<RunningServe> {
  const log = options.logger;
  // Decided before anything is bound or added, so a drop that cannot work fails cleanly.
  const drop = privilegeDrop(config.server, log);
  const metrics = new CredproxyMetrics(VERSION);
  const factory: CredentialsFactory =
    options.factory ??
    ((spec) =>
      createServiceCredentials(spec, config.credentials, {
        logger: log.child({ service: spec.name }),
        onRefresh: (outcome, detail) => metrics.recordRefresh(spec.name, outcome, detail?.expiration),
      }));
  const registry = new ServiceRegistry({
    factory,
    logger: log,
    onChange: (r, removed) => {
      metrics.setActiveServices(r.size);
      for (const name of removed) metrics.forgetService(name);
    },
  });
  let dynamic: DynamicServices | undefined;
  let parser: ServicesFileWorker | undefined;

  const detailFor = healthDetailPolicy(config);
  const health = (req: Request, server: Server<undefined>): Response => {
    const report = healthReport(
      registry.list().map((e) => ({
        name: e.spec.name,
        roleArn: e.spec.assumeRole.RoleArn,
        origin: e.spec.origin.kind === "static" ? "static" : e.spec.origin.file,
        status: e.credentials.status(),
      })),
      dynamic?.files(),
      dynamic?.directories(),
    );
    if (options.logHealthChecks) log.info("health check", { status: report.status, remote: server.requestIP(req)?.address });
    return json(detailFor(req, server) ? report : publicHealth(report), report.status === "healthy" ? 200 : 503);
  };
  const metricsRoute = async (): Promise<Response> =>
    new Response(await metrics.render(), { headers: { "content-type": metrics.contentType } });

  const endpointDeps = { byToken: (t: string) => registry.byToken(t), metrics, logger: log };
  const remote = (req: Request, server: Server<undefined>) => () => server.requestIP(req)?.address ?? "unknown";
  const credentials: Handler = (req, server) => credentialsEndpoint(req, remote(req, server), endpointDeps);
  // Everything Bun's router did not take: a service's secret relative_uri, else 404/405.
  const fallback: Handler = (req, server) => {
    const path = new URL(req.url).pathname;
    const entry = req.method === "GET" ? registry.byRelativeUri(path) : undefined;
    return entry ? relativeUriEndpoint(entry, remote(req, server), endpointDeps) : unrouted(req, routes);
  };
  const routes: Routes = {
    "/v1/credentials": { GET: credentials },
    "/health": { GET: health, HEAD: health },
    ...(config.metrics.enabled ? { "/metrics": { GET: metricsRoute } } : {}),
    ...(config.server.taskMetadata ? taskMetadataRoutes(config.server.taskMetadata, new Date()) : {}),
  };

  const main = listen({
    name: "credential server",
    hostname: config.server.host,
    port: config.server.port,
    configKey: "server.port",
    routes,
    fetch: fallback,
  });
  let metricsListener: Listener | undefined;
  try {
    const l = config.metrics.listener;
    if (config.metrics.enabled && l) {
      metricsListener = listen({
        name: "metrics listener",
        hostname: l.host,
        port: l.port,
        configKey: "metrics.prometheus.port",
        routes: { "/metrics": { GET: metricsRoute } },
        fetch: (req) => unrouted(req, { "/metrics": { GET: metricsRoute } }),
      });
    }
  } catch (error) {
    await main.stop(0);
    throw error;
  }

  let ecs: { listeners: Listener[]; added: boolean; remove(): void } | undefined;
  try {
    if (config.server.ecsMetadata) ecs = await ecsMetadataListeners(config.server.ecsMetadata, main.port, routes, fallback, log);
    // Every address added and every port bound: nothing needs root any more, and CAP_NET_ADMIN
    // only to remove what was added. Files read from here on are read as server.user.
    drop.apply(ecs?.added ?? false);
  } catch (error) {
    await Promise.all([main.stop(0), metricsListener?.stop(0), ...(ecs?.listeners.map((l) => l.stop(0)) ?? [])]);
    ecs?.remove();
    throw error;
  }

  registry.addStatic(config.services);
  if (config.dynamicServices.enabled) {
    const files = new ServicesFileWorker({ onUnavailable: (error) => log.warn("cannot start the dynamic services parser worker; parsing on the serving thread", { error }) });
    parser = files;
    dynamic = new DynamicServices({
      config: config.dynamicServices,
      registry,
      load: async (file, text, dir, onRead) => {
        const reply = await files.parse({ file, text, awsDefaults: config.awsDefaults, secretsDirectory: dir.secretsDirectory, refreshBufferSeconds: config.credentials.refreshBufferSeconds });
        for (const [path, print] of reply.refs) onRead(path, print);
        for (const warning of reply.warnings) log.warn(warning, { file });
        if (reply.error !== undefined) throw new Error(reply.error);
        return deepFreeze(reply.specs ?? []);
      },
      logger: log,
    });
    await dynamic.start();
  }
  log.info("credproxy serve listening", {
    version: VERSION,
    url: new URL("/v1/credentials", main.url).toString(),
    services: registry.size,
    ...(metricsListener ? { metrics: new URL("/metrics", metricsListener.url).toString() } : {}),
    ...(ecs ? { ecs_metadata: ecs.listeners.map((l) => l.url.toString()) } : {}),
    ...(config.server.taskMetadata ? { task_metadata_uri_v4: new URL(taskMetadataPaths(config.server.taskMetadata).v4, ecs?.listeners[0]?.url ?? main.url).toString() } : {}),
  });

  return {
    main,
    metricsListener,
    registry,
    async stop() {
      dynamic?.stop();
      parser?.stop();
      await Promise.all([main.stop(), metricsListener?.stop(), ...(ecs?.listeners.map((l) => l.stop()) ?? [])]);
      ecs?.remove();
      registry.stop();
    },
  };
}

/**
 * Whether a /health request gets the per-service detail (role ARNs, file paths, STS errors):
 * always with `server.health_details: public` or a loopback-only listener (every peer is then
 * local; the ECS metadata listeners admit only local peers too); otherwise only for loopback
 * and this host's own addresses, read at start and re-read lazily (local-peer.ts).
 */
function healthDetailPolicy(config: ResolvedConfig): (req: Request, server: Server<undefined>) => boolean {
  if (config.server.healthDetails === "public" || isLocalPeer(config.server.host, new Set())) return () => true;
  const peers = hostLocalPeers();
  return (req, server) => peers.has(server.requestIP(req)?.address);
}

/** What Bun's router did not take: a known path with another method (405) or an unknown path (404). */
function unrouted(req: Request, routes: Routes): Response {
  const path = new URL(req.url).pathname;
  const route = routes[path];
  return route ? methodNotAllowed(req.method, Object.keys(route)) : notFound(path);
}
