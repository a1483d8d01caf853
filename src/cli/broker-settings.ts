/**
 * What every `credproxy broker` command shares on its command line: where source credentials
 * come from, the role, MFA, region, session length, the /role-arn/ allow-list and the log level,
 * each from a flag, else the broker config file, else a default. Flags are checked here once,
 * so the four commands say the same thing about the same mistake; config values were checked
 * by the schema with file, line and key path.
 */
import { BROKER_MAX_DURATION, BROKER_MIN_DURATION } from "../config/broker-schema.ts";
import { brokerConfigLocation, loadBrokerConfig, type BrokerConfig } from "../config/load-broker-config.ts";
import { ROLE_ARN_PATTERN } from "../config/services-schema.ts";
import { CredproxyError, ErrorCode, isCredproxyError } from "../errors.ts";
import type { LogLevel } from "../log.ts";
import { awsRegion, logLevelSetting } from "./env.ts";
import { LOG_OUTPUT_FLAGS } from "./log-output.ts";

export const DEFAULT_DURATION = 3600;

/** parseArgs options of the shared flags; each command spreads them next to its own. */
export const BROKER_SOURCE_FLAGS = {
  config: { type: "string" },
  "role-arn": { type: "string" },
  profile: { type: "string" },
  "mfa-serial": { type: "string" },
  "mfa-token": { type: "string" },
  region: { type: "string" },
  duration: { type: "string" },
  "log-level": { type: "string" },
  ...LOG_OUTPUT_FLAGS,
} as const;

/** --allow-role, for the commands that serve /role-arn/<ARN> (exec and serve). */
export const ALLOW_ROLE_FLAG = { "allow-role": { type: "string", multiple: true } } as const;

/** Help lines for the shared flags (and --allow-role when the command has it), text at column `width` + 7. */
export function brokerSourceFlagsHelp(width: number, withAllowRole = true, overrides: Readonly<Record<string, string>> = {}): string {
  const rows = ([
    ["--config PATH", "Broker config file. Default: $CREDPROXY_BROKER_CONFIG, else\n~/.config/credproxy/broker.yaml when it exists. Flags win over it"],
    ["--role-arn ARN", "The role to serve. Default: the source's temporary credentials as\nthey are, or an sts:GetSessionToken session for long-term keys"],
    ["--profile NAME", "Source credentials from this profile. Default: the SDK default chain"],
    ["--mfa-serial ARN", "MFA device for a GetSessionToken session used as the source\n(default: the source profile's mfa_serial in ~/.aws/config)"],
    ["--mfa-token CODE", "The current 6-digit MFA code (default: prompt on the terminal)"],
    ["--region REGION", "Region for STS. Default: region in the broker config, else\n$AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1"],
    ["--duration SECONDS", `Session length, ${BROKER_MIN_DURATION}..${BROKER_MAX_DURATION} (default ${DEFAULT_DURATION})`],
    ["--allow-role PATTERN", "Also serve /role-arn/<ARN> for role ARNs matching PATTERN (* within one\npath segment, ** across); repeatable, replaces allow_roles. Default: none"],
  ] as [string, string][])
    .filter(([flag]) => withAllowRole || !flag.startsWith("--allow-role"))
    .map(([flag, text]): [string, string] => [flag, overrides[flag] ?? text]);
  const pad = " ".repeat(6 + width + 1);
  return rows
    .map(([flag, text]) => `      ${flag.padEnd(width)} ${text.split("\n").join(`\n${pad}`)}`)
    .join("\n");
}

/** The --log-level help line of a broker command whose own default is `fallback`. */
export function brokerLogLevelHelp(width: number, fallback: LogLevel): string {
  const pad = " ".repeat(6 + width + 1);
  return `      ${"--log-level LEVEL".padEnd(width)} debug, info, warn or error. Default: $CREDPROXY_LOG_LEVEL, else\n${pad}log_level in the broker config, else ${fallback}`;
}

/** Where every broker command sends its STS calls. */
export const STS_ENDPOINT_NOTE = "The STS endpoint is AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else STS in the region.";

export interface BrokerSourceSettings {
  readonly config: BrokerConfig;
  readonly roleArn: string | undefined;
  readonly profile: string | undefined;
  readonly mfaSerial: string | undefined;
  readonly mfaToken: string | undefined;
  readonly region: string;
  readonly durationSeconds: number;
  readonly stsEndpoint: string | undefined;
  /** Empty for a command without --allow-role. */
  readonly allowRoles: readonly string[];
  readonly logLevel: LogLevel;
}

type SourceFlags = typeof BROKER_SOURCE_FLAGS & Partial<typeof ALLOW_ROLE_FLAG>;
type SourceFlagValues = {
  readonly [K in keyof SourceFlags]?: SourceFlags[K] extends { multiple: true } | undefined ? string[] : SourceFlags[K] extends { type: "boolean" } ? boolean : string;
};

