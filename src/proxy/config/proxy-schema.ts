/**
 * The JSON Schemas (draft-07) of `credproxy proxy`'s config, proxy.yaml, and of the run files
 * in its runs_dir. Loaded by the same pipeline as every credproxy config (prepare-document.ts):
 * ${fromEnv:…}/${fromFile:…}, file:line:col, did-you-mean and every problem at once. What a
 * schema cannot say (host patterns, grant names, CIDRs, listen without a token) is checked by
 * load-proxy-config.ts and reported in the same list.
 */
import { extensionKeys, REGION_PATTERN, ROLE_ARN_PATTERN, sourceCredentials } from "../../config/services-schema.ts";

const stringList = (description: string, expected: string) =>
  ({ type: "array", description, items: { type: "string", "x-expected": expected }, default: [] }) as const;

const seconds = (description: string, fallback: number, minimum = 1) =>
  ({ type: "integer", description, minimum, maximum: 86_400, default: fallback }) as const;

const serveSource = sourceCredentials("").properties;

/** An `aws:` credential: the role whose credentials re-sign the sandbox's SigV4 requests. */
const awsRole = {
  type: "object",
  description:
    "Instead of value/command: re-sign AWS SigV4 requests to these hosts with this role's credentials (sts:AssumeRole, refreshed ahead of expiry). The sandbox holds only the placeholder keys `credproxy proxy env --aws` prints.",
  additionalProperties: false,
  patternProperties: extensionKeys,
  required: ["role_arn"],
  properties: {
    role_arn: {
      type: "string",
      description: "The role assumed, e.g. arn:aws:iam::123456789012:role/sandbox.",
      pattern: ROLE_ARN_PATTERN,
      "x-expected": "an IAM role ARN such as arn:aws:iam::123456789012:role/sandbox",
    },
    source: {
      description: "Where the credentials that assume the role come from, as in serve: default (the SDK's default chain), {iam_profile: {profile_name}} or {iam_keys: {aws_access_key_id, aws_secret_access_key}}.",
      default: "default",
      "x-expected": "default, {iam_profile: {profile_name: NAME}} or {iam_keys: {aws_access_key_id, aws_secret_access_key}}",
      anyOf: [
        { type: "string", enum: ["default"] },
        { type: "object", additionalProperties: false, patternProperties: extensionKeys, properties: { iam_profile: serveSource.iam_profile, iam_keys: serveSource.iam_keys } },
      ],
    },
    region: { type: "string", description: "Region of the STS calls (sts:AssumeRole). The requests re-signed keep the region the client signed for.", default: "us-east-1", pattern: REGION_PATTERN, "x-expected": serveSource.region["x-expected"] },
    sts_endpoint: { ...serveSource.sts_endpoint, description: "STS endpoint URL (a VPC endpoint, LocalStack or moto). Default: AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL, else the region's." },
    duration_seconds: { type: "integer", minimum: 900, maximum: 43_200, default: 3600, description: "Lifetime of the role's credentials (900..43200, at most the role's maximum session duration)." },
    session_name: { type: "string", pattern: "^[\\w+=,.@-]{2,64}$", default: "credproxy-proxy", description: "RoleSessionName, shown in CloudTrail and by GetCallerIdentity.", "x-expected": "2 to 64 letters, digits and + = , . @ _ -" },
    container_endpoint: {
      type: "boolean",
      default: false,
      description:
        "Also serve the role's credentials as ECS container credentials at GET /_credproxy/aws/credentials on the proxy port, to the run whose token is in Authorization (`credproxy proxy env --aws-endpoint`), for tools that cannot use placeholder keys. It puts the role's keys in the sandbox; at most one aws credential per run may set it.",
    },
  },
} as const;

