/**
 * Loads proxy.yaml (schema: proxy-schema.ts) and run files into frozen ProxyConfig / Tenant
 * values. The file is optional at its default place, $XDG_CONFIG_HOME/credproxy/proxy.yaml
 * (else ~/.config/credproxy/proxy.yaml), and required when named by --config or
 * $CREDPROXY_PROXY_CONFIG. Schema problems and the checks a schema cannot make (host
 * patterns, grant names, CIDRs, token strength, a non-loopback listen without a token) are
 * reported together, each with its key path and line.
 *
 * A credential's `value` keeps its ${…} references unexpanded in the result: substitution
 * here only proves they resolve, and the proxy expands them itself when it needs the value,
 * so a token rotated in a ${fromFile:} file is picked up without a reload.
 */
import { dirname, join, resolve as resolvePath } from "node:path";
import { configHome } from "../../config/config-home.ts";
import type { ValidateFunction } from "ajv";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { CONFIG_MAX_BYTES, FROM_FILE_MAX_BYTES } from "../../config/parse-limits.ts";
import { openCheckedFile, readRegularFile } from "../../config/checked-file.ts";
import { deepFreeze, documentError, prepareDocument } from "../../config/prepare-document.ts";
import type { Problem } from "../../config/problems.ts";
import { envNamespace, type Env, type ReadFile } from "../../config/substitute.ts";
import { validateProxyConfig, validateProxyRun } from "../../config/validators.ts";
import { tokenStrength } from "../../config/secret-strength.ts";
import { proxyConfigSchema, proxyRunSchema } from "./proxy-schema.ts";
import type { ProxyConfig, Tenant } from "./proxy-config.ts";
import { tenantFrom, type RawTenant } from "./tenant-from.ts";
import { listenProblems, tokenProblems, topLevelProblems, upstreamProxySetting } from "./proxy-checks.ts";

export interface ProxyConfigOptions {
  readonly env?: Env | undefined;
  /** Reads ${fromFile:…} files; default a checked read of a regular file. */
  readonly readFile?: ReadFile | undefined;
}

export interface ProxyConfigLocation {
  readonly path: string;
  /** Named by --config or the env var: a missing file is an error, not "no config". */
  readonly explicit: boolean;
}

/** --config wins; then ${NS}PROXY_CONFIG; then the XDG default, which may be absent. */
export function proxyConfigLocation(flag: string | undefined, env: Env = process.env): ProxyConfigLocation | undefined {
  if (flag !== undefined) return { path: resolvePath(flag), explicit: true };
  const fromEnv = env[`${envNamespace(env)}PROXY_CONFIG`];
  if (fromEnv) return { path: resolvePath(fromEnv), explicit: true };
  const base = configHome(env);
  return base === undefined ? undefined : { path: join(base, "credproxy", "proxy.yaml"), explicit: false };
}

/** Reads and checks the file at `location`; an absent implicit file gives the defaults. */
export function loadProxyConfig(location: ProxyConfigLocation, options: ProxyConfigOptions = {}): ProxyConfig {
  const env = options.env ?? process.env;
  const hint = `name an existing file with --config PATH or ${envNamespace(env)}PROXY_CONFIG`;
  let text: string | undefined;
  try {
    const opened = openCheckedFile(location.path, { maxBytes: CONFIG_MAX_BYTES });
    if (!opened.regular || opened.text === undefined) {
      const why = opened.regular ? `it is larger than ${CONFIG_MAX_BYTES} bytes (the config size limit)` : "it is not a regular file";
      throw new CredproxyError(ErrorCode.ConfigUnreadable, `Cannot read proxy config ${location.path} as ${why}`, { hint });
    }
    text = opened.text;
  } catch (error) {
    if (error instanceof CredproxyError) throw error;
    const code = (error as { code?: unknown }).code;
    if (code === "ENOENT" && !location.explicit) return parseProxyConfigText("", location.path, options, false);
    const why = code === "ENOENT" ? "it does not exist" : code === "EACCES" ? "permission is denied" : code === "EISDIR" ? "it is a directory" : `of ${String(code ?? error)}`;
    throw new CredproxyError(ErrorCode.ConfigUnreadable, `Cannot read proxy config ${location.path} as ${why}`, { hint, cause: error, details: { file: location.path } });
  }
  return parseProxyConfigText(text, location.path, options);
}

