import { accessSync, constants, statSync } from "node:fs";
import { basename, isAbsolute, join, resolve } from "node:path";
import { clientPolicy, instanceRoleNeeds } from "../../agent/install/iam-policy.ts";
import { localInstanceId } from "../../agent/install/instance-id.ts";
import { portSessionDocument, SESSION_DOCUMENT_NAME } from "../../agent/install/session-document.ts";
import { agentUnit, hiddenByUnit, UNIT_DIR, UNIT_NAME } from "../../agent/install/systemd-unit.ts";
import { writeUnitFile } from "../../agent/install/write-unit-file.ts";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { DEFAULT_AGENT_PORT, DEFAULT_DOCUMENT } from "../../tunnel/tunnel-schema.ts";
import { parseCommandArgs, usageError, type OptionSpec } from "../args.ts";
import { agentMode } from "../agent-settings.ts";
import { agentCidr, agentListen, isLoopbackHost, type AgentListen } from "../agent-flags.ts";
import { agentSettings } from "../agent-settings.ts";
import type { Command } from "./index.ts";

const COMMAND = "agent install";

const USAGE = `Usage: credproxy agent install [--listen HOST:PORT] [--pool CIDR] [--allow-cidr CIDR]... [options]

Sets this instance up for credproxy tunnels: writes the systemd unit
${UNIT_NAME} that runs \`credproxy agent\` with these flags (hardened: root boxed
in to CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE, a read-only system, /dev/net/tun
and ip_forward only), then prints the IAM policy the tunnel's users need, what the instance's role needs, and a Port
session document for accounts that do not allow AWS-StartSSHSession. The write is atomic; a
different unit is kept unless --force.

Options:
  --listen HOST:PORT   Where the agent listens; Session Manager connects to this port.
                       Default: 127.0.0.1:${DEFAULT_AGENT_PORT}
  --pool CIDR          The IPv4 range the agent gives clients addresses from. Default: the
                       agent's own
  --allow-cidr CIDR    Let clients reach only this range (repeat for more). Default: anywhere
  --mode MODE          tun (default) or socks: the agent dials streams for \`tunnel socks\`
                       and the unit runs it as an unprivileged DynamicUser with no
                       capabilities, no devices and nothing writable
  --dns-upstream ADDR  Where the DNS forwarder for tunnel up --dns sends queries. Default:
                       the first nameserver of /etc/resolv.conf, else 169.254.169.253
  --no-dns-forward     Run the agent without its DNS forwarder
  --binary PATH        The credproxy executable the unit runs. Default: this one
  --unit-dir DIR       Where the unit goes. Default: ${UNIT_DIR}
  --force              Replace a unit file that differs from this one
  --dry-run            Print the unit and the rest; write nothing
  --print-iam          Print only the IAM policy for tunnel users (JSON); write nothing
  --print-document     Print only the Port session document (JSON); write nothing
  -h, --help           Show this help

Then: systemctl daemon-reload && systemctl enable --now credproxy-agent`;

const FLAGS = {
  listen: { type: "string" },
  pool: { type: "string" },
  "allow-cidr": { type: "string", multiple: true },
  mode: { type: "string" },
  "dns-upstream": { type: "string" },
  "no-dns-forward": { type: "boolean" },
  binary: { type: "string" },
  "unit-dir": { type: "string" },
  force: { type: "boolean" },
  "dry-run": { type: "boolean" },
  "print-iam": { type: "boolean" },
  "print-document": { type: "boolean" },
} as const satisfies OptionSpec;

export const agentInstallCommand: Command = {
  name: "install",
  summary: "Write the agent's hardened systemd unit; print the IAM policy and SSM document",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const { values } = parseCommandArgs(COMMAND, argv, FLAGS);
    const listen = agentListen(COMMAND, values.listen);
    const mode = agentMode(values.mode);
    const args = [...agentArgs(listen, values.pool, values["allow-cidr"] ?? []), ...dnsArgs(values), ...(mode === "socks" ? ["--mode", "socks"] : [])];
    const instanceId = localInstanceId();
    if (values["print-iam"] === true || values["print-document"] === true) {
      const out: string[] = [];
      if (values["print-iam"] === true) out.push(policyText(instanceId));
      if (values["print-document"] === true) out.push(json(portSessionDocument(listen.port)));
      process.stdout.write(out.join("\n") + "\n");
      if (values["print-iam"] === true && instanceId === undefined) process.stderr.write(`note: ${unknownInstanceNote()}\n`);
      return 0;
    }
    const binary = unitBinary(values.binary);
    warnings(binary, listen).forEach((w) => process.stderr.write(`warning: ${w}\n`));
    const path = join(resolve(values["unit-dir"] ?? UNIT_DIR), UNIT_NAME);
    const unit = agentUnit({ binary, args, mode });
    if (values["dry-run"] === true) {
      process.stdout.write(`dry run: would write ${path}:\n\n${unit}\n`);
    } else {
      const outcome = writeUnitFile(path, unit, { force: values.force === true, command: COMMAND });
      const what = { created: "wrote", replaced: "replaced", unchanged: "unchanged:" }[outcome];
      process.stdout.write(`${what} ${path} (ExecStart=${unit.split("\n").find((l) => l.startsWith("ExecStart="))!.slice(10)})\n`);
    }
    process.stdout.write(`next: systemctl daemon-reload && systemctl enable --now credproxy-agent\n\n${afterwords(listen.port, instanceId)}`);
    return 0;
  },
};

