/**
 * Loads one dynamic service file. Dynamic files are less trusted than the main config (anyone
 * who may write the directory writes them), so they get their own, narrower pipeline:
 * - the dynamic-file parse limits (parse-limits.ts);
 * - no ${…} substitution unless the directory names a `secrets_directory`, and then only
 *   ${fromFile:…} of regular files whose real path lies inside it; ${fromEnv:…} never;
 * - no connection settings (sts_endpoint, iam_profile.config_file/credentials_file): where
 *   credentials are sent and which AWS config (with its credential_process commands) is read
 *   come from the main config only.
 * The services are merged with the main config's aws_defaults, like static ones.
 */
import { realpathSync } from "node:fs";
import { resolve as resolvePath, sep } from "node:path";
import type { ValidateFunction } from "ajv";
import { validateServicesFile } from "./validators.ts";
import type { ServiceSpec } from "./types.ts";
import { servicesFileSchema } from "./services-schema.ts";
import type { Env, ReadFile, SubstitutionPolicy } from "./substitute.ts";
import { deepFreeze, prepareDocument } from "./prepare-document.ts";
import { problemsError, type Problem } from "./problems.ts";
import { resolveServices, type RawSource } from "./resolve-services.ts";
import { DYNAMIC_FILE_LIMITS, FROM_FILE_MAX_BYTES } from "./parse-limits.ts";
import { readRegularFile } from "./checked-file.ts";

export interface ServicesFileOptions {
  /** Environment of credproxy: the substitution syntax settings and AWS_ENDPOINT_URL*; default process.env. */
  readonly env?: Env | undefined;
  /** The directory's secrets_directory: turns on ${fromFile:…} for files inside it. */
  readonly secretsDirectory?: string | undefined;
  /** Called with each ${fromFile:…} path just before it is read (whatever the outcome). */
  readonly onRead?: ((path: string) => void) | undefined;
  /** credentials.refresh_buffer_seconds of the main config, for the lifetime check (default 300). */
  readonly refreshBufferSeconds?: number | undefined;
  /** Receives non-fatal findings about the file's services (e.g. a short DurationSeconds). */
  readonly onWarning?: ((message: string) => void) | undefined;
}

/** Keys of a service's source_credentials that only the main config may set. */
const CONNECTION_SETTINGS: readonly (readonly string[])[] = [["sts_endpoint"], ["iam_profile", "config_file"], ["iam_profile", "credentials_file"]];

const NO_SUBSTITUTION: SubstitutionPolicy = {
  kinds: "none",
  refusal: "Dynamic service files are not substituted unless their directory sets secrets_directory in the main config (then ${fromFile:…} of files in it works); write the value itself, or move the service to the main config",
};
const FILES_ONLY: SubstitutionPolicy = {
  kinds: "fromFile",
  refusal: "Dynamic service files may use ${fromFile:…} of files in the directory's secrets_directory only; ${fromEnv:…} belongs in the main config",
};

/**
 * A `services:` map like the main config's (every service in it, not only the first as upstream
 * did), merged with the main config's `aws_defaults`. Throws CredproxyError on bad content.
 */
export function loadServicesFile(path: string, text: string, awsDefaults: Readonly<Record<string, unknown>>, opts: ServicesFileOptions = {}): ServiceSpec[] {
  const env = opts.env ?? process.env;
  const secrets = opts.secretsDirectory;
  const { data, tree } = prepareDocument(text, path, validateServicesFile as ValidateFunction, servicesFileSchema, {
    env,
    readFile: secrets === undefined ? refuseAll : secretsReader(secrets, opts.onRead),
    emptyHint: "Write a services: map, shaped like the main config's",
    limits: DYNAMIC_FILE_LIMITS,
    substitution: secrets === undefined ? NO_SUBSTITUTION : FILES_ONLY,
    precheck: connectionSettings,
  });
  const services = (data as { services: Record<string, unknown> }).services;
  const resolved = resolveServices(services, awsDefaults as RawSource, { kind: "dynamic", file: path }, env, opts.refreshBufferSeconds ?? 300);
  const problems = [...resolved.problems];
  if (resolved.services.length === 0) problems.push({ path: ["services"], message: "defines no service" });
  if (problems.length > 0) throw problemsError(path, problems, tree);
  for (const warning of resolved.warnings) opts.onWarning?.(`${path}: ${warning}`);
  return deepFreeze(resolved.services);
}

/** Every connection setting a file's services write, as problems (checked before substitution). */
function connectionSettings(doc: Readonly<Record<string, unknown>>): Problem[] {
  const problems: Problem[] = [];
  const services = doc.services;
  if (!isRecord(services)) return problems;
  for (const [name, service] of Object.entries(services)) {
    const source = isRecord(service) ? service.source_credentials : undefined;
    for (const keys of CONNECTION_SETTINGS) {
      let node: unknown = source;
      for (const key of keys) node = isRecord(node) ? node[key] : undefined;
      if (node === undefined) continue;
      problems.push({
        path: ["services", name, "source_credentials", ...keys],
        message: "is a connection setting and only the main config may set it (a dynamic service file must not choose where credentials go or which AWS config is read); set it in aws_defaults of the main config",
      });
    }
  }
  return problems;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

const refuseAll: ReadFile = (path) => {
  throw Object.assign(new Error(`${path}: substitution is off`), { code: "EOUTSIDE" });
};

/** ${fromFile:…} limited to regular files whose real path is inside `directory` (a relative path is taken from it). */
function secretsReader(directory: string, onRead: ((path: string) => void) | undefined): ReadFile {
  return (name) => {
    const path = resolvePath(directory, name);
    onRead?.(path);
    const base = realpathSync(directory);
    const real = realpathSync(path);
    if (real !== base && !real.startsWith(base.endsWith(sep) ? base : base + sep)) {
      throw Object.assign(new Error(`${path} is outside ${directory}`), { code: "EOUTSIDE" });
    }
    return readRegularFile(real, FROM_FILE_MAX_BYTES, { noFollow: true });
  };
}