/** The same for text in hand; `file` names it in messages and anchors relative paths. */
export function parseProxyConfigText(text: string, file: string, options: ProxyConfigOptions = {}, exists = true): ProxyConfig {
  const env = options.env ?? process.env;
  const readFile = options.readFile ?? readSubstitutedFile;
  const { data, tree, problems, substitutionErrors } = prepareDocument(text, file, validateProxyConfig as ValidateFunction, proxyConfigSchema, {
    env,
    readFile,
    emptyHint: "Write proxy settings as keys at the top level, e.g. allow: and credentials:",
    allowEmpty: true,
    deferProblems: true,
    schemaCommand: "credproxy validate --proxy --print-schema",
  });
  const raw = data as RawProxyConfig;
  const templates = (tree.value ?? {}) as RawProxyConfig;
  const base = dirname(resolvePath(file));
  const all: Problem[] = [...problems];
  const source = exists ? file : "proxy.yaml";
  const tenant = problems.length === 0 ? tenantFrom(raw, templates, { name: "default", token: undefined, proxyToken: raw.token, source, base, env }, all) : undefined;
  if (problems.length === 0) all.push(...topLevelProblems(raw), ...listenProblems(raw));
  if (all.length > 0) throw documentError(file, all, tree, substitutionErrors, "credproxy validate --proxy --print-schema");
  const caBase = configHome(env);
  const at = (p: string | undefined) => (p === undefined ? undefined : resolvePath(base, p));
  const caDir = at(raw.tls.ca_dir) ?? (caBase ? join(caBase, "credproxy", "proxy-ca") : resolvePath(base, "proxy-ca"));
  return deepFreeze({
    file: exists ? resolvePath(file) : undefined,
    listen: { host: raw.listen.host, port: raw.listen.port },
    tls: {
      caCert: at(raw.tls.ca_cert),
      caKey: at(raw.tls.ca_key),
      caDir,
      trustBundle: at(raw.tls.trust_bundle) ?? join(caDir, "trust-bundle.pem"),
      upstreamCaBundle: at(raw.tls.upstream_ca_bundle),
      nameConstraints: raw.tls.name_constraints,
      leafValidityDays: raw.tls.leaf_validity_days,
    },
    defaultTenant: tenant!,
    token: raw.token,
    runsDir: at(raw.runs_dir),
    upstreamProxy: upstreamProxySetting(raw),
    limits: {
      maxConnections: raw.limits.max_connections,
      maxHeaderBytes: raw.limits.max_header_bytes,
      tlsHandshakeTimeoutMs: raw.limits.tls_handshake_timeout_seconds * 1000,
      idleTimeoutMs: raw.limits.idle_timeout_seconds * 1000,
      connectTimeoutMs: raw.limits.connect_timeout_seconds * 1000,
      responseHeadTimeoutMs: raw.limits.response_head_timeout_seconds * 1000,
    },
    logLevel: raw.log_level === "warning" ? "warn" : raw.log_level,
    metrics: { enabled: raw.metrics.enabled },
    warnings: tokenWarnings(raw.token, "token"),
  });
}

/** One run file: its own token, policy and credentials (the run is named after the file). */
export function parseRunText(text: string, file: string, name: string, options: ProxyConfigOptions = {}): Tenant {
  const env = options.env ?? process.env;
  const readFile = options.readFile ?? readSubstitutedFile;
  const { data, tree, problems, substitutionErrors } = prepareDocument(text, file, validateProxyRun as ValidateFunction, proxyRunSchema, {
    env,
    readFile,
    emptyHint: "A run file needs at least token:, and usually allow: and credentials:",
    deferProblems: true,
    schemaCommand: "credproxy validate --proxy --print-schema",
  });
  const raw = data as RawTenant & { token: string };
  const all: Problem[] = [...problems];
  const tenant = problems.length === 0 ? tenantFrom(raw, (tree.value ?? {}) as RawTenant, { name, token: raw.token, source: file, base: dirname(resolvePath(file)), env }, all) : undefined;
  if (problems.length === 0) all.push(...tokenProblems(raw.token, ["token"]));
  if (all.length > 0) throw documentError(file, all, tree, substitutionErrors, "credproxy validate --proxy --print-schema");
  return deepFreeze(tenant!);
}

/** ${fromFile:…} reads: a regular file, at most FROM_FILE_MAX_BYTES. */
function readSubstitutedFile(path: string): string {
  return readRegularFile(path, FROM_FILE_MAX_BYTES);
}

function tokenWarnings(token: string | undefined, key: string): string[] {
  const verdict = token === undefined ? undefined : tokenStrength(token);
  return verdict?.level === "weak" ? [`${key} ${verdict.message}`] : [];
}

export interface RawProxyConfig extends RawTenant {
  readonly listen: { readonly host: string; readonly port: number };
  readonly tls: {
    readonly ca_cert?: string;
    readonly ca_key?: string;
    readonly ca_dir?: string;
    readonly trust_bundle?: string;
    readonly upstream_ca_bundle?: string;
    readonly name_constraints: "auto" | "off";
    readonly leaf_validity_days: number;
  };
  readonly token?: string;
  readonly runs_dir?: string;
  readonly upstream_proxy?: string;
  readonly no_proxy: string[];
  readonly limits: {
    readonly max_connections: number;
    readonly max_header_bytes: number;
    readonly tls_handshake_timeout_seconds: number;
    readonly idle_timeout_seconds: number;
    readonly connect_timeout_seconds: number;
    readonly response_head_timeout_seconds: number;
  };
  readonly log_level?: "debug" | "info" | "warn" | "warning" | "error";
  readonly metrics: { readonly enabled: boolean };
}
