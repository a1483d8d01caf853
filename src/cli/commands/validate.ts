import { brokerConfigSchema } from "../../config/broker-schema.ts";
import { brokerConfigLocation, loadBrokerConfig, type BrokerConfig } from "../../config/load-broker-config.ts";
import { loadConfig } from "../../config/load.ts";
import { CredproxyError, ErrorCode, isCredproxyError } from "../../errors.ts";
import { validateInput as validateExecInput } from "./broker-exec.ts";
import { validateInput as validateImdsInput } from "./broker-imds.ts";
import { validateInput as validateServeInput } from "./broker-serve.ts";
import { configSchema } from "../../config/schema.ts";
import { proxyConfigSchema } from "../../proxy/config/proxy-schema.ts";
import { schemaText } from "../../config/schema-files.ts";
import type { ResolvedConfig } from "../../config/types.ts";
import type { CredentialSpec } from "../../proxy/config/proxy-config.ts";
import { describeSource } from "../../credentials/source-provider.ts";
import { taskMetadataPaths } from "../../serve/task-metadata.ts";
import { parseCommandArgs, usageError, type OptionSpec } from "../args.ts";
import { configPath } from "../env.ts";
import { loadTunnelConfig } from "../../tunnel/load-tunnel-config.ts";
import { tunnelConfigSchema } from "../../tunnel/tunnel-schema.ts";
import { tunnelUpSettings } from "../tunnel-settings.ts";
import type { Command } from "./index.ts";

const USAGE = `Usage: credproxy validate [PATH | --config PATH] [--broker | --proxy | --tunnel] [--print-schema]

Checks a config file the way serve would load it (substitutions included) and prints what it
would serve. Exit 0 when valid, 1 when not, with every problem and its key path and line.

Arguments:
  PATH               Config file. Default: $CREDPROXY_CONFIG_FILE, else /credproxy/config.yaml;
                     with --broker: $CREDPROXY_BROKER_CONFIG, else ~/.config/credproxy/broker.yaml

Options:
  -c, --config PATH  The same as PATH (the flag serve takes)
  --broker           PATH is a broker config (the defaults of the credproxy broker commands)
  --proxy            PATH is a proxy config (proxy.yaml; default $CREDPROXY_PROXY_CONFIG, else
                     ~/.config/credproxy/proxy.yaml); the proxy command is still being built
  --tunnel           PATH is a tunnel file (the settings of credproxy tunnel up --config);
                     also checks what tunnel up would check of the values (CIDRs, instance)
  --print-schema     Print the JSON Schema of the config file (or with --broker, --proxy or
                     --tunnel, of that kind of file) for editors, and exit
  -h, --help         Show this help`;

const FLAGS = {
  "print-schema": { type: "boolean" },
  broker: { type: "boolean" },
  proxy: { type: "boolean" },
  tunnel: { type: "boolean" },
  config: { type: "string", short: "c" },
} as const satisfies OptionSpec;

export const validateCommand: Command = {
  name: "validate",
  summary: "Check a config file and print what it would serve",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const { values, positionals } = parseCommandArgs("validate", argv, FLAGS, { min: 0, max: 1 });
    if (values.config !== undefined && positionals.length > 0) {
      throw usageError("validate", `name the file once: PATH "${positionals[0]}" and --config "${values.config}" were both given`);
    }
    const path = values.config ?? positionals[0];
    if (values["print-schema"]) {
      if (path !== undefined) throw usageError("validate", `--print-schema prints the schema and reads no file, but "${path}" was given`);
      process.stdout.write(schemaText(values.tunnel ? tunnelConfigSchema : values.proxy ? proxyConfigSchema : values.broker ? brokerConfigSchema : configSchema));
      return 0;
    }
    const kinds = (["broker", "proxy", "tunnel"] as const).filter((k) => values[k] === true);
    if (kinds.length > 1) throw usageError("validate", `${kinds.map((k) => `--${k}`).join(" and ")} name different kinds of file; give one`);
    if (values.tunnel) return validateTunnel(path);
    if (values.proxy) return validateProxy(path);
    if (values.broker) {
      const location = brokerConfigLocation(path);
      if (location === undefined) {
        throw new CredproxyError(ErrorCode.Usage, "validate: no broker config to check as neither HOME nor XDG_CONFIG_HOME is set", {
          hint: "name the file: credproxy validate --broker PATH",
        });
      }
      const config = loadBrokerConfig({ ...location, explicit: true });
      checkAsBrokerCommands(config);
      process.stdout.write(describeBrokerConfig(config) + "\n");
      return 0;
    }
    const config = await loadConfig(configPath(path));
    process.stdout.write(describeConfig(config) + "\n");
    return 0;
  },
};

