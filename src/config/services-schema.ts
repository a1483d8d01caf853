/**
 * The parts of the config schema that describe services: shared by the main config
 * (schema.ts) and dynamic service files, which hold the same `services:` map.
 * See schema.ts for the deliberate differences from upstream CredProxy's schema.
 */

const PARTITION = "aws(-cn|-us-gov|-iso|-iso-b)?";
const NAME_CHARS = "[\\w+=,.@-]";

/** An IAM role ARN: any partition, optional path. Shared with the broker config (broker-schema.ts). */
export const ROLE_ARN_PATTERN = `^arn:${PARTITION}:iam::\\d{12}:role/(${NAME_CHARS}+/)*${NAME_CHARS}{1,64}$`;
/** An AWS region name in any partition. */
export const REGION_PATTERN = "^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\\d+$";
/** An MFA device serial number or ARN. */
export const MFA_SERIAL_PATTERN = "^[\\w+=/:,.@-]{9,256}$";

/** `x-*` keys: allowed and ignored, so YAML anchors and notes can live next to the real keys. */
export const extensionKeys = {
  "^x-": { description: "Extension key: accepted and ignored (useful for YAML anchors and notes)." },
} as const;

export const sourceCredentials = (description: string) =>
  ({
    type: "object",
    description,
    additionalProperties: false,
    patternProperties: extensionKeys,
    properties: {
      region: {
        type: "string",
        description: "AWS region used for STS, e.g. us-east-1, eu-west-1, cn-north-1, us-gov-west-1 or us-iso-east-1.",
        pattern: REGION_PATTERN,
        "x-expected": "an AWS region such as us-east-1, cn-north-1 or us-gov-west-1",
      },
      sts_endpoint: {
        type: "string",
        description:
          "STS endpoint URL override (credproxy extension), e.g. a VPC endpoint or a local fake. Without it, AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL from the environment apply.",
        pattern: "^https?://[^\\s/?#]+\\S*$",
        "x-expected": "an http:// or https:// URL",
      },
      iam_profile: {
        type: "object",
        description: "Take the source credentials from a named profile of the shared AWS config files. Use either iam_profile or iam_keys, not both.",
        required: ["profile_name"],
        additionalProperties: false,
        patternProperties: extensionKeys,
        properties: {
          profile_name: {
            type: "string",
            description: "Profile name as in ~/.aws/config (`[profile NAME]`) or ~/.aws/credentials (`[NAME]`). Dots are allowed.",
            pattern: "^[\\w.@+:/-]+$",
            "x-expected": "a profile name made of letters, digits and . _ - @ + : /",
          },
          config_file: { type: "string", minLength: 1, description: "Path of the shared config file to read instead of ~/.aws/config (AWS_CONFIG_FILE)." },
          credentials_file: {
            type: "string",
            minLength: 1,
            description: "Path of the shared credentials file to read instead of ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE). credproxy extension.",
          },
        },
      },
      iam_keys: {
        type: "object",
        description: "Static IAM access keys used as source credentials. Prefer ${fromFile:...} or ${fromEnv:...} over literal secrets. Use either iam_keys or iam_profile, not both.",
        required: ["aws_access_key_id", "aws_secret_access_key"],
        additionalProperties: false,
        patternProperties: extensionKeys,
        properties: {
          aws_access_key_id: {
            type: "string",
            description: "Access key ID, e.g. AKIAIOSFODNN7EXAMPLE.",
            pattern: "^[A-Z0-9]{16,128}$",
            "x-expected": "16 to 128 upper-case letters and digits, like AKIAIOSFODNN7EXAMPLE",
          },
          aws_secret_access_key: {
            type: "string",
            description: "Secret access key. Never logged.",
            pattern: "^\\S+$",
            "x-expected": "a non-empty secret key without spaces or line breaks",
          },
          session_token: {
            type: "string",
            description: "Session token, for temporary source credentials. Never logged.",
            pattern: "^\\S+$",
            "x-expected": "a non-empty token without spaces or line breaks",
          },
        },
      },
    },
  }) as const;