/** `placeholder:` a literal, or a shape the proxy derives one from. */
const placeholderKey = {
  description:
    "The text the sandbox holds instead of the value: the proxy puts the value in its place in header values (Basic auth decoded and encoded again), the path and the query of requests to these hosts, and refuses (403, placeholder-wrong-host) a request carrying it to any other host. With it the credential sets no header; value is the secret itself (no \"Bearer \"). A literal (at least 16 letters, digits, - . _ ~), or {prefix, length} / {shape: jwt} for one derived from the run (stable across restarts, never from the value).",
  "x-expected": 'a literal such as "cpx_…" (16+ letters, digits, - . _ ~), {prefix: "sk-", length: 48} or {shape: jwt}',
  anyOf: [
    { type: "string" },
    {
      type: "object",
      additionalProperties: false,
      properties: {
        prefix: { type: "string", pattern: "^[A-Za-z0-9._~-]{0,64}$", description: "What the derived placeholder starts with, e.g. sk-ant- (letters, digits, - . _ ~). Default cpx_." },
        length: { type: "integer", minimum: 20, maximum: 512, description: "Its whole length, prefix included; at least 16 characters more than the prefix. Default 40 (or the prefix + 16)." },
        shape: { type: "string", enum: ["jwt"], description: "jwt: a well-formed JWT (HS256, exp in 2100) for tools that decode the token; not with prefix or length." },
      },
    },
  ],
} as const;

const credential = {
  type: "object",
  description: "One credential: where it may be sent, which header carries it, and where its value comes from (value or command), or an AWS role that re-signs requests (aws).",
  additionalProperties: false,
  patternProperties: extensionKeys,
  required: ["name", "host"],
  properties: {
    name: {
      type: "string",
      description: "Names the credential in logs and metrics (never its value).",
      pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
      "x-expected": "letters, digits, _ . - (at most 64)",
    },
    host: {
      description: "The host pattern(s) the credential may ever be sent to, in the syntax of allow. Nothing else receives it, whatever the policy allows.",
      anyOf: [{ type: "string" }, { type: "array", items: { type: "string" }, minItems: 1 }],
      "x-expected": "a host pattern such as api.github.com, or a list of them",
    },
    header: {
      type: "string",
      description: "The request header set to the value; every value the client sent for it is removed first.",
      pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
      default: "Authorization",
      "x-expected": "an HTTP header name",
    },
    value: { type: "string", description: 'The value, e.g. "Bearer ${fromEnv:GITHUB_TOKEN}". A ${fromFile:…} is read again when the file changes and after an upstream 401/403.' },
    command: {
      type: "array",
      description: "Instead of value: a program (argv, no shell) printing the value, or JSON {\"Value\": …, \"Expiration\": …} like credential_process; run when needed and cached until Expiration (else ttl_seconds).",
      items: { type: "string" },
      minItems: 1,
    },
    format: { type: "string", description: 'With command: how its output becomes the header value; {} is the output. Default "{}".', default: "{}" },
    ttl_seconds: seconds("With command: how long an output without Expiration is used.", 300),
    timeout_seconds: seconds("With command: how long it may run.", 10),
    aws: awsRole,
    placeholder: placeholderKey,
    require_placeholder: {
      type: "boolean",
      default: false,
      description: "With placeholder: refuse (403, placeholder-missing) a request to these hosts whose header is present but does not carry the placeholder, e.g. a real key the sandbox got hold of. A request without the header passes (git asks only after a 401).",
    },
    placeholder_in_body: {
      type: "boolean",
      default: false,
      description:
        "With placeholder: also replace it in JSON, form and text request bodies to these hosts (streamed; compressed bodies pass unchanged). Off by default: an API that stores what it is sent (issues, gists, chat messages) would store the real value, which the sandbox could then read back where responses are not scrubbed (another host, a compressed or binary download). Turn it on only for APIs that take the key in the body.",
    },
    env: {
      type: "string",
      pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
      description: "With placeholder: the variable `credproxy proxy env` prints the placeholder into, e.g. OPENAI_API_KEY.",
      "x-expected": "an environment variable name such as OPENAI_API_KEY",
    },
    allow_plaintext: { type: "boolean", description: "Also send it over plain http:// (default false: only inside TLS).", default: false },
  },
} as const;

