/**
 * The JSON Schema (draft-07) of a tunnel file, `credproxy tunnel up --config FILE`: the same
 * settings as the flags, which win over the file (a repeatable flag such as --cidr replaces the
 * whole list). Loaded by the pipeline every credproxy config uses (prepare-document.ts), so
 * ${fromEnv:…}/${fromFile:…}, file:line:col and did-you-mean work alike; what the schema
 * cannot say (CIDRs that parse, instance_id or tags) is checked in load-tunnel-config.ts.
 */
import { extensionKeys, REGION_PATTERN } from "../config/services-schema.ts";
import { STREAM_ENDPOINT_PATTERN } from "../ssm/stream-url.ts";

export const DEFAULT_DOCUMENT = "AWS-StartSSHSession";
/** The fallback when a policy allows only port forwarding: the session runs in smux mode. */
export const PORT_FORWARDING_DOCUMENT = "AWS-StartPortForwardingSession";
export const DEFAULT_AGENT_PORT = 7860;
export const INSTANCE_ID_PATTERN = "^(i|mi)-[0-9a-f]{8,17}$";
/** `--sessions`: at most this many striped sessions (the live set travels as a bit mask, and each costs an SSM session). */
export const MAX_SESSIONS = 8;
export const TUNNEL_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$";

export const tunnelConfigSchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "urn:credproxy:schema:tunnel",
  title: "credproxy tunnel config",
  description: "The settings of `credproxy tunnel up --config FILE`; command-line flags win. Any string may use ${fromEnv:NAME} and ${fromFile:/path}.",
  type: "object",
  additionalProperties: false,
  patternProperties: extensionKeys,
  properties: {
    $schema: { type: "string", description: "URL or path of this schema, for editors. Ignored by credproxy." },
    cidrs: {
      type: "array",
      description: "The CIDRs routed through the tunnel (--cidr), e.g. [10.20.0.0/16].",
      items: { type: "string", "x-expected": "a CIDR such as 10.20.0.0/16" },
      minItems: 1,
    },
    instance_id: {
      type: "string",
      description: "The EC2 instance the tunnel goes through (--instance-id). Give this or tags.",
      pattern: INSTANCE_ID_PATTERN,
      "x-expected": "an instance id such as i-0123456789abcdef0",
    },
    tags: {
      type: "object",
      description: "Pick the one running instance with all these tags (--tag KEY=VALUE); EC2's * and ? wildcards work in values.",
      additionalProperties: { type: "string" },
      minProperties: 1,
    },
    region: { type: "string", description: "The instance's region (--region). Default: $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1.", pattern: REGION_PATTERN, "x-expected": "an AWS region such as us-east-1" },
    profile: {
      type: "string",
      description: "Source credentials from this profile of ~/.aws/config (--profile). Default: the AWS SDK default chain.",
      pattern: "^[\\w.@+:/-]+$",
      "x-expected": "a profile name from ~/.aws/config",
    },
    document: {
      type: "string",
      description: "The Session Manager document of the Port session (--document). Default AWS-StartSSHSession.",
      pattern: "^[A-Za-z0-9_.:/-]{3,128}$",
      "x-expected": "a document name such as AWS-StartSSHSession",
    },
    stream_endpoint: {
      type: "string",
      description: "One more host (host or host:port) whose wss:// session streams are accepted besides the ssmmessages hosts (--stream-endpoint).",
      pattern: STREAM_ENDPOINT_PATTERN,
      "x-expected": "a host name or host:port, without wss://",
    },
    agent_port: { type: "integer", description: "The port `credproxy agent` listens on, on the instance (--agent-port). Default 7860.", minimum: 1, maximum: 65535 },
    name: {
      type: "string",
      description: "Names the tunnel for status and down (--name). Default: the instance id.",
      pattern: TUNNEL_NAME_PATTERN,
      "x-expected": "letters, digits, _ . - (at most 64)",
    },
    mtu: { type: "integer", description: "The TUN device's MTU (--mtu); the agent may lower it. Default 1400.", minimum: 576, maximum: 65535 },
    dns: {
      type: "array",
      description: "DNS zones resolved through the tunnel by the VPC's resolver (--dns), e.g. [internal.corp, compute.internal]; other names are untouched.",
      items: { type: "string", "x-expected": "a DNS zone such as internal.corp" },
      minItems: 1,
    },
    dns_mode: {
      type: "string",
      description: "How the system is pointed at the tunnel for the dns zones (--dns-mode): auto (systemd-resolved if it runs, else local; /etc/resolver on macOS), resolved, or local (a resolver on the tunnel address). Default auto.",
      enum: ["auto", "resolved", "local"],
    },
    sessions: {
      type: "integer",
      description: "Port sessions to open to the agent, striped by flow (--sessions): N sessions carry about N times one session's throughput for N parallel flows. Default 1.",
      minimum: 1,
      maximum: MAX_SESSIONS,
    },
  },
} as const;
