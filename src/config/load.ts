/**
 * Loads a CredProxy-compatible config file into the frozen ResolvedConfig every subcommand reads.
 *
 * Pipeline: read → parse YAML/JSON (every scalar a string, see yaml-tree.ts) → substitute
 * ${fromEnv:…}/${fromFile:…} → validate with the JSON Schema (ajv coerces "1338" to 1338 and
 * fills in defaults; all errors at once) → cross-field rules → resolve and deep-freeze.
 * Dynamic service files have their own, narrower loader: load-services-file.ts.
 */
import { resolve as resolvePath } from "node:path";
import type { ValidateFunction } from "ajv";
import { validateConfig } from "./validators.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { ResolvedConfig } from "./types.ts";
import { configSchema } from "./schema.ts";
import { envNamespace, type Env, type ReadFile } from "./substitute.ts";
import { deepFreeze, documentError, isWithin, prepareDocument } from "./prepare-document.ts";
import type { KeyPath } from "./key-path.ts";
import { problemsError, type Problem } from "./problems.ts";
import { checkSingleCredentialKind, resolveServices, type RawSource } from "./resolve-services.ts";
import { readRegularFile } from "./checked-file.ts";
import { CONFIG_MAX_BYTES, FROM_FILE_MAX_BYTES } from "./parse-limits.ts";

export { loadServicesFile, type ServicesFileOptions } from "./load-services-file.ts";
import { resolveDynamicServices, type RawDynamicServices } from "./resolve-dynamic.ts";
import { resolveTaskMetadata, type RawTaskMetadata } from "./resolve-task-metadata.ts";

export interface LoadOptions {
  /** Environment for ${fromEnv:…}, the CREDPROXY_* settings and AWS_ENDPOINT_URL*; default process.env. */
  readonly env?: Env | undefined;
  /** Reads the config file and ${fromFile:…} files (UTF-8); default fs.readFileSync. */
  readonly readFile?: ReadFile | undefined;
}

/** ${fromFile:…}: regular files only (a FIFO never blocks), at most FROM_FILE_MAX_BYTES. */
const defaultReadFile: ReadFile = (path) => readRegularFile(path, FROM_FILE_MAX_BYTES);
/** The config itself: the same, up to the config size limit. */
const readConfigFile: ReadFile = (path) => readRegularFile(path, CONFIG_MAX_BYTES);
const CONFIG_EMPTY_HINT = "Start from an example config, e.g. one with server: and services: sections";