/** An entry of relays: or mcp: (checked further by relay/relay-config.ts). */
const relayEntry = (what: string, example: string) =>
  ({
    type: "object",
    description: what,
    additionalProperties: false,
    patternProperties: extensionKeys,
    required: ["name", "url", "credential"],
    properties: {
      name: { type: "string", description: "The name in the proxy path the sandbox asks for.", pattern: "^[a-z0-9][a-z0-9-]{0,62}$", "x-expected": "lower-case letters, digits and - (at most 63)" },
      url: { type: "string", description: `Where requests go: http(s)://host[:port][/path], no userinfo, query or fragment, e.g. ${example}.`, "x-expected": "an http:// or https:// URL" },
      credential: { type: "string", description: "The name of a credential (value: or command:) in the same file, bound to the URL's host; it is injected into every request.", "x-expected": "a credential name" },
    },
  }) as const;

/** The keys a tenant has, in proxy.yaml (the default tenant) and in each run file. */
const tenantProperties = {
  policy: {
    type: "string",
    enum: ["strict", "permissive", "report"],
    default: "strict",
    description: "strict: only allow/grants hosts; permissive: every host but deny; report: like permissive, but logs and counts what strict would refuse.",
  },
  intercept: {
    type: "string",
    enum: ["credentialed", "all"],
    default: "credentialed",
    description: "credentialed: terminate TLS only for hosts a credential is bound to and tunnel the rest opaquely (pinned clients keep working); all: terminate every tunnel.",
  },
  allow: stringList("Host patterns strict allows: host, host:port, *.suffix (any depth, not the apex). Without a port: 80 and 443 only.", "a host pattern"),
  deny: stringList("Host patterns refused in every policy; deny wins over allow and grants. Without a port: every port.", "a host pattern"),
  grants: stringList("Named host sets added to allow (docs/proxy-grants.md): github, anthropic, openai, npm, pypi, docker-hub, …", "a grant name"),
  allow_addresses: stringList("Addresses (CIDR) that may be dialled although they are loopback, private or link-local, e.g. 127.0.0.1/32.", "an address or CIDR such as 10.0.0.0/8"),
  credentials: { type: "array", description: "The credentials injected, each bound to its hosts.", items: credential, default: [] },
  relays: {
    type: "array",
    description: "http://PROXY/relay/NAME/PATH?QUERY is forwarded to URL/PATH?QUERY with the credential injected: for hosts the sandbox reaches around the proxy (NO_PROXY, loopback). The request carries the run token (X-Credproxy-Token, or /relay/TOKEN/NAME/…) when the proxy needs one.",
    items: relayEntry("One relay: a name, the URL it forwards to, and the credential injected.", "http://127.0.0.1:4000/v1"),
    default: [],
  },
  mcp: {
    type: "array",
    description: "Remote MCP servers (streamable HTTP, or the older SSE transport) at http://PROXY/mcp/NAME, the credential injected upstream, streams passed on event by event: for MCP clients that ignore HTTP_PROXY. The run token goes in X-Credproxy-Token or the path (/mcp/TOKEN/NAME) when the proxy needs one.",
    items: relayEntry("One MCP server: a name, its URL (the streamable HTTP endpoint, or the SSE endpoint), and the credential injected.", "https://mcp.example.com/mcp"),
    default: [],
  },
} as const;

