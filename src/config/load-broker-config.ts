/**
 * Loads the broker config file (schema: broker-schema.ts) into a frozen BrokerConfig. The file
 * is optional at its default place, $XDG_CONFIG_HOME/credproxy/broker.yaml (else
 * ~/.config/credproxy/broker.yaml), and required when named by --config or
 * $CREDPROXY_BROKER_CONFIG. It decides who may get credentials (allow_uids, allow_exes,
 * allow_roles), so like ~/.ssh/config it is refused when another user could have written it.
 */
import { dirname, join, resolve as resolvePath } from "node:path";
import type { ValidateFunction } from "ajv";
import { validateBrokerConfig } from "./validators.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { LogLevel } from "../log.ts";
import { brokerConfigSchema } from "./broker-schema.ts";
import { CONFIG_MAX_BYTES, FROM_FILE_MAX_BYTES } from "./parse-limits.ts";
import { openCheckedFile, ownershipProblem, readRegularFile, type OpenedFile } from "./checked-file.ts";
import { deepFreeze, prepareDocument } from "./prepare-document.ts";
import { envNamespace, type Env, type ReadFile } from "./substitute.ts";
import { configHome } from "./config-home.ts";

export interface BrokerConfig {
  /** Absolute path of the file read; undefined when there was none. */
  readonly file: string | undefined;
  readonly profile?: string | undefined;
  readonly roleArn?: string | undefined;
  readonly region?: string | undefined;
  readonly durationSeconds?: number | undefined;
  readonly mfaSerial?: string | undefined;
  readonly allowRoles?: readonly string[] | undefined;
  readonly logLevel?: LogLevel | undefined;
  readonly socket: {
    /** Absolute (a relative path in the file is taken from the file's directory). */
    readonly path?: string | undefined;
    readonly allowUids?: readonly number[] | undefined;
    readonly allowExes?: readonly string[] | undefined;
  };
  readonly imds: { readonly address?: string | undefined; readonly port?: number | undefined; readonly v1?: boolean | undefined };
  readonly exec: { readonly isolateSharedFiles?: boolean | undefined };
}

/** Where the broker config is looked for, and whether it must exist. */
export interface BrokerConfigLocation {
  readonly path: string;
  /** Named by --config or the env var: a missing file is an error, not "no config". */
  readonly explicit: boolean;
}

export interface BrokerConfigOptions {
  readonly env?: Env | undefined;
  /** Reads ${fromFile:…} files; default fs.readFileSync. */
  readonly readFile?: ReadFile | undefined;
  /** Opens the config file itself: owner, mode and text of what was opened; default openOwnedFile(). */
  readonly open?: ((path: string) => OpenedBrokerFile) | undefined;
  /** The uid the file must belong to (or root); default process.getuid(). */
  readonly uid?: number | undefined;
  /** Read only these top-level keys (credential-process needs `socket` alone); default all. */
  readonly only?: readonly string[] | undefined;
}

/** What loadBrokerConfig needs of an opened file (tests pass plain objects). */
export type OpenedBrokerFile = Pick<OpenedFile, "uid" | "mode" | "regular" | "text">;

/** Opens the broker config once (O_NONBLOCK, fstat on that descriptor, at most CONFIG_MAX_BYTES read). */
export function openOwnedFile(path: string): OpenedBrokerFile {
  return openCheckedFile(path, { maxBytes: CONFIG_MAX_BYTES });
}

export const NO_BROKER_CONFIG: BrokerConfig = deepFreeze({ file: undefined, socket: {}, imds: {}, exec: {} });

/** --config wins; then ${NS}BROKER_CONFIG; then the XDG default, which may be absent. */
export function brokerConfigLocation(flag: string | undefined, env: Env = process.env): BrokerConfigLocation | undefined {
  if (flag !== undefined) return { path: resolvePath(flag), explicit: true };
  const fromEnv = env[`${envNamespace(env)}BROKER_CONFIG`];
  if (fromEnv) return { path: resolvePath(fromEnv), explicit: true };
  const base = configHome(env);
  return base === undefined ? undefined : { path: join(base, "credproxy", "broker.yaml"), explicit: false };
}

