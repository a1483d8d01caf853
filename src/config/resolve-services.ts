/**
 * Merges each service over `aws_defaults` and applies the rules the schema cannot express.
 * Shared by the main config and dynamic service files, so both get exactly the same treatment.
 *
 * Deliberate improvements over CredProxy (reference/credproxy-compat.md §2, §12):
 * - the service's credential kind wins as a whole: its iam_keys beat a default iam_profile and
 *   vice versa (upstream let a default profile silently override a service's keys);
 * - a block naming both iam_profile and iam_keys is rejected instead of preferring the profile;
 * - two services sharing an auth_token are rejected (upstream let the last one win silently);
 * - an auth_token too easy to guess is refused, a weak one warned about (secret-strength.ts);
 * - a service may be selected by a secret relative_uri instead of a token (ECS-style
 *   AWS_CONTAINER_CREDENTIALS_RELATIVE_URI); the path must carry at least 128 random bits;
 * - the region check applies to dynamic services too (upstream skipped it);
 * - Policy must be valid JSON, which STS would reject later anyway.
 */
import { accessSync, constants } from "node:fs";
import type { AssumeRoleSpec, ServiceOrigin, ServiceSpec, SourceSpec } from "./types.ts";
import type { Env } from "./substitute.ts";
import { displayPath, type KeyPath } from "./key-path.ts";
import type { Problem } from "./problems.ts";
import { hasStrongSegment, RELATIVE_URI_MIN_CHARS, tokenStrength } from "./secret-strength.ts";

/** Shape of a source_credentials block once the schema has accepted it. */
export interface RawSource {
  readonly region?: string;
  readonly sts_endpoint?: string;
  readonly iam_profile?: { readonly profile_name: string; readonly config_file?: string; readonly credentials_file?: string };
  readonly iam_keys?: { readonly aws_access_key_id: string; readonly aws_secret_access_key: string; readonly session_token?: string };
}

interface RawService {
  readonly auth_token?: string;
  readonly relative_uri?: string;
  readonly source_credentials?: RawSource;
  readonly assumed_role: AssumeRoleSpec;
}

export interface ResolvedServices {
  readonly services: ServiceSpec[];
  readonly problems: Problem[];
  readonly warnings: string[];
}

/** Credentials are refreshed this long before expiry; less usable life than this is a warning. */
const MIN_USEFUL_LIFETIME_SECONDS = 300;

export function resolveServices(
  rawServices: Readonly<Record<string, unknown>> | undefined,
  awsDefaults: RawSource,
  origin: ServiceOrigin,
  env: Env,
  refreshBufferSeconds: number,
): ResolvedServices {
  const services: ServiceSpec[] = [];
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const tokenOwners = new Map<string, string>();
  const uriOwners = new Map<string, string>();

  for (const [name, value] of Object.entries(rawServices ?? {})) {
    const at: KeyPath = ["services", name];
    const raw = value as RawService;
    const own = raw.source_credentials ?? {};
    checkSingleCredentialKind(own, [...at, "source_credentials"], problems);

    // A dynamic file may leave the region to the environment, as CredProxy (boto3) does.
    const region = own.region ?? awsDefaults.region ?? (origin.kind === "dynamic" ? env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined : undefined);
    if (region === undefined) {
      const where = origin.kind === "dynamic" ? "aws_defaults.region of the main config, AWS_REGION" : "aws_defaults.region";
      problems.push({ path: at, message: `AWS region is required for service '${name}'; set ${where} or ${displayPath([...at, "source_credentials", "region"])}` });
    }

    if (raw.auth_token === undefined && raw.relative_uri === undefined) {
      problems.push({ path: at, message: "needs auth_token (the Authorization header value that selects it) or relative_uri (a secret path), or both" });
    }
    if (raw.auth_token !== undefined && /[\x00-\x1f\x7f]/.test(raw.auth_token)) {
      // A header value cannot hold a line break or another control character; botocore refuses such a token file.
      problems.push({ path: [...at, "auth_token"], at: "value", message: "holds a line break or another control character, which no HTTP client can send; write the token (or its file) on one line" });
    } else if (raw.auth_token !== undefined) {
      const strength = tokenStrength(raw.auth_token);
      if (strength.level === "refused") problems.push({ path: [...at, "auth_token"], at: "value", message: strength.message! });
      else if (strength.level === "weak") warnings.push(`${displayPath([...at, "auth_token"])} ${strength.message}`);
      const firstOwner = tokenOwners.get(raw.auth_token);
      if (firstOwner !== undefined) {
        // Name both services, never the token itself.
        problems.push({ path: [...at, "auth_token"], message: `has the same value as ${displayPath(["services", firstOwner, "auth_token"])}; every service needs its own token, since the token is what selects the service` });
      } else tokenOwners.set(raw.auth_token, name);
    }
    if (raw.relative_uri !== undefined) {
      const problem = relativeUriProblem(raw.relative_uri);
      const firstOwner = uriOwners.get(raw.relative_uri);
      if (problem) problems.push({ path: [...at, "relative_uri"], message: problem });
      else if (firstOwner !== undefined) {
        problems.push({ path: [...at, "relative_uri"], message: `has the same value as ${displayPath(["services", firstOwner, "relative_uri"])}; each service needs its own path` });
      } else uriOwners.set(raw.relative_uri, name);
    }

    const role = raw.assumed_role;
    if (role.Policy !== undefined && !isJson(role.Policy)) {
      problems.push({ path: [...at, "assumed_role", "Policy"], at: "value", message: "must be a JSON policy document (a string holding JSON)" });
    }
    const usable = role.DurationSeconds - refreshBufferSeconds;
    if (usable < MIN_USEFUL_LIFETIME_SECONDS) {
      warnings.push(
        `${displayPath([...at, "assumed_role", "DurationSeconds"])} is ${role.DurationSeconds} and credentials.refresh_buffer_seconds is ${refreshBufferSeconds}: ` +
          `each credential is usable for only ${usable} s before it is refreshed; raise DurationSeconds or lower refresh_buffer_seconds`,
      );
    } else if (role.DurationSeconds <= 900) {
      warnings.push(
        `${displayPath([...at, "assumed_role", "DurationSeconds"])} is ${role.DurationSeconds}: AWS SDKs refresh credentials with less than 15 minutes left, ` +
          "so clients will ask for new credentials on almost every call; 3600 (the default) avoids that",
      );
    }

    warnings.push(...profileFileWarnings(own.iam_profile ?? (own.iam_keys ? undefined : awsDefaults.iam_profile), at));
    services.push({
      name,
      authToken: raw.auth_token,
      relativeUri: raw.relative_uri,
      region: region ?? "",
      source: mergeSource(own, awsDefaults),
      stsEndpoint: own.sts_endpoint ?? awsDefaults.sts_endpoint ?? (env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL || undefined),
      assumeRole: assumeRoleSpec(role),
      origin,
    });
  }
  return { services, problems, warnings };
}