function validateTunnel(path: string | undefined): number {
  if (path === undefined) throw usageError("validate", "--tunnel needs the tunnel file: credproxy validate --tunnel FILE");
  const file = loadTunnelConfig(path);
  // What tunnel up checks of the merged settings, with no flags: only the file's own values can fail.
  try {
    tunnelUpSettings({ cidr: file.cidrs === undefined ? ["192.0.2.0/24"] : undefined, "instance-id": file.instanceId === undefined && file.tags === undefined ? "i-00000000" : undefined }, file);
  } catch (error) {
    if (!isCredproxyError(error, ErrorCode.Usage)) throw error;
    throw new CredproxyError(ErrorCode.ConfigInvalid, `Invalid tunnel config ${file.file}: ${error.message.replace(/^tunnel up: /, "")}`, { hint: "Fix the key named above; tunnel up would refuse it" });
  }
  const set = (label: string, value: unknown) => (value === undefined ? [] : [`  ${label}: ${Array.isArray(value) ? value.join(", ") : typeof value === "object" ? Object.entries(value as object).map(([k, v]) => `${k}=${String(v)}`).join(", ") : String(value)}`]);
  const lines = [
    `${file.file}: valid (tunnel config)`,
    ...set("name", file.name),
    ...set("cidrs", file.cidrs),
    ...set("instance", file.instanceId),
    ...set("tags", file.tags),
    ...set("region", file.region),
    ...set("profile", file.profile),
    ...set("document", file.document),
    ...set("agent port", file.agentPort),
    ...set("mtu", file.mtu),
    ...set("dns", file.dns),
    ...set("dns mode", file.dnsMode),
    ...set("sessions", file.sessions),
  ];
  if (file.cidrs === undefined) lines.push("  (no cidrs: tunnel up then needs --cidr)");
  if (file.instanceId === undefined && file.tags === undefined) lines.push("  (no instance_id or tags: tunnel up then needs --instance-id or --tag)");
  process.stdout.write(lines.join("\n") + "\n");
  return 0;
}

async function validateProxy(path: string | undefined): Promise<number> {
  const { proxyConfigLocation, loadProxyConfig } = await import("../../proxy/config/load-proxy-config.ts");
  const location = proxyConfigLocation(path);
  if (location === undefined) {
    throw new CredproxyError(ErrorCode.Usage, "validate: no proxy config to check as neither HOME nor XDG_CONFIG_HOME is set", { hint: "name the file: credproxy validate --proxy PATH" });
  }
  const config = loadProxyConfig({ ...location, explicit: true });
  const t = config.defaultTenant;
  const lines = [
    `${config.file}: valid (proxy config)`,
    `  listen: http://${config.listen.host}:${config.listen.port}`,
    `  policy: ${t.policy}; intercept: ${t.intercept}; allow: ${t.allow.length}, deny: ${t.deny.length}, grants: ${t.grants.join(", ") || "(none)"}`,
    `  credentials: ${t.credentials.map(describeCredential).join("; ") || "(none)"}`,
    ...t.awsCredentials.map((c) => `  aws: ${c.name} (${c.roleArn} re-signs SigV4 to ${c.hosts.map((h) => h.text).join(", ")}${c.containerEndpoint ? "; also served at /_credproxy/aws/credentials" : ""})`),
    ...t.relays.map((r) => `  relay: ${r.name} → ${r.url.href} (credential ${r.credential.name})`),
    ...t.mcpServers.map((r) => `  mcp: ${r.name} → ${r.url.href} (credential ${r.credential.name})`),
    `  runs: ${config.runsDir ?? "(none)"}`,
    ...config.warnings.map((w) => `  warning: ${w}`),
  ];
  process.stdout.write(lines.join("\n") + "\n");
  return 0;
}

