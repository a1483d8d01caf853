/**
 * The long-running `credproxy proxy`: loads proxy.yaml and runs_dir, starts the proxy, and
 * keeps both current. An edit of either, or SIGHUP, loads everything again and swaps it in
 * at once; a file that does not load keeps the last good config running and says why (a
 * broken run file only takes that run out). --listen replaces listen from the file.
 */
import { CredproxyError, ErrorCode, formatError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Env } from "../config/substitute.ts";
import type { ProxyConfig, Tenant } from "./config/proxy-config.ts";
import { loadProxyConfig, type ProxyConfigLocation } from "./config/load-proxy-config.ts";
import { listenProblems } from "./config/proxy-checks.ts";
import { watchConfig } from "./config-watcher.ts";
import { loadRuns } from "./load-runs.ts";
import { startProxy, type RunningProxy } from "./start-proxy.ts";

export interface ProxyServiceOptions {
  readonly location: ProxyConfigLocation;
  readonly listen?: { readonly host: string; readonly port: number } | undefined;
  readonly logger: Logger;
  readonly env?: Env;
  /** The config already loaded with these options (the CLI reads it first for log_level). */
  readonly initial?: ProxyConfig;
}

export interface ProxyService {
  readonly proxy: RunningProxy;
  /** Loads again now (SIGHUP). */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export function loadWithFlags(options: ProxyServiceOptions): ProxyConfig {
  const loaded = loadProxyConfig(options.location, { env: options.env });
  if (!options.listen) return loaded;
  const problems = listenProblems({ listen: options.listen, ...(loaded.token ? { token: loaded.token } : {}), ...(loaded.runsDir ? { runs_dir: loaded.runsDir } : {}) }, true);
  if (problems.length > 0) {
    throw new CredproxyError(ErrorCode.ConfigInvalid, `--listen ${options.listen.host}: ${problems[0]!.message}`, { hint: "give the proxy a token (or runs_dir) in proxy.yaml, or listen on 127.0.0.1" });
  }
  return { ...loaded, listen: options.listen };
}

export async function startProxyService(options: ProxyServiceOptions): Promise<ProxyService> {
  const { logger } = options;
  const config = options.initial ?? loadWithFlags(options);
  for (const warning of config.warnings) logger.warn(warning);
  const runs = runsOf(config, logger, options.env);
  const proxy = await startProxy(config, { logger, runs, env: options.env ?? process.env });
  let current = config;
  const reload = async (): Promise<void> => {
    let next: ProxyConfig;
    let nextRuns: readonly Tenant[];
    try {
      next = loadWithFlags(options);
      nextRuns = runsOf(next, logger, options.env);
      proxy.reload(next, nextRuns);
    } catch (error) {
      logger.error("reload failed; the last good config stays in use", { error: formatError(error) });
      return;
    }
    if (next.runsDir !== current.runsDir) restartWatcher(next);
    current = next;
    logger.info("reloaded", { file: next.file, runs: next.runsDir === undefined ? undefined : nextRuns.length });
  };
  let watcher = watchConfig({ file: options.location.path, runsDir: config.runsDir, onChange: reload });
  const restartWatcher = (next: ProxyConfig) => {
    watcher.close();
    watcher = watchConfig({ file: options.location.path, runsDir: next.runsDir, onChange: reload });
  };
  return {
    proxy,
    reload,
    async stop() {
      watcher.close();
      await proxy.stop();
    },
  };
}

function runsOf(config: ProxyConfig, logger: Logger, env: Env | undefined): readonly Tenant[] {
  if (config.runsDir === undefined) return [];
  const loaded = loadRuns(config.runsDir, { env });
  if (loaded.missing) logger.warn("runs_dir does not exist yet; no run can use the proxy until it does", { runs_dir: config.runsDir });
  for (const [file, why] of loaded.problems) logger.error("run file left out", { file, error: why });
  return loaded.runs;
}