/**
 * A profile's config_file or credentials_file that credproxy cannot read is a warning at
 * validate time (the SDK would fail on the first refresh, and a file may still be mounted
 * later), naming the file.
 */
function profileFileWarnings(profile: RawSource["iam_profile"], at: KeyPath): string[] {
  if (!profile) return [];
  const out: string[] = [];
  for (const [key, file] of [["config_file", profile.config_file], ["credentials_file", profile.credentials_file]] as const) {
    if (file === undefined) continue;
    try {
      accessSync(file, constants.R_OK);
    } catch (error) {
      const code = (error as { code?: string }).code;
      const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not readable by this user" : `cannot be read (${code ?? String(error)})`;
      out.push(`${displayPath([...at, "source_credentials", "iam_profile", key])}: ${file} ${why}; profile '${profile.profile_name}' cannot be loaded until it can be read`);
    }
  }
  return out;
}

export function checkSingleCredentialKind(source: RawSource, at: KeyPath, problems: Problem[]): void {
  if (source.iam_profile !== undefined && source.iam_keys !== undefined) {
    problems.push({ path: at, message: "sets both iam_profile and iam_keys; keep the one these credentials should come from" });
  }
}

/** The service's own credential kind wins as a whole; region and sts_endpoint merge key by key. */
function mergeSource(own: RawSource, defaults: RawSource): SourceSpec {
  return sourceSpec(own.iam_keys !== undefined || own.iam_profile !== undefined ? own : defaults);
}

/** The source iam_keys / iam_profile name, else the default chain (also the proxy's aws.source). */
export function sourceSpec(from: Pick<RawSource, "iam_keys" | "iam_profile">): SourceSpec {
  if (from.iam_keys) {
    const k = from.iam_keys;
    return { kind: "static", accessKeyId: k.aws_access_key_id, secretAccessKey: k.aws_secret_access_key, sessionToken: k.session_token };
  }
  if (from.iam_profile) {
    const p = from.iam_profile;
    return { kind: "profile", profile: p.profile_name, configFile: p.config_file, credentialsFile: p.credentials_file };
  }
  return { kind: "default-chain" };
}

/** Copies only the STS parameters (drops x-* keys); optional ones stay undefined when unset. */
function assumeRoleSpec(role: AssumeRoleSpec): AssumeRoleSpec {
  return {
    RoleArn: role.RoleArn,
    RoleSessionName: role.RoleSessionName,
    DurationSeconds: role.DurationSeconds,
    ExternalId: role.ExternalId,
    Policy: role.Policy,
    PolicyArns: role.PolicyArns?.map((p) => ({ arn: p.arn })),
    Tags: role.Tags?.map((t) => ({ Key: t.Key, Value: t.Value })),
    TransitiveTagKeys: role.TransitiveTagKeys ? [...role.TransitiveTagKeys] : undefined,
    SerialNumber: role.SerialNumber,
    TokenCode: role.TokenCode,
    SourceIdentity: role.SourceIdentity,
  };
}

/** Paths credproxy itself answers; a relative_uri must not shadow them. */
const RESERVED_PATHS = new Set(["/v1/credentials", "/health", "/metrics"]);

/**
 * The path is the only secret of a relative_uri service, so it must be unguessable: one
 * segment of at least 22 URL-safe characters (22 × 6 bits ≥ 128 bits if they are random) that
 * secret-strength.ts does not find repeating or sequential. The value itself is never echoed.
 */
export function relativeUriProblem(path: string): string | undefined {
  if (RESERVED_PATHS.has(path)) return "is a path credproxy already serves; use something like /v2/credentials/<random id>";
  if (!hasStrongSegment(path)) {
    return `is guessable: it needs a segment of at least ${RELATIVE_URI_MIN_CHARS} random letters, digits, _ or - (128 bits) that does not repeat or count up, e.g. /v2/credentials/$(openssl rand -hex 16)`;
  }
  return undefined;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

