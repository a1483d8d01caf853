/**
 * Reads a tunnel file (schema: tunnel-schema.ts) for `tunnel up --config` and
 * `validate --tunnel`. Schema problems and the checks a schema cannot make (each CIDR, not
 * both instance_id and tags) are reported together, each with its key path and file:line:col.
 */
import { resolve as resolvePath } from "node:path";
import type { ValidateFunction } from "ajv";
import { openCheckedFile, readRegularFile } from "../config/checked-file.ts";
import { CONFIG_MAX_BYTES, FROM_FILE_MAX_BYTES } from "../config/parse-limits.ts";
import { deepFreeze, documentError, prepareDocument } from "../config/prepare-document.ts";
import type { Problem } from "../config/problems.ts";
import type { Env, ReadFile } from "../config/substitute.ts";
import { validateTunnelConfig } from "../config/validators.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { parseDnsZone } from "./dns/dns-zones.ts";
import { checkTunnelCidrs } from "./tunnel-cidrs.ts";
import { tunnelConfigSchema } from "./tunnel-schema.ts";

export const TUNNEL_SCHEMA_COMMAND = "credproxy validate --tunnel --print-schema";

/** What a tunnel file sets; every key optional (flags fill in or win). */
export interface TunnelFile {
  readonly file: string;
  readonly cidrs?: readonly string[] | undefined;
  readonly instanceId?: string | undefined;
  readonly tags?: Readonly<Record<string, string>> | undefined;
  readonly region?: string | undefined;
  readonly profile?: string | undefined;
  readonly document?: string | undefined;
  readonly streamEndpoint?: string | undefined;
  readonly agentPort?: number | undefined;
  readonly name?: string | undefined;
  readonly mtu?: number | undefined;
  readonly dns?: readonly string[] | undefined;
  readonly dnsMode?: string | undefined;
  readonly sessions?: number | undefined;
}

interface RawTunnelFile {
  cidrs?: string[];
  instance_id?: string;
  tags?: Record<string, string>;
  region?: string;
  profile?: string;
  document?: string;
  stream_endpoint?: string;
  agent_port?: number;
  name?: string;
  mtu?: number;
  dns?: string[];
  dns_mode?: string;
  sessions?: number;
}

export interface TunnelFileOptions {
  readonly env?: Env | undefined;
  readonly readFile?: ReadFile | undefined;
}

export function loadTunnelConfig(path: string, options: TunnelFileOptions = {}): TunnelFile {
  const hint = "name an existing tunnel file with --config PATH";
  let text: string;
  try {
    const opened = openCheckedFile(path, { maxBytes: CONFIG_MAX_BYTES });
    if (!opened.regular || opened.text === undefined) {
      const why = opened.regular ? `it is larger than ${CONFIG_MAX_BYTES} bytes (the config size limit)` : "it is not a regular file";
      throw new CredproxyError(ErrorCode.ConfigUnreadable, `Cannot read tunnel config ${path} as ${why}`, { hint });
    }
    text = opened.text;
  } catch (error) {
    if (error instanceof CredproxyError) throw error;
    const code = (error as { code?: unknown }).code;
    const why = code === "ENOENT" ? "it does not exist" : code === "EACCES" ? "permission is denied" : code === "EISDIR" ? "it is a directory" : `of ${String(code ?? error)}`;
    throw new CredproxyError(ErrorCode.ConfigUnreadable, `Cannot read tunnel config ${path} as ${why}`, { hint, cause: error, details: { file: path } });
  }
  return parseTunnelConfigText(text, path, options);
}

/** The same for text in hand; `file` names it in messages. */
export function parseTunnelConfigText(text: string, file: string, options: TunnelFileOptions = {}): TunnelFile {
  const { data, tree, problems, substitutionErrors } = prepareDocument(text, file, validateTunnelConfig as ValidateFunction, tunnelConfigSchema, {
    env: options.env ?? process.env,
    readFile: options.readFile ?? ((p: string) => readRegularFile(p, FROM_FILE_MAX_BYTES)),
    emptyHint: "Write tunnel settings as keys at the top level, e.g. cidrs: [10.20.0.0/16] and instance_id: i-0123456789abcdef0",
    deferProblems: true,
    schemaCommand: TUNNEL_SCHEMA_COMMAND,
  });
  const raw = data as RawTunnelFile;
  const all: Problem[] = [...problems];
  // The checks a schema cannot make run next to its problems, so every problem shows at once;
  // a CIDR entry the schema already refused (not a string) is not checked again.
  const cidrs: unknown[] = Array.isArray(raw.cidrs) ? raw.cidrs : [];
  const texts = cidrs.map((c) => (typeof c === "string" ? c : "0.0.0.0/0"));
  for (const { index, problem } of checkTunnelCidrs(texts).problems) if (typeof cidrs[index] === "string") all.push({ path: ["cidrs", index], at: "value", message: problem });
  const zones: unknown[] = Array.isArray(raw.dns) ? raw.dns : [];
  zones.forEach((zone, index) => {
    const result = typeof zone === "string" ? parseDnsZone(zone) : undefined;
    if (result !== undefined && "problem" in result) all.push({ path: ["dns", index], at: "value", message: result.problem });
  });
  if (raw.instance_id !== undefined && raw.tags !== undefined) all.push({ path: ["tags"], message: "give either instance_id or tags, not both" });
  if (all.length > 0) throw documentError(file, all, tree, substitutionErrors, TUNNEL_SCHEMA_COMMAND);
  return deepFreeze({
    file: resolvePath(file),
    cidrs: raw.cidrs?.map((c) => c.trim()),
    instanceId: raw.instance_id,
    tags: raw.tags,
    region: raw.region,
    profile: raw.profile,
    document: raw.document,
    streamEndpoint: raw.stream_endpoint,
    agentPort: raw.agent_port,
    name: raw.name,
    mtu: raw.mtu,
    dns: raw.dns,
    dnsMode: raw.dns_mode,
    sessions: raw.sessions,
  });
}
