import { resolve } from "node:path";
import { checkBrokerSocket, checkSocketPathShape, defaultSocketPath, ownUid } from "../../broker/socket/socket-path.ts";
import { CredproxyError, ErrorCode, isCredproxyError } from "../../errors.ts";
import { brokerConfigLocation, loadBrokerConfig } from "../../config/load-broker-config.ts";
import { parseCommandArgs, usageError, type OptionSpec } from "../args.ts";
import type { Command } from "./index.ts";

const USAGE = `Usage: credproxy broker credential-process [--socket PATH] [--role-arn ARN] [--config PATH]

Prints credentials from a running "credproxy broker serve" in the credential_process format
the AWS CLI and SDKs read (Version 1). Put it in ~/.aws/config:

  [default]
  credential_process = /path/to/credproxy broker credential-process

Exit 0 with the JSON on stdout; otherwise exit 1 with one line on stderr.

Options:
      --socket PATH   The broker's socket. Default: the same as broker serve's, socket.path
                      in the broker config, else $XDG_RUNTIME_DIR/credproxy/broker.sock,
                      else <tmpdir>/credproxy-<uid>/broker.sock
      --role-arn ARN  Ask for this role (the broker must allow it with --allow-role)
                      instead of the broker's own
      --config PATH   Broker config file, for socket.path. Default: $CREDPROXY_BROKER_CONFIG,
                      else ~/.config/credproxy/broker.yaml when it exists
  -h, --help          Show this help`;

/** What the SDKs read from credential_process (botocore, JS v3 fromProcess, the Go and Java SDKs). */
export interface CredentialProcessOutput {
  readonly Version: 1;
  readonly AccessKeyId: string;
  readonly SecretAccessKey: string;
  readonly SessionToken: string;
  readonly Expiration: string;
}

/** The broker fetches from STS with a 30 s timeout on a cold cache; allow for that and a little. */
const TIMEOUT_MS = 35_000;

const FLAGS = {
  socket: { type: "string" },
  "role-arn": { type: "string" },
  config: { type: "string" },
} as const satisfies OptionSpec;

export const brokerCredentialProcessCommand: Command = {
  name: "credential-process",
  summary: "Print credentials from broker serve's socket for credential_process",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    // Usage errors keep the usual exit 2 and hint; everything later is one stderr line, exit 1.
    const { values } = parseCommandArgs("broker credential-process", argv, FLAGS);
    for (const flag of ["socket", "config", "role-arn"] as const) {
      if (values[flag] === "") throw usageError("broker credential-process", `--${flag} is empty (give a value, or leave the flag out)`);
    }
    try {
      // The config is read only when the socket is not named, and only its socket section: SDKs
      // run this with their own environment, which may lack what other keys substitute.
      const configured = values.socket ? undefined : loadBrokerConfig(brokerConfigLocation(values.config), { only: ["socket"] }).socket.path;
      const socket = resolve(values.socket || configured || defaultSocketPath());
      checkSocketPathShape(socket);
      const output = await fetchCredentials(socket, values["role-arn"]);
      process.stdout.write(JSON.stringify(output) + "\n");
      return 0;
    } catch (error) {
      // One line: botocore and the JS SDK show stderr verbatim in their own error.
      const message = error instanceof CredproxyError ? error.message + (error.hint ? ` (hint: ${error.hint})` : "") : `internal error: ${(error as Error).message ?? String(error)}`;
      process.stderr.write(`credproxy broker credential-process: ${message.replace(/\s*\n\s*/g, " ")}\n`);
      return 1;
    }
  },
};

/** GET / (or /role-arn/<ARN>) over the broker's socket, turned into credential_process JSON. */
export async function fetchCredentials(socket: string, roleArn?: string, timeoutMs = TIMEOUT_MS): Promise<CredentialProcessOutput> {
  checkBrokerSocket(socket, ownUid());
  const path = roleArn === undefined ? "/" : `/role-arn/${encodeURIComponent(roleArn)}`;
  let response: Response;
  let text: string;
  try {
    response = await fetch(`http://localhost${path}`, { unix: socket, signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
    text = await response.text();
  } catch (error) {
    throw new CredproxyError(ErrorCode.SourceCredentials, `Cannot get credentials from ${socket}: ${describeFetchError(error, timeoutMs)}`, { cause: error });
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new CredproxyError(ErrorCode.SourceCredentials, `Cannot get credentials from ${socket} as the broker answered ${response.status} with a body that is not JSON`);
  }
  if (response.status !== 200) {
    const detail = typeof body.Message === "string" ? `: ${String(body.Code ?? "Error")}: ${body.Message}` : "";
    const hint = typeof body.Hint === "string" ? body.Hint : undefined;
    throw new CredproxyError(ErrorCode.SourceCredentials, `Cannot get credentials from ${socket} as the broker answered ${response.status}${detail}`, { hint });
  }
  const field = (name: string): string => {
    const value = body[name];
    if (typeof value !== "string" || value === "") {
      throw new CredproxyError(ErrorCode.SourceCredentials, `Cannot get credentials from ${socket} as the broker's answer lacks ${name}`);
    }
    return value;
  };
  return {
    Version: 1,
    AccessKeyId: field("AccessKeyId"),
    SecretAccessKey: field("SecretAccessKey"),
    SessionToken: field("Token"),
    Expiration: field("Expiration"),
  };
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  const name = (error as { name?: string }).name;
  if (name === "TimeoutError" || name === "AbortError") return `no answer within ${timeoutMs / 1000} s`;
  const code = (error as { code?: string }).code;
  if (code === "ECONNREFUSED" || code === "ConnectionRefused") return "connection refused (is the broker running?)";
  if (code === "EACCES") return "permission denied";
  return isCredproxyError(error) ? error.message : ((error as Error).message ?? String(error));
}
