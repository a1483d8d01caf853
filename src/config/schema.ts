/**
 * The JSON Schema (draft-07) of the CredProxy-compatible config file: a superset of upstream
 * CredProxy's `config-schema.json` (reference/credproxy-compat.md §2). It is the one source of
 * truth for key names, types, ranges and defaults: the loader validates with it (ajv fills in the
 * `default`s), and `credproxy validate --print-schema` prints it for IDEs.
 *
 * Deliberate differences from upstream, each to accept configs upstream wrongly rejects or to
 * catch typos it silently ignores:
 * - regions and ARNs of the aws-cn, aws-us-gov and aws-iso(-b) partitions are accepted;
 * - profile names may contain dots; access key IDs may be 16..128 characters (AWS's own limits);
 * - `services: {}` is accepted when dynamic services are on, and `source_credentials` is optional;
 * - `DurationSeconds` defaults to 3600, not 900: 900 sits inside the SDKs' 15-minute refresh window;
 * - `metrics.prometheus.host` defaults to 127.0.0.1, not 0.0.0.0;
 * - unknown keys inside `assumed_role` are rejected (upstream drops them silently), except `x-*`;
 * - `x-*` keys are extensions at the top level (for YAML anchors), as upstream; inside
 *   `services` an `x-` name is a service, as upstream;
 * - the legacy dynamic-services forms the docs promise (`directory`, string `directories`) work.
 *
 * `x-expected` is an annotation of ours (registered with ajv as a vocabulary): the phrase an error
 * message uses to say what a value should look like. IDEs ignore it.
 */

import { extensionKeys, servicesSchema, sourceCredentials } from "./services-schema.ts";
import { taskMetadataSchema } from "./task-metadata-schema.ts";

const patternList = (description: string) =>
  ({ type: "array", description, items: { type: "string", minLength: 1, description: "A regular expression." } }) as const;