/** Reads, validates and resolves the config file at `path`. */
export async function loadConfig(path: string, opts: LoadOptions = {}): Promise<ResolvedConfig> {
  const env = opts.env ?? process.env;
  const readFile = opts.readFile ?? defaultReadFile;
  let text: string;
  try {
    text = (opts.readFile ?? readConfigFile)(path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why = code === "ENOENT" ? "it does not exist" : code === "EACCES" ? "permission is denied" : code === "EISDIR" ? "it is a directory" : code === "ENOTREGULAR" ? "it is not a regular file" : code === "EFBIG" ? `it is larger than ${CONFIG_MAX_BYTES} bytes (the config file size limit)` : `of ${String(code ?? error)}`;
    throw new CredproxyError(ErrorCode.ConfigUnreadable, `Cannot read config file ${path} as ${why}`, {
      hint: `Pass the config file with --config PATH or set ${envNamespace(env)}CONFIG_FILE`,
      cause: error,
      details: { file: path },
    });
  }
  return parseConfigText(text, path, { env, readFile });
}

/** The same as loadConfig for text already in hand; `file` names it in messages. */
export function parseConfigText(text: string, file: string, opts: LoadOptions = {}): ResolvedConfig {
  const env = opts.env ?? process.env;
  const doc = prepareDocument(text, file, validators().config, configSchema, {
    env,
    readFile: opts.readFile ?? defaultReadFile,
    emptyHint: CONFIG_EMPTY_HINT,
    deferProblems: true,
  });
  const { data, tree } = doc;
  const raw = data as RawConfig;
  if (doc.problems.length > 0) throw withServiceProblems(file, doc, raw, env);
  const problems: Problem[] = [];

  checkSingleCredentialKind(raw.aws_defaults, ["aws_defaults"], problems);
  const refreshBuffer = raw.credentials.refresh_buffer_seconds;
  const resolved = resolveServices(raw.services, raw.aws_defaults, { kind: "static" }, env, refreshBuffer);
  problems.push(...resolved.problems);
  const dynamicServices = resolveDynamicServices(raw.dynamic_services, problems);
  // Upstream rejected `services: {}` even with dynamic services on; only "nothing at all" is an error.
  if (resolved.services.length === 0 && !dynamicServices.enabled) {
    problems.push({ path: ["services"], message: "no service is configured; add one under services, or set dynamic_services.enabled: true" });
  }
  const user = serverUser(raw.server.user, problems);
  const metricsPort = raw.metrics.prometheus?.enabled ? raw.metrics.prometheus.port : undefined;
  if (metricsPort === raw.server.port && sameListenHost(raw.metrics.prometheus!.host, raw.server.host)) {
    problems.push({
      path: ["metrics", "prometheus", "port"],
      at: "value",
      message: `is server.port too (${metricsPort}); the metrics listener needs a port of its own, or drop metrics.prometheus (/metrics is served on the main port as well)`,
    });
  }
  if (problems.length > 0) throw problemsError(file, problems, tree);

  const prometheus = raw.metrics.prometheus;
  const healthEnv = (env[`${envNamespace(env)}LOG_HEALTH_CHECKS`] ?? "").trim().toLowerCase();
  return deepFreeze({
    file: resolvePath(file),
    server: {
      host: loopbackName(raw.server.host),
      port: raw.server.port,
      debug: raw.server.debug,
      // CredProxy: the key OR the env var turns it on.
      logHealthChecks: raw.server.log_health_checks || ["true", "1", "yes", "on"].includes(healthEnv),
      user,
      healthDetails: raw.server.health_details,
      ecsMetadata: ecsMetadata(raw.server.ecs_metadata),
      taskMetadata: resolveTaskMetadata(raw.server.task_metadata, { region: raw.aws_defaults.region, services: resolved.services }),
    },
    credentials: {
      refreshBufferSeconds: refreshBuffer,
      retryDelaySeconds: raw.credentials.retry_delay,
      requestTimeoutSeconds: raw.credentials.request_timeout,
    },
    awsDefaults: raw.aws_defaults as Record<string, unknown>,
    services: resolved.services,
    dynamicServices,
    // The separate listener opens only when metrics.prometheus is written out (upstream always
    // opened 0.0.0.0:9090); /metrics on the main port follows `enabled`.
    metrics: {
      enabled: prometheus?.enabled ?? true,
      listener: prometheus?.enabled ? { host: loopbackName(prometheus.host), port: prometheus.port } : undefined,
    },
    warnings: resolved.warnings,
  });
}

/**
 * The document's problems plus the cross-field ones (duplicate or weak tokens, a missing
 * region) of every service the schema found nothing wrong with, so one run reports them all.
 * Services with a problem of their own, or a broken aws_defaults, are left to their problems.
 */
function withServiceProblems(file: string, doc: ReturnType<typeof prepareDocument>, raw: RawConfig, env: Env): CredproxyError {
  const touched = (path: KeyPath) => doc.problems.some((p) => isWithin(p.path, path) || (p.path.length > 0 && isWithin(path, p.path)));
  const more: Problem[] = [];
  if (!touched(["aws_defaults"]) && !touched(["credentials"]) && raw.services && typeof raw.services === "object") {
    const clean = Object.fromEntries(Object.entries(raw.services).filter(([name]) => !touched(["services", name])));
    more.push(...resolveServices(clean, raw.aws_defaults, { kind: "static" }, env, raw.credentials.refresh_buffer_seconds).problems);
  }
  return documentError(file, [...doc.problems, ...more], doc.tree, doc.substitutionErrors);
}

interface RawConfig {
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly debug: boolean;
    readonly log_health_checks: boolean;
    readonly user?: string;
    readonly health_details: "local" | "public";
    readonly ecs_metadata: boolean | { readonly addresses?: readonly string[]; readonly port?: number };
    readonly task_metadata: boolean | RawTaskMetadata;
  };
  readonly credentials: { readonly refresh_buffer_seconds: number; readonly retry_delay: number; readonly request_timeout: number };
  readonly aws_defaults: RawSource;
  readonly services?: Readonly<Record<string, unknown>>;
  readonly dynamic_services: RawDynamicServices;
  readonly metrics: { readonly prometheus?: { readonly enabled: boolean; readonly host: string; readonly port: number } };
}

/** The address ECS SDKs use for AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, on port 80. */
export const ECS_METADATA_DEFAULT = { addresses: ["169.254.170.2"], port: 80 } as const;

function ecsMetadata(raw: boolean | { readonly addresses?: readonly string[]; readonly port?: number }) {
  if (raw === false) return undefined;
  if (raw === true) return ECS_METADATA_DEFAULT;
  return { addresses: raw.addresses ?? ECS_METADATA_DEFAULT.addresses, port: raw.port ?? ECS_METADATA_DEFAULT.port };
}

/** The highest id that is not (uid_t)-1, which setresuid reads as "leave unchanged". */
const MAX_ID = 4294967294;

/** `server.user` ("uid:gid", "uid", "root"; the schema checked the form) as numbers. */
function serverUser(raw: string | undefined, problems: Problem[]): { uid: number; gid: number } | undefined {
  if (raw === undefined) return undefined;
  if (raw === "root") return { uid: 0, gid: 0 };
  const [uid, gid = uid] = raw.split(":").map(Number) as [number, number?];
  if (uid > MAX_ID || gid > MAX_ID) {
    problems.push({ path: ["server", "user"], message: `"${raw}" is out of range: ids go up to ${MAX_ID}` });
  } else if (uid === 0 && gid !== 0) {
    problems.push({ path: ["server", "user"], message: `"${raw}" keeps uid 0 but not group 0: write root (or 0) to keep root, or a non-zero uid` });
  }
  return { uid, gid };
}

/** Whether two listen hosts would collide on one port (a wildcard collides with everything). */
function sameListenHost(a: string, b: string): boolean {
  const [x, y] = [loopbackName(a), loopbackName(b)];
  return x === y || [x, y].some((h) => h === "0.0.0.0" || h === "::");
}

/** CredProxy's default host `localhost` means the IPv4 loopback; say so explicitly. */
function loopbackName(host: string): string {
  return host.toLowerCase() === "localhost" ? "127.0.0.1" : host;
}

/** The validator generated at build time from schema.ts (see compile-validators.ts). */
function validators(): { config: ValidateFunction } {
  return { config: validateConfig as ValidateFunction };
}
