import { loadConfig } from "../../config/load.ts";
import { configSchema } from "../../config/schema.ts";
import type { ResolvedConfig } from "../../config/types.ts";
import { describeSource } from "../../credentials/source-provider.ts";
import { parseCommandArgs } from "../args.ts";
import { configPath } from "../env.ts";
import type { Command } from "./index.ts";

const USAGE = `Usage: credproxy validate [PATH] [--print-schema]

Checks a config file the way serve would load it (substitutions included) and prints what it
would serve. Exit 0 when valid, 1 when not, with every problem and its key path and line.

Arguments:
  PATH             Config file. Default: $CREDPROXY_CONFIG_FILE, else /credproxy/config.yaml

Options:
  --print-schema   Print the JSON Schema of the config file (for editors) and exit
  -h, --help       Show this help`;

export const validateCommand: Command = {
  name: "validate",
  summary: "Check a config file and print what it would serve",
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs("validate", argv, { "print-schema": { type: "boolean" } }, { min: 0, max: 1 });
    if (values["print-schema"]) {
      process.stdout.write(JSON.stringify(configSchema, null, 2) + "\n");
      return 0;
    }
    const config = await loadConfig(configPath(positionals[0]));
    process.stdout.write(describeConfig(config) + "\n");
    return 0;
  },
};

/** A short human-readable account of a valid config (no secrets). */
export function describeConfig(config: ResolvedConfig): string {
  const lines = [`${config.file}: valid`];
  lines.push(`  listen: http://${config.server.host}:${config.server.port}/v1/credentials`);
  const ecs = config.server.ecsMetadata;
  if (ecs) lines.push(`  ECS metadata address: ${ecs.addresses.map((a) => (a.includes(":") ? `[${a}]` : a) + `:${ecs.port}`).join(", ")} (added to lo; needs CAP_NET_ADMIN)`);
  lines.push(`  services: ${config.services.length}`);
  for (const s of config.services) {
    const selectors = [s.authToken !== undefined ? "token" : "", s.relativeUri !== undefined ? "relative URI" : ""].filter(Boolean).join(" + ");
    lines.push(`    ${s.name}: ${s.assumeRole.RoleArn} in ${s.region} from ${describeSource(s.source)}` +
      (s.stsEndpoint ? ` via ${s.stsEndpoint}` : "") + `, selected by ${selectors}`);
  }
  const d = config.dynamicServices;
  lines.push(`  dynamic services: ${d.enabled ? d.directories.map((x) => x.path).join(", ") + ` (reload ${d.reloadIntervalSeconds}s)` : "off"}`);
  const l = config.metrics.listener;
  lines.push(`  metrics: ${!config.metrics.enabled ? "off" : l ? `/metrics and http://${l.host}:${l.port}/metrics` : "/metrics"}`);
  for (const w of config.warnings) lines.push(`  warning: ${w}`);
  return lines.join("\n");
}