/** The agent's own command line: only what was given, plus --listen (the port must match). */
function agentArgs(listen: AgentListen, pool: string | undefined, allow: readonly string[]): string[] {
  const args = ["agent", "--listen", listen.text];
  if (pool !== undefined) args.push("--pool", agentCidr(COMMAND, "--pool", pool));
  for (const cidr of allow) args.push("--allow-cidr", agentCidr(COMMAND, "--allow-cidr", cidr));
  return args;
}

/** The DNS flags as given, checked as the agent will check them. */
function dnsArgs(values: { "dns-upstream"?: string | undefined; "no-dns-forward"?: boolean | undefined }): string[] {
  agentSettings({ "dns-upstream": values["dns-upstream"], "no-dns-forward": values["no-dns-forward"] });
  if (values["no-dns-forward"] === true) return ["--no-dns-forward"];
  return values["dns-upstream"] === undefined ? [] : ["--dns-upstream", values["dns-upstream"]];
}

/** An absolute path to an executable file; by default this executable, when it is credproxy. */
function unitBinary(flag: string | undefined): string {
  if (flag === undefined && /^bun(-debug)?$/.test(basename(process.execPath))) {
    throw usageError(COMMAND, `this is credproxy run by ${process.execPath}, not the compiled binary, so the unit would start bun; give --binary PATH`);
  }
  const path = resolve(flag ?? process.execPath);
  if (!isAbsolute(path)) throw usageError(COMMAND, `--binary "${flag}" must be an absolute path`);
  try {
    if (!statSync(path).isFile()) throw new Error("not a regular file");
    accessSync(path, constants.X_OK);
  } catch (error) {
    throw new CredproxyError(ErrorCode.Usage, `${COMMAND}: --binary ${path} is not an executable file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {
      hint: "give the path of the credproxy executable, e.g. --binary /usr/local/bin/credproxy",
    });
  }
  return path;
}

function warnings(binary: string, listen: AgentListen): string[] {
  const out: string[] = [];
  const hidden = hiddenByUnit(binary);
  if (hidden) {
    out.push(`${binary} is under ${hidden.dir}, which the unit's ${hidden.by} hides from the service, so it would fail to start (status 203/EXEC); copy it first (sudo install -m 0755 ${binary} /usr/local/bin/credproxy) and rerun with --binary /usr/local/bin/credproxy`);
  }
  if (!isLoopbackHost(listen.host)) {
    out.push(`--listen ${listen.text} is not a loopback address: anything that reaches it could send packets as this instance, and the SSM agent only needs localhost`);
  }
  return out;
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

function policyText(instanceId: string | undefined): string {
  return json(clientPolicy({ instanceId, documents: [DEFAULT_DOCUMENT, SESSION_DOCUMENT_NAME] }));
}

function unknownInstanceNote(): string {
  return "this machine's instance id is unknown (no DMI asset tag or cloud-init record), so the policy lets StartSession reach every instance: narrow arn:aws:ec2:*:*:instance/* to the instance's id";
}

/** What follows the unit: the IAM policy, the instance role, and the optional document. */
function afterwords(port: number, instanceId: string | undefined): string {
  const portFlag = port === DEFAULT_AGENT_PORT ? "" : ` --agent-port ${port}`;
  return [
    `IAM policy for the users of credproxy tunnel up (client side)${instanceId ? `, for ${instanceId}` : ""}:`,
    policyText(instanceId),
    ...(instanceId === undefined ? [`note: ${unknownInstanceNote()}`] : []),
    "",
    `For Session Manager to reach this instance at all, ${instanceRoleNeeds()}.`,
    "",
    `Port session document, for accounts that cannot allow ${DEFAULT_DOCUMENT} (drop that one from the policy then):`,
    json(portSessionDocument(port)),
    `Create it once: aws ssm create-document --name ${SESSION_DOCUMENT_NAME} --document-type Session --document-format JSON --content file://document.json`,
    `and use it: credproxy tunnel up --document ${SESSION_DOCUMENT_NAME}${portFlag} --cidr CIDR --instance-id ID`,
    "",
    `From the client: credproxy tunnel up${portFlag} --cidr CIDR --instance-id ${instanceId ?? "ID"}`,
    "",
  ].join("\n");
}
