import { batchedLines } from "../../batched-lines.ts";
import { createLogger, LOG_LEVELS, parseLogLevel } from "../../log.ts";
import { parseCommandArgs, usageError, type OptionSpec } from "../args.ts";
import { LOG_OUTPUT_FLAGS, logOutput } from "../log-output.ts";
import { firstSignal } from "../signals.ts";
import type { Command } from "./index.ts";
import { parseListen, proxyLocation } from "./proxy-flags.ts";

const USAGE = `Usage: credproxy proxy [options]

A forward proxy for sandboxes (an AI agent's container, a CI job): it injects credentials
into requests to the hosts each credential is bound to, so the sandbox never holds them.
HTTPS is intercepted only for those hosts (or every host with intercept: all); the policy
(allow, deny, grants) applies to all traffic. Prints "listening on http://HOST:PORT".

Options:
  -c, --config PATH      proxy.yaml. Default: $CREDPROXY_PROXY_CONFIG, else
                         $XDG_CONFIG_HOME/credproxy/proxy.yaml (optional there)
      --listen HOST:PORT Replaces listen from the file (port 0: a free port)
      --log-level LEVEL  debug, info, warn or error. Default: info
      --log-format FORMAT
                         json or text. Default: json
      --dev              Text logs at debug level
  -h, --help             Show this help

SIGHUP or an edit of proxy.yaml or runs_dir reloads; a bad edit keeps the last good config.
Own paths on the proxy port: GET /_credproxy/health, GET /_credproxy/metrics.`;

export const PROXY_RUN_FLAGS = {
  config: { type: "string", short: "c" },
  listen: { type: "string" },
  "log-level": { type: "string" },
  ...LOG_OUTPUT_FLAGS,
} as const satisfies OptionSpec;

export const proxyRunCommand: Command = {
  name: "proxy",
  summary: "Run the proxy",
  usage: USAGE,
  flags: PROXY_RUN_FLAGS,
  async run(argv) {
    const { values } = parseCommandArgs("proxy", argv, PROXY_RUN_FLAGS);
    const level = values["log-level"] === undefined ? undefined : parseLogLevel(values["log-level"]);
    if (values["log-level"] !== undefined && !level) throw usageError("proxy", `invalid --log-level "${values["log-level"]}" (choose from ${LOG_LEVELS.join(", ")})`);
    const output = logOutput("proxy", values, "json");
    const listen = values.listen === undefined ? undefined : parseListen("proxy", values.listen);
    const location = await proxyLocation("proxy", values.config);
    const signal = firstSignal({ except: ["SIGHUP"] });
    const { loadWithFlags, startProxyService } = await import("../../proxy/proxy-service.ts");
    const config = loadWithFlags({ location, listen, logger: createLogger({ level: "error" }) });
    const logger = createLogger({ level: level ?? config.logLevel ?? (output.dev ? "debug" : "info"), format: output.format, write: batchedLines() });
    const service = await startProxyService({ location, listen, logger, initial: config });
    const onHangup = () => void service.reload();
    process.on("SIGHUP", onHangup);
    const { host, port } = service.proxy;
    process.stdout.write(`listening on http://${host.includes(":") ? `[${host}]` : host}:${port}\n`);
    logger.info("proxy started", { listen: `${host}:${port}`, ca: service.proxy.ca.certPath, trust_bundle: service.proxy.trustBundle, config: config.file });
    logger.info("shutting down", { signal: await signal });
    process.off("SIGHUP", onHangup);
    await service.stop();
    logger.info("stopped");
    return 0;
  },
};