const assumedRole = {
  type: "object",
  description: "Parameters of the sts:AssumeRole call made for this service, spelled as the STS API spells them.",
  required: ["RoleArn"],
  additionalProperties: false,
  patternProperties: extensionKeys,
  properties: {
    RoleArn: {
      type: "string",
      description: "ARN of the role to assume, e.g. arn:aws:iam::123456789012:role/MyRole. Role paths and the aws-cn, aws-us-gov, aws-iso and aws-iso-b partitions are accepted.",
      pattern: ROLE_ARN_PATTERN,
      "x-expected": "an IAM role ARN such as arn:aws:iam::123456789012:role/MyRole",
    },
    RoleSessionName: {
      type: "string",
      description: "Session name recorded in CloudTrail and shown by GetCallerIdentity.",
      default: "credproxy",
      pattern: `^${NAME_CHARS}{2,64}$`,
      "x-expected": "2 to 64 letters, digits and + = , . @ _ -",
    },
    DurationSeconds: {
      type: "integer",
      description: "Lifetime of the assumed-role credentials in seconds (900..43200, and at most the role's maximum session duration). Default 3600; upstream CredProxy's 900 makes SDKs refetch on nearly every call.",
      default: 3600,
      minimum: 900,
      maximum: 43200,
    },
    ExternalId: {
      type: "string",
      description: "External ID the role's trust policy requires.",
      pattern: "^[\\w+=,.@:/-]{2,1224}$",
      "x-expected": "2 to 1224 letters, digits and + = , . @ : / _ -",
    },
    Policy: { type: "string", minLength: 1, description: "Inline session policy, as a JSON document in a string (e.g. with `Policy: |`)." },
    PolicyArns: {
      type: "array",
      description: "Managed session policies (at most 10).",
      maxItems: 10,
      items: {
        type: "object",
        required: ["arn"],
        additionalProperties: false,
        description: "One managed policy.",
        properties: {
          arn: {
            type: "string",
            description: "Policy ARN, e.g. arn:aws:iam::aws:policy/ReadOnlyAccess.",
            pattern: `^arn:${PARTITION}:iam::(\\d{12}|aws):policy/(${NAME_CHARS}+/)*${NAME_CHARS}+$`,
            "x-expected": "an IAM policy ARN such as arn:aws:iam::aws:policy/ReadOnlyAccess",
          },
        },
      },
    },
    Tags: {
      type: "array",
      description: "Session tags (at most 50).",
      maxItems: 50,
      items: {
        type: "object",
        required: ["Key", "Value"],
        additionalProperties: false,
        description: "One session tag.",
        properties: {
          Key: { type: "string", minLength: 1, maxLength: 128, description: "Tag key." },
          Value: { type: "string", maxLength: 256, description: "Tag value (always a string, even if it looks like a number)." },
        },
      },
    },
    TransitiveTagKeys: {
      type: "array",
      description: "Keys of session tags that pass on to roles chained from this session.",
      maxItems: 50,
      items: { type: "string", minLength: 1, description: "A key listed in Tags." },
    },
    SerialNumber: {
      type: "string",
      description: "MFA device serial number or ARN.",
      pattern: MFA_SERIAL_PATTERN,
      "x-expected": "an MFA serial number or ARN (9 to 256 characters)",
    },
    TokenCode: {
      type: "string",
      description: "MFA code. Static, so only useful for short tests. Never logged.",
      pattern: "^\\d{6}$",
      "x-expected": "exactly six digits",
    },
    SourceIdentity: {
      type: "string",
      description: "Source identity recorded in CloudTrail.",
      pattern: `^${NAME_CHARS}{2,64}$`,
      "x-expected": "2 to 64 letters, digits and + = , . @ _ -",
    },
  },
} as const;

const service = {
  type: "object",
  description: "One service: the token (or relative URI) that selects it and the role it gets.",
  required: ["assumed_role"],
  additionalProperties: false,
  patternProperties: extensionKeys,
  properties: {
    auth_token: {
      type: "string",
      minLength: 1,
      description:
        "The exact Authorization header value that selects this service. Must be unique across services. Prefer ${fromFile:...}. Never logged. Required unless relative_uri is set.",
    },
    relative_uri: {
      type: "string",
      description:
        "credproxy extension: a path such as /v2/credentials/<random id> that selects this service without a token, for AWS_CONTAINER_CREDENTIALS_RELATIVE_URI as on ECS. The path is the secret: it needs a segment of at least 22 random URL-safe characters (128 bits). Never logged.",
      pattern: "^/[A-Za-z0-9._~/-]+$",
      "x-expected": "a path starting with / made of letters, digits and . _ ~ / -",
    },
    source_credentials: {
      ...sourceCredentials("Source credentials for this service; overrides aws_defaults (region and sts_endpoint key by key, iam_profile/iam_keys as a whole)."),
      default: {},
    },
    assumed_role: assumedRole,
  },
} as const;

/** The `services:` map, shared by the main config and dynamic service files. */
export const servicesSchema = {
  type: "object",
  description: "Services by name (letters, digits, _ and -). As in CredProxy, a name starting with x- is a service too; extension keys belong at the top level.",
  "x-expected": "a services: map of name → {auth_token or relative_uri, source_credentials, assumed_role}, as in the main config",
  additionalProperties: false,
  patternProperties: { "^[a-zA-Z0-9_-]+$": service },
} as const;

/** The top level of a dynamic service file: the same `services:` map, nothing else but `x-*`. */
export const servicesFileSchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "urn:credproxy:schema:services-file",
  title: "credproxy dynamic service file",
  description: "A file of dynamic services: a services map shaped like the main config's.",
  type: "object",
  required: ["services"],
  additionalProperties: false,
  patternProperties: extensionKeys,
  properties: {
    $schema: { type: "string", description: "URL or path of a schema, for editors. Ignored by credproxy." },
    services: servicesSchema,
  },
} as const;
