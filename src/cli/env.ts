import { envNamespace } from "../config/substitute.ts";

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
