/**
 * The instance and session settings `tunnel up` and `tunnel socks` share (which instance, the
 * region, profile, session document, stream endpoint, agent port and tunnel name), checked the
 * same way for both: every problem is a usage error naming the flag, before anything touches AWS.
 */
import { REGION_PATTERN } from "../config/services-schema.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { STREAM_ENDPOINT_PATTERN } from "../ssm/stream-url.ts";
import { DEFAULT_AGENT_PORT, DEFAULT_DOCUMENT, INSTANCE_ID_PATTERN, TUNNEL_NAME_PATTERN } from "../tunnel/tunnel-schema.ts";
import { usageError } from "./args.ts";
import { awsRegion } from "./env.ts";

/** The flags of that part, in both commands' tables. */
export const AWS_SESSION_FLAGS = {
  "instance-id": { type: "string" },
  tag: { type: "string", multiple: true },
  profile: { type: "string" },
  region: { type: "string" },
  document: { type: "string" },
  "stream-endpoint": { type: "string" },
  "agent-port": { type: "string" },
  name: { type: "string" },
} as const;

export interface AwsSessionValues {
  readonly instanceId: string | undefined;
  readonly tags: Readonly<Record<string, string>> | undefined;
  readonly region: string;
  readonly profile: string | undefined;
  readonly document: string;
  /** One more StreamUrl host to accept besides the ssmmessages hosts (lower-cased). */
  readonly streamEndpoint: string | undefined;
  readonly agentPort: number;
  /** Undefined: the instance id, once known. */
  readonly name: string | undefined;
}

/** The values as given (flags merged over a file by the caller), before they are checked. */
export interface AwsSessionInput {
  readonly instanceId: string | undefined;
  readonly tags: Readonly<Record<string, string>> | undefined;
  readonly region: string | undefined;
  readonly profile: string | undefined;
  readonly document: string | undefined;
  readonly streamEndpoint: string | undefined;
  /** --agent-port as typed, checked here; else `agentPort` (a file's, already checked). */
  readonly agentPortFlag: string | undefined;
  readonly agentPort: number | undefined;
  readonly name: string | undefined;
}

export interface AwsSessionContext {
  readonly command: string;
  /** Said after "no instance selected: …", e.g. " (or in tunnel.yaml)". */
  readonly from: string;
  readonly missingInstanceHint: string;
  /** Said after an invalid region that did not come from --region. */
  readonly regionSource: string;
}

export function awsSessionSettings(input: AwsSessionInput, context: AwsSessionContext, env: NodeJS.ProcessEnv): AwsSessionValues {
  const { command } = context;
  const { instanceId, tags, name, streamEndpoint } = input;
  if (instanceId !== undefined && tags !== undefined) throw usageError(command, "give either --instance-id or --tag, not both");
  if (instanceId === undefined && tags === undefined) {
    throw new CredproxyError(ErrorCode.Usage, `${command}: no instance selected: give --instance-id ID or one or more --tag KEY=VALUE${context.from}`, { hint: context.missingInstanceHint });
  }
  if (instanceId !== undefined && !new RegExp(INSTANCE_ID_PATTERN).test(instanceId)) {
    throw usageError(command, `invalid --instance-id "${instanceId}" (an instance id such as i-0123456789abcdef0)`);
  }
  const region = awsRegion(input.region, env);
  if (!new RegExp(REGION_PATTERN).test(region)) throw usageError(command, `invalid region "${region}"${context.regionSource}; use a region name such as us-east-1`);
  if (name !== undefined && !new RegExp(TUNNEL_NAME_PATTERN).test(name)) throw usageError(command, `invalid --name "${name}" (letters, digits, _ . - and at most 64, starting with a letter or digit)`);
  const document = input.document ?? DEFAULT_DOCUMENT;
  if (!/^[A-Za-z0-9_.:/-]{3,128}$/.test(document)) throw usageError(command, `invalid --document "${document}" (a Session Manager document name such as AWS-StartSSHSession)`);
  if (streamEndpoint !== undefined && !new RegExp(STREAM_ENDPOINT_PATTERN).test(streamEndpoint)) {
    throw usageError(command, `invalid --stream-endpoint "${streamEndpoint}" (a host name or host:port such as ssm-stream.example.internal, without wss://)`);
  }
  const agentPort = integerFlag(command, "--agent-port", input.agentPortFlag, 1, 65535) ?? input.agentPort ?? DEFAULT_AGENT_PORT;
  return { instanceId, tags, region, profile: input.profile, document, streamEndpoint: streamEndpoint?.toLowerCase(), agentPort, name };
}

/** A whole-number flag within [min, max], or undefined when not given. */
export function integerFlag(command: string, flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw usageError(command, `invalid ${flag} "${text}" (a whole number from ${min} to ${max})`);
  return value;
}
