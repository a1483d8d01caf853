import { envNamespace } from "../config/substitute.ts";
import { LOG_LEVELS, parseLogLevel, type LogLevel } from "../log.ts";

/** CredProxy's default config location, kept so existing images and mounts keep working. */
export const DEFAULT_CONFIG_PATH = "/credproxy/config.yaml";

/** Reads `${NS}NAME` (NS = $CREDPROXY_NAMESPACE or "CREDPROXY_"); empty counts as unset. */
export function envVar(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[envNamespace(env) + name];
  return value === undefined || value === "" ? undefined : value;
}

/** An explicit --config wins; then ${NS}CONFIG_FILE; then /credproxy/config.yaml. */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? envVar("CONFIG_FILE", env) ?? DEFAULT_CONFIG_PATH;
}

/** The AWS region a command uses: its --region flag, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1. */
export function awsRegion(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag || env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1";
}

/**
 * The log level from a --log-level flag, else ${NS}LOG_LEVEL, else `fallback`. An invalid value
 * is handed to `fail` (each command throws its own usage error).
 */
export function logLevelSetting(flag: string | undefined, env: NodeJS.ProcessEnv, fallback: LogLevel, fail: (message: string) => Error): LogLevel {
  const text = flag ?? envVar("LOG_LEVEL", env);
  if (text === undefined) return fallback;
  const level = parseLogLevel(text);
  if (!level) {
    const source = flag !== undefined ? "--log-level" : `$${envNamespace(env)}LOG_LEVEL`;
    throw fail(`invalid ${source} "${text}" (choose from ${LOG_LEVELS.join(", ")}${flag === undefined ? ", or unset it" : ""})`);
  }
  return level;
}