/** A usage error of `credproxy broker <command>` (exit 2), with the command's help as the default hint. */
export function brokerUsageError(command: string, message: string, hint?: string): CredproxyError {
  return new CredproxyError(ErrorCode.Usage, `broker ${command}: ${message}`, {
    hint: hint ?? `run "credproxy broker ${command} --help" for usage`,
  });
}

/**
 * Checks the shared flags and fills in each setting from the flag, else the broker config, else
 * the default. Reads the broker config (see load-broker-config.ts) unless `config` is given.
 */
export function brokerSourceSettings(
  command: string,
  values: SourceFlagValues,
  env: NodeJS.ProcessEnv,
  options: {
    readonly defaultLogLevel: LogLevel;
    /** False for a command that serves no /role-arn/ route (allow_roles in the config is then unused). */
    readonly allowRoles?: boolean | undefined;
    /** The broker config already read (tests); default: read it from where --config says. */
    readonly config?: BrokerConfig | undefined;
  },
): BrokerSourceSettings {
  const fail = (message: string, hint?: string) => brokerUsageError(command, message, hint);
  if (values.config === "") throw fail("--config is empty", "give the path of a broker config file, or leave the flag out");
  const config = options.config ?? loadBrokerConfig(brokerConfigLocation(values.config, env), { env });

  const roleArn = values["role-arn"];
  if (roleArn === "") throw fail("--role-arn is empty", "pass --role-arn arn:aws:iam::123456789012:role/Name, or leave it out to serve a session of the source identity");
  if (roleArn !== undefined && !new RegExp(ROLE_ARN_PATTERN).test(roleArn)) {
    throw fail(`--role-arn "${roleArn}" is not an IAM role ARN`, "use the form arn:aws:iam::123456789012:role/Name (a path before the name is fine)");
  }
  const profile = values.profile;
  if (profile === "") throw fail("--profile is empty", "give a profile name from ~/.aws/config, or leave the flag out for the default chain");
  const mfaSerial = values["mfa-serial"];
  if (mfaSerial === "") throw fail("--mfa-serial is empty", "pass the MFA device ARN, e.g. --mfa-serial arn:aws:iam::123456789012:mfa/alice");
  const mfaToken = values["mfa-token"];
  if (mfaToken !== undefined && !/^\d{6}$/.test(mfaToken)) throw fail("--mfa-token must be the 6-digit code your MFA device shows", "e.g. --mfa-token 123456");

  let durationSeconds = config.durationSeconds ?? DEFAULT_DURATION;
  if (values.duration !== undefined) {
    durationSeconds = Number(values.duration);
    if (!/^\d+$/.test(values.duration) || durationSeconds < BROKER_MIN_DURATION || durationSeconds > BROKER_MAX_DURATION) {
      throw fail(`invalid --duration "${values.duration}"`, `use a whole number of seconds from ${BROKER_MIN_DURATION} to ${BROKER_MAX_DURATION} (the role's MaxSessionDuration may be lower)`);
    }
  }

  const region = awsRegion(values.region ?? config.region, env);
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(region)) {
    const from = values.region !== undefined ? "" : config.region === undefined ? " (from AWS_REGION or AWS_DEFAULT_REGION)" : "";
    throw fail(`invalid region "${region}"${from}`, "use a region name such as us-east-1");
  }

  const flagRoles = values["allow-role"];
  for (const pattern of flagRoles ?? []) {
    if (!pattern.startsWith("arn:") && pattern !== "*") {
      throw fail(`invalid --allow-role "${pattern}"`, "give a role ARN pattern such as 'arn:aws:iam::123456789012:role/dev-*'");
    }
  }
  const logLevel = logLevelSetting(values["log-level"], env, values.dev ? "debug" : (config.logLevel ?? options.defaultLogLevel), (message) => fail(message));
  return {
    config,
    roleArn: roleArn ?? config.roleArn,
    profile: profile ?? config.profile,
    mfaSerial: mfaSerial ?? config.mfaSerial,
    mfaToken,
    region,
    durationSeconds,
    stsEndpoint: env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL || undefined,
    allowRoles: options.allowRoles === false ? [] : (flagRoles ?? config.allowRoles ?? []),
    logLevel,
  };
}

/**
 * Runs the same check a flag's value gets on a value from the broker config; a failure names
 * the file and key (E_CONFIG_INVALID, exit 1) instead of a flag.
 */
export function inConfig<T>(config: BrokerConfig, key: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!isCredproxyError(error)) throw error;
    throw new CredproxyError(ErrorCode.ConfigInvalid, `Invalid config ${config.file}: ${key}: ${error.message}`, { hint: error.hint, cause: error });
  }
}