export const proxyConfigSchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "urn:credproxy:schema:proxy",
  title: "credproxy proxy config",
  description: "The config of `credproxy proxy`, a credential-injecting forward proxy for sandboxes. Any string may use ${fromEnv:NAME} and ${fromFile:/path}.",
  type: "object",
  additionalProperties: false,
  patternProperties: extensionKeys,
  properties: {
    $schema: { type: "string", description: "URL or path of this schema, for editors. Ignored by credproxy." },
    listen: {
      type: "object",
      description: "Where the proxy listens (--listen HOST:PORT wins).",
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: "string", description: "Address to bind. A non-loopback one needs runs_dir or token.", default: "127.0.0.1" },
        port: { type: "integer", minimum: 0, maximum: 65_535, description: "Port; 0 picks a free one (printed at start).", default: 3128 },
      },
    },
    tls: {
      type: "object",
      description: "Interception: the CA leaf certificates are signed with, and the roots upstreams are checked against.",
      additionalProperties: false,
      default: {},
      properties: {
        ca_cert: { type: "string", description: "PEM CA certificate (with ca_key). Both absent: a CA is generated once in ca_dir." },
        ca_key: { type: "string", description: "PEM private key of ca_cert (PKCS#8, PKCS#1 or SEC1)." },
        ca_dir: { type: "string", description: "Where a generated CA is kept. Default $XDG_CONFIG_HOME/credproxy/proxy-ca (else ~/.config/credproxy/proxy-ca)." },
        trust_bundle: {
          type: "string",
          description: "Where to write the sandbox trust bundle (the CA + the public roots, no key). Default trust-bundle.pem in ca_dir; set it to share the bundle without sharing the CA's directory.",
        },
        upstream_ca_bundle: { type: "string", description: "Extra PEM roots for upstreams, used beside the system roots." },
        name_constraints: {
          type: "string",
          enum: ["auto", "off"],
          default: "off",
          description: "auto: a generated CA may only sign for the hosts credentials are bound to (X.509 NameConstraints), so a leaked CA key is worth little.",
        },
        leaf_validity_days: { type: "integer", minimum: 3, maximum: 99, default: 99, description: "Days a minted leaf certificate is valid (backdated one day)." },
      },
    },
    ...tenantProperties,
    token: { type: "string", description: "Without runs_dir: the token every client must send (proxy URL userinfo or Proxy-Authorization: Bearer)." },
    runs_dir: { type: "string", description: "One file per run (tenant), NAME.yaml, each with its own token, policy and credentials; added, edited and removed without restart." },
    upstream_proxy: {
      type: "string",
      description: "Send upstream traffic through this proxy (http://[user:pass@]host:port), or none. Default: HTTPS_PROXY/HTTP_PROXY/NO_PROXY from the environment.",
      "x-expected": "an http:// proxy URL, or none",
    },
    no_proxy: stringList("With upstream_proxy: hosts reached directly (NO_PROXY syntax).", "a host or .suffix"),
    limits: {
      type: "object",
      description: "Limits that keep one client from exhausting the proxy.",
      additionalProperties: false,
      default: {},
      properties: {
        max_connections: { type: "integer", minimum: 1, maximum: 1_000_000, default: 1024, description: "Client connections at once; one more is answered 503." },
        max_header_bytes: { type: "integer", minimum: 1024, maximum: 1_048_576, default: 65_536, description: "Bytes of a request head; more is 431." },
        tls_handshake_timeout_seconds: seconds("A client's TLS handshake inside a tunnel.", 10),
        idle_timeout_seconds: seconds("A connection with nothing in flight is closed after this.", 120),
        connect_timeout_seconds: seconds("Dialling an upstream (TCP and TLS); then 504.", 10),
        response_head_timeout_seconds: seconds("Waiting for an upstream's response head; at least 300, as model APIs may think for minutes.", 300, 300),
      },
    },
    log_level: { type: "string", enum: ["debug", "info", "warn", "warning", "error"], description: "Log level (--log-level wins). Default info." },
    metrics: {
      type: "object",
      additionalProperties: false,
      default: {},
      description: "Prometheus metrics at GET /_credproxy/metrics on the proxy port.",
      properties: { enabled: { type: "boolean", default: true, description: "Serve /_credproxy/metrics." } },
    },
  },
} as const;

export const proxyRunSchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "urn:credproxy:schema:proxy-run",
  title: "credproxy proxy run file",
  description: "One run (tenant) of `credproxy proxy`, a file in runs_dir: its token, policy and credentials. Runs share nothing with each other or with proxy.yaml.",
  type: "object",
  additionalProperties: false,
  patternProperties: extensionKeys,
  required: ["token"],
  properties: {
    $schema: { type: "string", description: "URL or path of this schema, for editors. Ignored by credproxy." },
    token: { type: "string", description: "The run's token: the sandbox sends it as the proxy URL's password. At least 22 random characters." },
    ...tenantProperties,
  },
} as const;
