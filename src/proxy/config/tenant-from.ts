/**
 * A Tenant from the keys proxy.yaml and run files share (policy, intercept, allow, deny,
 * grants, allow_addresses, credentials), with the checks a schema cannot make: every host
 * pattern and CIDR parses, every grant exists (with a did-you-mean), every credential has
 * exactly one of value and command, a header the proxy may set, and a unique name.
 */
import { resolve as resolvePath } from "node:path";
import type { Problem } from "../../config/problems.ts";
import { closest } from "../../config/problems.ts";
import { substitutionSyntax, type Env } from "../../config/substitute.ts";
import type { KeyPath } from "../../config/key-path.ts";
import { parseCidr, type Cidr } from "../../net/cidr.ts";
import { GRANT_NAMES, grantHosts } from "../grants.ts";
import { parseHostPattern, type HostPattern } from "../host-pattern.ts";
import { sourceSpec, type RawSource } from "../../config/resolve-services.ts";
import { resolvePlaceholder, tenantPlaceholderProblems, type PlaceholderEntry, type RawPlaceholderKeys } from "../placeholders/resolve-placeholder.ts";
import { relaySpecs, type RawRelay } from "../relay/relay-config.ts";
import type { AwsCredentialSpec, CredentialSpec, CredentialValueSource, PolicyMode, InterceptMode, Tenant } from "./proxy-config.ts";

export interface RawCredential extends RawPlaceholderKeys {
  readonly name: string;
  readonly host: string | string[];
  readonly header: string;
  readonly value?: string;
  readonly command?: string[];
  readonly format: string;
  readonly ttl_seconds: number;
  readonly timeout_seconds: number;
  readonly allow_plaintext: boolean;
  readonly aws?: RawAws;
}

export interface RawAws {
  readonly role_arn: string;
  readonly source: "default" | Pick<RawSource, "iam_keys" | "iam_profile">;
  readonly region: string;
  readonly sts_endpoint?: string;
  readonly duration_seconds: number;
  readonly session_name: string;
  readonly container_endpoint: boolean;
}

export interface RawTenant {
  readonly policy: PolicyMode;
  readonly intercept: InterceptMode;
  readonly allow: string[];
  readonly deny: string[];
  readonly grants: string[];
  readonly allow_addresses: string[];
  readonly credentials: RawCredential[];
  readonly relays: RawRelay[];
  readonly mcp: RawRelay[];
}

export interface TenantContext {
  readonly name: string;
  readonly token: string | undefined;
  readonly source: string;
  /** The file's directory: relative ${fromFile:} paths are not resolved against it (substitution reads them as written). */
  readonly base: string;
  readonly env: Env;
  /** The proxy's top-level token: with no run token, the key placeholders are derived with. */
  readonly proxyToken?: string | undefined;
}

/** Headers a credential may not set: they frame or route the request, or belong to the proxy hop. */
const RESERVED_HEADERS = new Set(["host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive", "proxy-authorization", "proxy-connection"]);

/** Problems are appended to `problems`; the tenant is returned either way (callers throw first). */
export function tenantFrom(raw: RawTenant, unexpanded: Partial<RawTenant>, context: TenantContext, problems: Problem[]): Tenant {
  const patterns = (key: "allow" | "deny") => raw[key].flatMap((text, i) => pattern(text, [key, i], problems));
  const grantPatterns = raw.grants.flatMap((name, i) => grant(name, ["grants", i], problems));
  const allowAddresses = raw.allow_addresses.flatMap((text, i) => cidr(text, ["allow_addresses", i], problems));
  const seen = new Set<string>();
  const credentials: CredentialSpec[] = [];
  const awsCredentials: AwsCredentialSpec[] = [];
  const placeholders: PlaceholderEntry[] = [];
  raw.credentials.forEach((c, i) => {
    const path: KeyPath = ["credentials", i];
    if (seen.has(c.name)) problems.push({ path: [...path, "name"], at: "value", message: `another credential is already named "${c.name}"; names must be unique (they name credentials in logs and metrics)` });
    seen.add(c.name);
    if (c.aws !== undefined) return void awsCredentials.push(awsCredential(c, c.aws, unexpanded.credentials?.[i], path, problems));
    const spec = credential(c, unexpanded.credentials?.[i]?.value, path, context, problems);
    if (spec) credentials.push(spec);
    placeholders.push({ path, name: c.name, placeholder: spec?.placeholder, env: c.env, value: c.value, format: c.format });
  });
  problems.push(...tenantPlaceholderProblems(placeholders, context.token ?? context.proxyToken));
  oneContainerEndpoint(awsCredentials, raw.credentials, problems);
  return {
    name: context.name,
    token: context.token,
    policy: raw.policy,
    intercept: raw.intercept,
    allow: patterns("allow"),
    deny: patterns("deny"),
    grants: raw.grants,
    grantHosts: grantPatterns,
    allowAddresses,
    credentials,
    awsCredentials,
    relays: relaySpecs(raw.relays, "relays", credentials, problems),
    mcpServers: relaySpecs(raw.mcp, "mcp", credentials, problems),
    source: context.source,
  };
}

