/**
 * Loads a CredProxy-compatible config file into the frozen ResolvedConfig every subcommand reads.
 *
 * Pipeline: read → parse YAML/JSON (every scalar a string, see yaml-tree.ts) → substitute
 * ${fromEnv:…}/${fromFile:…} → validate with the JSON Schema (ajv coerces "1338" to 1338 and
 * fills in defaults; all errors at once) → cross-field rules → resolve and deep-freeze.
 * Dynamic service files go through the same steps with the services-only schema.
 */
import { readFileSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import type { ValidateFunction } from "ajv";
// @ts-ignore: generated JavaScript without types
import { validateConfig, validateServicesFile } from "./validators.generated.js";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { ResolvedConfig, ServiceSpec } from "./types.ts";
import { configSchema } from "./schema.ts";
import { servicesFileSchema } from "./services-schema.ts";
import { envNamespace, type Env, type ReadFile } from "./substitute.ts";
import { deepFreeze, prepareDocument } from "./prepare-document.ts";
import { problemsError, type Problem } from "./problems.ts";
import { checkSingleCredentialKind, resolveServices, type RawSource } from "./resolve-services.ts";
import { resolveDynamicServices, type RawDynamicServices } from "./resolve-dynamic.ts";

export interface LoadOptions {
  /** Environment for ${fromEnv:…}, the CREDPROXY_* settings and AWS_ENDPOINT_URL*; default process.env. */
  readonly env?: Env | undefined;
  /** Reads the config file and ${fromFile:…} files (UTF-8); default fs.readFileSync. */
  readonly readFile?: ReadFile | undefined;
}

export interface ServicesFileOptions extends LoadOptions {
  /** credentials.refresh_buffer_seconds of the main config, for the lifetime check (default 300). */
  readonly refreshBufferSeconds?: number | undefined;
  /** Receives non-fatal findings about the file's services (e.g. a short DurationSeconds). */
  readonly onWarning?: ((message: string) => void) | undefined;
}

const defaultReadFile: ReadFile = (path) => readFileSync(path, "utf8");
const CONFIG_EMPTY_HINT = "Start from an example config, e.g. one with server: and services: sections";

/** Reads, validates and resolves the config file at `path`. */
export async function loadConfig(path: string, opts: LoadOptions = {}): Promise<ResolvedConfig> {
  const env = opts.env ?? process.env;
  const readFile = opts.readFile ?? defaultReadFile;
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why = code === "ENOENT" ? "it does not exist" : code === "EACCES" ? "permission is denied" : code === "EISDIR" ? "it is a directory" : `of ${String(code ?? error)}`;
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
  const { data, tree } = prepareDocument(text, file, validators().config, configSchema, { env, readFile: opts.readFile ?? defaultReadFile, emptyHint: CONFIG_EMPTY_HINT });
  const raw = data as RawConfig;
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
      healthDetails: raw.server.health_details,
      ecsMetadata: ecsMetadata(raw.server.ecs_metadata),
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
 * Loads one dynamic service file: a `services:` map like the main config's (every service in it,
 * not only the first as upstream did), merged with the main config's `aws_defaults`.
 */
export function loadServicesFile(path: string, text: string, awsDefaults: Readonly<Record<string, unknown>>, opts: ServicesFileOptions = {}): ServiceSpec[] {
  const env = opts.env ?? process.env;
  const { data, tree } = prepareDocument(text, path, validators().servicesFile, servicesFileSchema, { env, readFile: opts.readFile ?? defaultReadFile, emptyHint: CONFIG_EMPTY_HINT });
  const services = (data as { services: Record<string, unknown> }).services;
  const resolved = resolveServices(services, awsDefaults as RawSource, { kind: "dynamic", file: path }, env, opts.refreshBufferSeconds ?? 300);
  const problems = [...resolved.problems];
  if (resolved.services.length === 0) problems.push({ path: ["services"], message: "defines no service" });
  if (problems.length > 0) throw problemsError(path, problems, tree);
  for (const warning of resolved.warnings) opts.onWarning?.(`${path}: ${warning}`);
  return deepFreeze(resolved.services);
}

interface RawConfig {
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly debug: boolean;
    readonly log_health_checks: boolean;
    readonly health_details: "local" | "public";
    readonly ecs_metadata: boolean | { readonly addresses?: readonly string[]; readonly port?: number };
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

/** CredProxy's default host `localhost` means the IPv4 loopback; say so explicitly. */
function loopbackName(host: string): string {
  return host.toLowerCase() === "localhost" ? "127.0.0.1" : host;
}

/** Both validators, generated at build time from schema.ts (see compile-validators.ts). */
function validators(): { config: ValidateFunction; servicesFile: ValidateFunction } {
  return { config: validateConfig as ValidateFunction, servicesFile: validateServicesFile as ValidateFunction };
}