/** Reads and validates the file at `location`; NO_BROKER_CONFIG when an implicit one is absent. */
export function loadBrokerConfig(location: BrokerConfigLocation | undefined, options: BrokerConfigOptions = {}): BrokerConfig {
  if (location === undefined) return NO_BROKER_CONFIG;
  const { path, explicit } = location;
  const variable = `${envNamespace(options.env ?? process.env)}BROKER_CONFIG`;
  const hint = `name an existing file with --config PATH or ${variable}, or unset both to use ~/.config/credproxy/broker.yaml when it exists`;
  let opened: OpenedBrokerFile;
  try {
    opened = (options.open ?? openOwnedFile)(path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ENOENT" && !explicit) return NO_BROKER_CONFIG;
    const why =
      code === "ENOENT" ? "it does not exist" : code === "EACCES" ? "permission is denied" : code === "EISDIR" ? "it is a directory" : `of ${String(code ?? error)}`;
    throw new CredproxyError(ErrorCode.ConfigUnreadable, `Cannot read broker config ${path} as ${why}`, { hint, cause: error, details: { file: path } });
  }
  if (!opened.regular || opened.text === undefined) {
    const why = opened.regular ? `it is larger than ${CONFIG_MAX_BYTES} bytes (the config size limit)` : "it is not a regular file";
    throw new CredproxyError(ErrorCode.ConfigUnreadable, `Cannot read broker config ${path} as ${why}`, { hint, details: { file: path } });
  }
  checkOwnership(path, opened, options.uid ?? process.getuid?.() ?? 0, options.env ?? process.env);
  const text = opened.text;
  return parseBrokerConfigText(text, path, options);
}

/** The same as loadBrokerConfig for text already in hand (no ownership check); `file` names it in messages. */
export function parseBrokerConfigText(text: string, file: string, options: BrokerConfigOptions = {}): BrokerConfig {
  const { data } = prepareDocument(text, file, validateBrokerConfig as ValidateFunction, brokerConfigSchema, {
    env: options.env ?? process.env,
    readFile: options.readFile ?? ((p: string) => readRegularFile(p, FROM_FILE_MAX_BYTES)),
    emptyHint: "Write broker settings as keys at the top level, e.g. role_arn: and allow_roles:",
    allowEmpty: true,
    schemaCommand: "credproxy validate --broker --print-schema",
    pick: options.only,
  });
  const raw = data as RawBrokerConfig;
  const socketPath = raw.socket?.path;
  return deepFreeze({
    file: resolvePath(file),
    profile: raw.profile,
    roleArn: raw.role_arn,
    region: raw.region,
    durationSeconds: raw.duration_seconds,
    mfaSerial: raw.mfa_serial,
    allowRoles: raw.allow_roles,
    logLevel: raw.log_level === "warning" ? "warn" : raw.log_level,
    socket: {
      path: socketPath === undefined ? undefined : resolveSocketPath(socketPath, file, options.env ?? process.env),
      allowUids: raw.socket?.allow_uids,
      allowExes: raw.socket?.allow_exes,
    },
    imds: { address: raw.imds?.address, port: raw.imds?.port, v1: raw.imds?.v1 },
    exec: { isolateSharedFiles: raw.exec?.isolate_shared_files },
  });
}

/** `~/x` is in the home directory; any other relative path is taken from the config file's folder. */
function resolveSocketPath(path: string, file: string, env: Env): string {
  if (path.startsWith("~/")) {
    if (!env.HOME) {
      throw new CredproxyError(ErrorCode.ConfigInvalid, `Invalid config ${file}: socket.path: "${path}" starts with ~/ but HOME is not set`, {
        hint: "write the socket's absolute path, or set HOME",
      });
    }
    return join(env.HOME, path.slice(2));
  }
  return resolvePath(dirname(resolvePath(file)), path);
}

function checkOwnership(path: string, stat: { uid: number; mode: number }, uid: number, env: Env): void {
  const problem = ownershipProblem(stat, uid);
  if (problem?.kind === "owner") {
    // sudo keeps HOME on macOS (and with sudo -E): root then finds the invoking user's file.
    const underSudo = uid === 0 && env.SUDO_UID === String(problem.owner);
    throw new CredproxyError(ErrorCode.ConfigInvalid, `Cannot use broker config ${path} as it belongs to uid ${problem.owner}, not to you (uid ${uid}) or root`, {
      hint: underSudo
        ? `credproxy runs as root under sudo and will not take settings from a file another user can change; use sudo -H, or --config with a root-owned copy`
        : `it decides who gets credentials; use a file of your own`,
      details: { file: path },
    });
  }
  if (problem?.kind === "mode") {
    throw new CredproxyError(ErrorCode.ConfigInvalid, `Cannot use broker config ${path} as other users may write to it (mode ${problem.octal})`, {
      hint: `it decides who gets credentials; run chmod go-w ${path}`,
      details: { file: path },
    });
  }
}

interface RawBrokerConfig {
  readonly profile?: string;
  readonly role_arn?: string;
  readonly region?: string;
  readonly duration_seconds?: number;
  readonly mfa_serial?: string;
  readonly allow_roles?: string[];
  readonly log_level?: LogLevel | "warning";
  readonly socket?: { readonly path?: string; readonly allow_uids?: number[]; readonly allow_exes?: string[] };
  readonly imds?: { readonly address?: string; readonly port?: number; readonly v1?: boolean };
  readonly exec?: { readonly isolate_shared_files?: boolean };
}