function credential(c: RawCredential, template: string | undefined, path: KeyPath, context: TenantContext, problems: Problem[]): CredentialSpec | undefined {
  const hosts = credentialHosts(c, path, problems);
  if (RESERVED_HEADERS.has(c.header.toLowerCase())) {
    problems.push({ path: [...path, "header"], at: "value", message: `${c.header} frames or routes the request and cannot carry a credential; use Authorization or the API's own header` });
  }
  const value = valueSource(c, template, path, context, problems);
  const placeholder = resolvePlaceholder(c, { tenant: context.name, token: context.token ?? context.proxyToken, credential: c.name }, path, problems);
  if (!value) return undefined;
  return { name: c.name, hosts, header: c.header, value, allowPlaintext: c.allow_plaintext, placeholder, requirePlaceholder: c.require_placeholder, placeholderInBody: c.placeholder_in_body, env: c.env };
}

function credentialHosts(c: RawCredential, path: KeyPath, problems: Problem[]): HostPattern[] {
  return (Array.isArray(c.host) ? c.host : [c.host]).flatMap((text, j) => pattern(text, Array.isArray(c.host) ? [...path, "host", j] : [...path, "host"], problems));
}

/** An aws: credential signs requests; a header, value or command beside it would mean something it does not do. */
function awsCredential(c: RawCredential, aws: RawAws, written: Partial<RawCredential> | undefined, path: KeyPath, problems: Problem[]): AwsCredentialSpec {
  for (const key of ["value", "command", "header", "format", "ttl_seconds", "timeout_seconds", "placeholder", "require_placeholder", "placeholder_in_body", "env"] as const) {
    if (written?.[key] !== undefined) problems.push({ path: [...path, key], message: `does not go with aws: an aws credential re-signs the request's SigV4 signature and sets no header; remove ${key}` });
  }
  const source = aws.source === "default" ? { kind: "default-chain" as const } : sourceSpec(aws.source);
  if (aws.source !== "default" && aws.source.iam_keys !== undefined && aws.source.iam_profile !== undefined) {
    problems.push({ path: [...path, "aws", "source"], message: "sets both iam_profile and iam_keys; keep the one the role is assumed with" });
  }
  return {
    name: c.name,
    hosts: credentialHosts(c, path, problems),
    allowPlaintext: c.allow_plaintext,
    roleArn: aws.role_arn,
    source,
    region: aws.region,
    stsEndpoint: aws.sts_endpoint,
    durationSeconds: aws.duration_seconds,
    sessionName: aws.session_name,
    containerEndpoint: aws.container_endpoint,
  };
}

/** The container endpoint serves one role per tenant, so its URL needs no name and an SDK nothing but the two variables. */
function oneContainerEndpoint(specs: readonly AwsCredentialSpec[], raw: readonly RawCredential[], problems: Problem[]): void {
  const served = specs.filter((s) => s.containerEndpoint);
  for (const extra of served.slice(1)) {
    const i = raw.findIndex((c) => c.name === extra.name);
    problems.push({
      path: ["credentials", i, "aws", "container_endpoint"],
      message: `is also set on "${served[0]!.name}"; the container endpoint serves one role per run, so set it on one aws credential only`,
    });
  }
}

function valueSource(c: RawCredential, template: string | undefined, path: KeyPath, context: TenantContext, problems: Problem[]): CredentialValueSource | undefined {
  if ((c.value === undefined) === (c.command === undefined)) {
    problems.push({ path, message: c.value === undefined ? "needs value: (the header's value) or command: (a program printing it)" : "has both value: and command:; keep one" });
    return undefined;
  }
  if (c.command !== undefined) {
    if (c.format.split("{}").length !== 2) problems.push({ path: [...path, "format"], at: "value", message: `must hold {} exactly once, where the command's output goes (e.g. "Bearer {}")` });
    return { kind: "command", argv: c.command, format: c.format, ttlSeconds: c.ttl_seconds, timeoutMs: c.timeout_seconds * 1000 };
  }
  const text = template ?? c.value!;
  return { kind: "template", template: text, files: referencedFiles(text, context.env) };
}

/** The files a value's ${fromFile:…} references name (absolute as written; relative ones as the process sees them). */
export function referencedFiles(template: string, env: Env): string[] {
  const syntax = substitutionSyntax(env);
  const files: string[] = [];
  let at = 0;
  const open = "${" + syntax.fromFileTag + syntax.separator;
  for (;;) {
    const start = template.indexOf(open, at);
    if (start < 0) return files;
    const end = template.indexOf("}", start);
    if (end < 0) return files;
    files.push(resolvePath(template.slice(start + open.length, end)));
    at = end + 1;
  }
}

function pattern(text: string, path: KeyPath, problems: Problem[]): HostPattern[] {
  const parsed = parseHostPattern(text);
  if ("problem" in parsed) {
    problems.push({ path, at: "value", message: parsed.problem });
    return [];
  }
  return [parsed];
}

function grant(name: string, path: KeyPath, problems: Problem[]): HostPattern[] {
  const hosts = grantHosts(name);
  if (hosts) return [...hosts];
  const near = closest(name.split(":")[0]!, GRANT_NAMES);
  problems.push({ path, at: "value", message: `unknown grant "${name}"${near ? `; did you mean "${near}"?` : ""} (the grants are listed in docs/proxy-grants.md)` });
  return [];
}

function cidr(text: string, path: KeyPath, problems: Problem[]): Cidr[] {
  const parsed = parseCidr(text);
  if ("problem" in parsed) {
    problems.push({ path, at: "value", message: parsed.problem });
    return [];
  }
  return [parsed];
}
