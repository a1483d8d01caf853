/**
 * The CREDPROXY_* environment variables CredProxy users already set. The prefix itself can be
 * changed with CREDPROXY_NAMESPACE (e.g. MYAPP_), as in CredProxy.
 */
export const DEFAULT_CONFIG_PATH = "/credproxy/config.yaml";

export function envPrefix(env: NodeJS.ProcessEnv = process.env): string {
  return env.CREDPROXY_NAMESPACE || "CREDPROXY_";
}

export function envVar(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[envPrefix(env) + name];
  return value === undefined || value === "" ? undefined : value;
}

/** An explicit --config wins; then ${NS}CONFIG_FILE; then /credproxy/config.yaml. */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? envVar("CONFIG_FILE", env) ?? DEFAULT_CONFIG_PATH;
}

export function envFlag(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(true|1|yes|on)$/i.test(envVar(name, env) ?? "");
}
