/**
 * The JSON Schema (draft-07) of the broker config file, `~/.config/credproxy/broker.yaml`: the
 * settings a developer would otherwise repeat on every `credproxy broker …` command line. Every
 * key is optional and a flag given on the command line wins over it (a repeatable flag such as
 * --allow-role replaces the whole list). Loaded by the same pipeline as the serve config
 * (load-broker-config.ts), so ${fromEnv:…}/${fromFile:…}, line numbers and did-you-mean work alike.
 */
import { extensionKeys, MFA_SERIAL_PATTERN, REGION_PATTERN, ROLE_ARN_PATTERN } from "./services-schema.ts";

export const BROKER_MIN_DURATION = 900;
export const BROKER_MAX_DURATION = 43_200;

const roleArn = (description: string) =>
  ({ type: "string", description, pattern: ROLE_ARN_PATTERN, "x-expected": "an IAM role ARN such as arn:aws:iam::123456789012:role/dev" }) as const;

export const brokerConfigSchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "urn:credproxy:schema:broker",
  title: "credproxy broker config",
  description:
    "Defaults for every `credproxy broker` command (exec, serve, credential-process, imds). Every key is optional; command-line flags win. Any string may use ${fromEnv:NAME} and ${fromFile:/path}.",
  type: "object",
  additionalProperties: false,
  patternProperties: extensionKeys,
  properties: {
    $schema: { type: "string", description: "URL or path of this schema, for editors. Ignored by credproxy." },
    profile: {
      type: "string",
      description: "Source credentials from this profile of ~/.aws/config (--profile). Default: the AWS SDK default chain.",
      pattern: "^[\\w.@+:/-]+$",
      "x-expected": "a profile name from ~/.aws/config",
    },
    role_arn: roleArn("The role the broker serves at / (--role-arn). Default: a short-lived session of the source identity."),
    region: {
      type: "string",
      description: "Region for STS, for exec's command and IMDS placement (--region). Default: $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1.",
      pattern: REGION_PATTERN,
      "x-expected": "an AWS region such as us-east-1",
    },
    duration_seconds: {
      type: "integer",
      minimum: BROKER_MIN_DURATION,
      maximum: BROKER_MAX_DURATION,
      description: "Lifetime of each role session in seconds (--duration). Default 3600; the role's MaxSessionDuration may be lower.",
    },
    mfa_serial: {
      type: "string",
      description: "MFA device for a GetSessionToken session used as the source (--mfa-serial). Default: the source profile's mfa_serial.",
      pattern: MFA_SERIAL_PATTERN,
      "x-expected": "an MFA device ARN such as arn:aws:iam::123456789012:mfa/alice",
    },
    allow_roles: {
      type: "array",
      description: "Role ARNs that GET /role-arn/<ARN> may assume with the source credentials (--allow-role). * matches within one path segment (never /), ** across segments; * alone is any role. Default: none.",
      items: {
        type: "string",
        pattern: "^(arn:\\S+|\\*)$",
        "x-expected": "a role ARN pattern such as arn:aws:iam::123456789012:role/dev-*",
      },
    },
    log_level: {
      type: "string",
      enum: ["debug", "info", "warn", "warning", "error"],
      description: "Log level (--log-level, $CREDPROXY_LOG_LEVEL); warning means warn, as for the flag. Default: warn for exec, info otherwise.",
    },
    socket: {
      type: "object",
      description: "`broker serve` and `broker credential-process`: the unix socket and who may use it.",
      additionalProperties: false,
      patternProperties: extensionKeys,
      properties: {
        path: {
          type: "string",
          minLength: 1,
          pattern: "^(?!~(?!/))",
          "x-expected": "an absolute path, ~/path, or a path relative to this file (~user is not supported)",
          description: "The socket (--socket); ~/ is the home directory, and another relative path is taken from this file's directory. Default: $XDG_RUNTIME_DIR/credproxy/broker.sock, else <tmpdir>/credproxy-<uid>/broker.sock.",
        },
        allow_uids: {
          type: "array",
          description: "Users (numeric uids) that may connect (--allow-uid). Default: the broker's own uid only.",
          items: { type: "integer", minimum: 0, maximum: 4294967294 },
        },
        allow_exes: {
          type: "array",
          description: "Serve only processes running one of these programs (--allow-exe); absolute paths, symlinks resolved.",
          items: { type: "string", pattern: "^/", "x-expected": "an absolute path such as /usr/bin/python3" },
        },
      },
    },
    imds: {
      type: "object",
      description: "`broker imds` and `broker exec --imds`: the EC2 instance metadata emulation.",
      additionalProperties: false,
      patternProperties: extensionKeys,
      properties: {
        address: { type: "string", minLength: 1, description: "The address to own on the loopback interface (--address). Default: 169.254.169.254." },
        port: { type: "integer", minimum: 1, maximum: 65535, description: "Port on that address (--port). Default: 80." },
        v1: { type: "boolean", description: "Also answer requests without a session token, IMDSv1 (--imds-v1). Default: false." },
      },
    },
    exec: {
      type: "object",
      description: "`broker exec` only. (--imds is not offered here: IMDS has no token, so any local process could read the credentials; ask for it on the command line each time.)",
      additionalProperties: false,
      patternProperties: extensionKeys,
      properties: {
        isolate_shared_files: {
          type: "boolean",
          description: "Give the command AWS_SHARED_CREDENTIALS_FILE=/dev/null and AWS_CONFIG_FILE=/dev/null (--isolate-shared-files). Default: false.",
        },
      },
    },
  },
} as const;