/** What validate says a header credential does: sets its header, or swaps its placeholder. */
function describeCredential(c: CredentialSpec): string {
  const hosts = c.hosts.map((h) => h.text).join(", ");
  if (c.placeholder === undefined) return `${c.name} (${c.header} to ${hosts})`;
  const env = c.env === undefined ? "" : ` from ${c.env}`;
  return `${c.name} (placeholder${env} swapped at ${hosts}${c.requirePlaceholder ? `; ${c.header} without it refused` : ""})`;
}

/**
 * The checks each broker command makes of the file's values at start-up (one IMDS host, a
 * socket path that fits, executables that exist, …), made here too, so that validate accepts
 * exactly what the commands accept. Every problem is reported, once.
 */
function checkAsBrokerCommands(config: BrokerConfig): void {
  const runs: (() => unknown)[] = [
    () => validateServeInput([], process.env, config),
    () => validateImdsInput([], process.env, config),
    () => validateExecInput(["--", "true"], process.env, config),
  ];
  const messages = new Set<string>();
  for (const run of runs) {
    try {
      run();
    } catch (error) {
      // Only what comes from the file: a flag the commands would also need is not the file's fault.
      if (isCredproxyError(error, ErrorCode.ConfigInvalid)) messages.add(error.message);
      else if (!isCredproxyError(error)) throw error;
    }
  }
  if (messages.size === 0) return;
  const prefix = `Invalid config ${config.file}: `;
  const lines = [...messages].map((m) => "  " + (m.startsWith(prefix) ? m.slice(prefix.length) : m));
  const head = lines.length === 1 ? `Invalid config ${config.file}:` : `Invalid config ${config.file} (${lines.length} problems):`;
  throw new CredproxyError(ErrorCode.ConfigInvalid, [head, ...lines].join("\n"), { hint: "Fix the keys named above; the broker commands would refuse them at start-up" });
}

/** A short human-readable account of a valid config (no secrets). */
export function describeConfig(config: ResolvedConfig): string {
  const lines = [`${config.file}: valid`];
  lines.push(`  listen: http://${config.server.host}:${config.server.port}/v1/credentials`);
  const ecs = config.server.ecsMetadata;
  if (ecs) lines.push(`  ECS metadata address: ${ecs.addresses.map((a) => (a.includes(":") ? `[${a}]` : a) + `:${ecs.port}`).join(", ")} (added to lo; needs CAP_NET_ADMIN)`);
  const task = config.server.taskMetadata;
  if (task) {
    const base = ecs ? `http://${ecs.addresses[0]!.includes(":") ? `[${ecs.addresses[0]}]` : ecs.addresses[0]}${ecs.port === 80 ? "" : `:${ecs.port}`}` : `http://${config.server.host}:${config.server.port}`;
    const paths = taskMetadataPaths(task);
    lines.push(`  task metadata: ECS_CONTAINER_METADATA_URI_V4=${base}${paths.v4} (and _URI=${base}${paths.v3}); task ${task.taskArn}`);
  }
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

/** What a valid broker config sets, key by key, in the broker commands' own terms. */
export function describeBrokerConfig(config: BrokerConfig): string {
  const lines = [`${config.file}: valid (broker config)`];
  const set = (label: string, value: unknown) => {
    if (value !== undefined) lines.push(`  ${label}: ${Array.isArray(value) ? value.join(", ") || "(none)" : String(value)}`);
  };
  set("source", config.profile === undefined ? undefined : `profile ${config.profile}`);
  set("role", config.roleArn);
  set("region", config.region);
  set("session length", config.durationSeconds === undefined ? undefined : `${config.durationSeconds}s`);
  set("MFA device", config.mfaSerial);
  set("roles /role-arn/ may assume", config.allowRoles);
  set("log level", config.logLevel);
  set("socket", config.socket.path);
  set("socket users (uids)", config.socket.allowUids);
  set("socket programs", config.socket.allowExes);
  set("IMDS address", config.imds.address);
  set("IMDS port", config.imds.port);
  set("IMDSv1", config.imds.v1);
  set("exec isolates ~/.aws files", config.exec.isolateSharedFiles);
  if (lines.length === 1) lines.push("  (sets nothing: every broker command uses its defaults)");
  return lines.join("\n");
}
