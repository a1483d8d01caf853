import { ECS_METADATA_DEFAULT, loadConfig } from "../../config/load.ts";
import { resolveTaskMetadata } from "../../config/resolve-task-metadata.ts";
import type { ResolvedConfig } from "../../config/types.ts";
import { createLogger, LOG_LEVELS, parseLogLevel, type LogLevel } from "../../log.ts";
import { startServe } from "../../serve/serve.ts";
import { versionLine } from "../../version.ts";
import { parseCommandArgs, usageError, type OptionSpec } from "../args.ts";
import { configPath, envVar } from "../env.ts";
import { describeConfig } from "./validate.ts";
import type { Command } from "./index.ts";
import { LOG_OUTPUT_FLAGS, logOutput } from "../log-output.ts";
import { firstSignal } from "../signals.ts";

const USAGE = `Usage: credproxy serve [options]

Serves AWS role credentials to containers over the ECS container-credentials protocol
(AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN), one role per service,
selected by the service's auth token. A drop-in replacement for the Python CredProxy.

Options:
  -c, --config PATH      Config file (YAML or JSON). Default: $CREDPROXY_CONFIG_FILE,
                         else /credproxy/config.yaml
      --validate-only    Check the config and exit (0 valid, 1 invalid)
      --log-level LEVEL  debug, info, warn or error (also $CREDPROXY_LOG_LEVEL). Default: info
      --log-format FORMAT
                         json or text. Default: json (text with server.debug)
      --dev              Text logs at debug level (same as --log-format text --log-level debug)
      --ecs-metadata     Also serve on 169.254.170.2:80, adding that address to lo
                         (Linux: CAP_NET_ADMIN; macOS: root); same as server.ecs_metadata: true.
                         Started as root on Linux, serve then becomes server.user
                         (default 65532:65532), keeping only CAP_NET_ADMIN
      --task-metadata    Also serve ECS task metadata at /v4/<id> and /v3/<id> (for
                         ECS_CONTAINER_METADATA_URI_V4); same as server.task_metadata: true
  -v, --version          Print the version and exit
  -h, --help             Show this help

Endpoints: GET /v1/credentials, GET <relative_uri> of a service, GET|HEAD /health, GET /metrics`;

const FLAGS = {
  config: { type: "string", short: "c" },
  "validate-only": { type: "boolean" },
  "log-level": { type: "string" },
  ...LOG_OUTPUT_FLAGS,
  "ecs-metadata": { type: "boolean" },
  "task-metadata": { type: "boolean" },
  version: { type: "boolean", short: "v" },
} as const satisfies OptionSpec;

export const serveCommand: Command = {
  name: "serve",
  summary: "Serve ECS-style credentials to containers (CredProxy replacement)",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const { values } = parseCommandArgs("serve", argv, FLAGS);
    if (values.version) {
      process.stdout.write(versionLine() + "\n");
      return 0;
    }
    let flagLevel: LogLevel | undefined;
    if (values["log-level"] !== undefined) {
      flagLevel = parseLogLevel(values["log-level"]);
      if (!flagLevel) throw usageError("serve", `invalid --log-level "${values["log-level"]}" (choose from ${LOG_LEVELS.join(", ")})`);
    }

    const output = logOutput("serve", values, "json"); // checked before the config is read
    const loaded = await loadConfig(configPath(values.config));
    const config = withFlags(loaded, { ecsMetadata: values["ecs-metadata"] === true, taskMetadata: values["task-metadata"] === true });
    if (values["validate-only"]) {
      process.stdout.write(describeConfig(config) + "\n");
      return 0;
    }

    const dev = output.dev || config.server.debug;
    const envLevel = envVar("LOG_LEVEL");
    const level = flagLevel ?? (envLevel ? parseLogLevel(envLevel) : undefined) ?? (dev ? "debug" : "info");
    // server.debug means text logs too, unless --log-format says otherwise.
    const logger = createLogger({ level, format: values["log-format"] === undefined && dev ? "dev" : output.format });
    if (envLevel && !parseLogLevel(envLevel)) logger.warn("ignoring invalid CREDPROXY_LOG_LEVEL", { value: envLevel });
    for (const warning of config.warnings) logger.warn(warning);

    // Handlers go in before anything starts: as PID 1 a signal arriving during start-up would
    // otherwise be ignored, and outside a container it would kill the process mid-start.
    const signal = firstSignal();
    const running = await startServe(config, {
      logger,
      logHealthChecks: config.server.logHealthChecks, // the loader also reads CREDPROXY_LOG_HEALTH_CHECKS
    });
    logger.info("shutting down", { signal: await signal });
    await running.stop();
    logger.info("stopped");
    return 0;
  },
};


/** --ecs-metadata and --task-metadata switch their option on with its defaults, unless the config chose its own. */
function withFlags(loaded: ResolvedConfig, flags: { ecsMetadata: boolean; taskMetadata: boolean }): ResolvedConfig {
  const server = { ...loaded.server };
  if (flags.ecsMetadata && !server.ecsMetadata) server.ecsMetadata = ECS_METADATA_DEFAULT;
  if (flags.taskMetadata && !server.taskMetadata) {
    server.taskMetadata = resolveTaskMetadata(true, { region: loaded.awsDefaults.region as string | undefined, services: loaded.services });
  }
  return { ...loaded, server };
}