export const configSchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "urn:credproxy:schema:config",
  title: "credproxy config (CredProxy-compatible)",
  description:
    "Config of `credproxy serve`, compatible with CredProxy's. Any string may use ${fromEnv:NAME} and ${fromFile:/path}. Needs at least one service, or dynamic_services.enabled: true.",
  type: "object",
  additionalProperties: false,
  patternProperties: extensionKeys,
  properties: {
    $schema: { type: "string", description: "URL or path of this schema, for editors. Ignored by credproxy." },
    server: {
      type: "object",
      description: "The credentials endpoint listener.",
      default: {},
      additionalProperties: false,
      properties: {
        host: { type: "string", minLength: 1, default: "localhost", description: "Listen address. localhost means 127.0.0.1." },
        port: { type: "integer", minimum: 1, maximum: 65535, default: 1338, description: "Listen port." },
        debug: { type: "boolean", default: false, description: "Human-readable logs at debug level (same as --dev)." },
        log_health_checks: {
          type: "boolean",
          default: false,
          description: "Log each /health request. CREDPROXY_LOG_HEALTH_CHECKS=true also turns this on.",
        },
        user: {
          type: "string",
          pattern: "^(root|[0-9]{1,10}(:[0-9]{1,10})?)$",
          description:
            "credproxy extension, Linux: the uid:gid (numbers; a lone uid is also the gid) serve switches to after binding when started as root, keeping only CAP_NET_ADMIN for removing its ECS metadata addresses on exit. Default with ecs_metadata as root: 65532:65532. root (or 0) keeps root.",
          "x-expected": 'a uid:gid such as "65532:65532", a uid, or root',
        },
        health_details: {
          type: "string",
          enum: ["local", "public"],
          default: "local",
          description:
            "credproxy extension: who sees the per-service detail of /health (role ARNs, file paths, STS errors). local = loopback and this host's own addresses; other peers get only {status, services} with the same status code. public = everyone.",
          "x-expected": "local or public",
        },
        ecs_metadata: {
          type: ["boolean", "object"],
          default: false,
          description:
            "credproxy extension: add the ECS metadata address(es) to the loopback interface (Linux: through netlink, needs CAP_NET_ADMIN; macOS: ifconfig lo0 alias, needs root) and also serve on port 80 there, so no socat sidecar is needed. true = 169.254.170.2:80.",
          "x-expected": "true, false, or {addresses: [...], port: 80}",
          additionalProperties: false,
          properties: {
            addresses: {
              type: "array",
              minItems: 1,
              uniqueItems: true,
              default: ["169.254.170.2"],
              description: "Addresses to add to lo and listen on.",
              items: { type: "string", enum: ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"], "x-expected": "169.254.170.2, 169.254.170.23 or fd00:ec2::23" },
            },
            port: { type: "integer", minimum: 1, maximum: 65535, default: 80, description: "Port on those addresses (SDKs use 80)." },
          },
        },
        task_metadata: taskMetadataSchema,
      },
    },
    credentials: {
      type: "object",
      description: "How assumed-role credentials are refreshed.",
      default: {},
      additionalProperties: false,
      properties: {
        refresh_buffer_seconds: {
          type: "integer",
          minimum: 0,
          maximum: 3600,
          default: 300,
          description: "Refresh credentials this many seconds before they expire; served credentials always have at least this much life left.",
        },
        retry_delay: { type: "integer", minimum: 1, maximum: 300, default: 60, description: "Longest wait in seconds between retries after a failed refresh." },
        request_timeout: { type: "integer", minimum: 1, maximum: 300, default: 30, description: "Timeout in seconds of one STS or source-credentials call." },
      },
    },
    aws_defaults: {
      ...sourceCredentials("Source credentials every service starts from; a service's source_credentials override them."),
      default: {},
    },
    services: servicesSchema,
    dynamic_services: {
      type: "object",
      description:
        "Load more services from files in watched directories, without a restart. Files there are less trusted than this config: they cannot set sts_endpoint, iam_profile.config_file or credentials_file, are not substituted unless secrets_directory is set, and must belong to credproxy's user or root.",
      default: {},
      additionalProperties: false,
      properties: {
        enabled: { type: "boolean", default: false, description: "Watch the directories for service files." },
        directories: {
          type: "array",
          minItems: 1,
          description: "Directories to watch (not recursive). Default: [/credproxy/dynamic]. Items are objects, or (legacy) plain paths.",
          items: {
            type: ["object", "string"],
            description: "A directory: {path, include_patterns, exclude_patterns, secrets_directory, allow_group_writable}, or (legacy) just its path.",
            minLength: 1,
            required: ["path"],
            additionalProperties: false,
            properties: {
              path: { type: "string", minLength: 1, description: "Directory path." },
              include_patterns: { ...patternList("Load only files whose name matches one of these regular expressions (empty: all)."), default: [] },
              exclude_patterns: { ...patternList("Skip files whose name matches one of these regular expressions (checked first)."), default: [] },
              secrets_directory: {
                type: "string",
                minLength: 1,
                description:
                  "Turns on ${fromFile:...} in this directory's files, for files whose real path is inside this directory only (regular files, at most 64 KiB). Without it, files here are not substituted at all; ${fromEnv:...} is never allowed in dynamic files.",
              },
              allow_group_writable: {
                type: "boolean",
                default: false,
                description:
                  "Accept service files writable by their group. Files must belong to credproxy's user or root and are never accepted when writable by others.",
              },
            },
          },
        },
        directory: { type: "string", minLength: 1, description: "Legacy form: one directory to watch (same as directories: [path])." },
        file_pattern: { type: "string", minLength: 1, description: "Legacy form: a glob such as *.yaml that file names must match; applies to directory and plain-path directories." },
        include_patterns: patternList("Legacy form: include patterns for directory and plain-path directories."),
        exclude_patterns: patternList("Legacy form: exclude patterns for directory and plain-path directories."),
        reload_interval: { type: "integer", minimum: 1, maximum: 60, default: 5, description: "Seconds to wait after the last file change before reloading." },
        watcher_stop_timeout: { type: "number", minimum: 0, description: "Accepted for CredProxy compatibility and ignored." },
      },
    },
    metrics: {
      type: "object",
      description: "Prometheus metrics.",
      default: {},
      additionalProperties: false,
      properties: {
        prometheus: {
          type: "object",
          description: "Prometheus metrics. /metrics on the main port exists while enabled; this section also opens a separate listener.",
          additionalProperties: false,
          properties: {
            enabled: { type: "boolean", default: true, description: "Serve metrics. When false, /metrics answers 404 and no metrics listener opens." },
            host: { type: "string", minLength: 1, default: "127.0.0.1", description: "Address of the separate metrics listener (upstream's default was 0.0.0.0)." },
            port: { type: "integer", minimum: 1, maximum: 65535, default: 9090, description: "Port of the separate metrics listener; the same range as server.port (CredProxy allowed 1024 and up), and not server.port itself." },
          },
        },
      },
    },
  },
} as const;

/** The schema as pretty-printed JSON, for `credproxy validate --print-schema`. */
export function configSchemaJson(): string {
  return JSON.stringify(configSchema, null, 2) + "\n";
}
