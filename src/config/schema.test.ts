import { describe, expect, test } from "bun:test";
import { ErrorCode } from "../errors.ts";
import { configSchema, configSchemaJson } from "./schema.ts";
import { load, ROLE_ARN, thrown } from "./testing.ts";

type Json = Record<string, any>;

/** A valid config as data (JSON is YAML), changed by `edit` before loading. */
function loadWith(edit: (config: Json) => void) {
  const config: Json = { aws_defaults: { region: "us-east-1" }, services: { app: { auth_token: "app-token-9Qm4Xr7Lz2Wk8Vn5B", assumed_role: { RoleArn: ROLE_ARN } } } };
  edit(config);
  return load(JSON.stringify(config));
}
const app = (c: Json): Json => c.services.app;
const role = (c: Json): Json => c.services.app.assumed_role;

function accepts(what: string, edit: (c: Json) => void) {
  test(`accepts ${what}`, () => {
    expect(() => loadWith(edit)).not.toThrow();
  });
}
function rejects(what: string, edit: (c: Json) => void, message: string) {
  test(`rejects ${what}`, () => {
    expect(thrown(() => loadWith(edit), ErrorCode.ConfigInvalid).message).toContain(message);
  });
}

describe("regions", () => {
  for (const region of ["us-east-1", "eu-central-2", "ap-southeast-4", "il-central-1", "cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-gov-east-1", "us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1"]) {
    accepts(`the region ${region}`, (c) => (c.aws_defaults.region = region));
  }
  for (const region of ["us-east", "US-EAST-1", "useast1", "global", "us-east-1a"]) {
    rejects(`the region ${region}`, (c) => (c.aws_defaults.region = region), "aws_defaults.region: must be an AWS region");
  }
});

describe("RoleArn", () => {
  for (const arn of ["arn:aws-cn:iam::123456789012:role/App", "arn:aws-us-gov:iam::123456789012:role/App", "arn:aws-iso:iam::123456789012:role/App", "arn:aws-iso-b:iam::123456789012:role/App", "arn:aws:iam::123456789012:role/team/sub/App", "arn:aws:iam::123456789012:role/a+b=c,d.e@f_g-h"]) {
    accepts(arn, (c) => (role(c).RoleArn = arn));
  }
  for (const arn of ["arn:aws-foo:iam::123456789012:role/App", "arn:aws:iam::12345678901:role/App", "arn:aws:iam::123456789012:user/App", "arn:aws:s3:::bucket", "arn:aws:iam::123456789012:role/", "arn:aws:iam::123456789012:role/with space"]) {
    rejects(arn, (c) => (role(c).RoleArn = arn), "services.app.assumed_role.RoleArn: must be an IAM role ARN");
  }
});

describe("assumed_role parameters", () => {
  accepts("DurationSeconds 900 and 43200", (c) => ((role(c).DurationSeconds = 900), (c.services.b = { auth_token: "b-9Qm4Xr7Lz2Wk8Vn5B", assumed_role: { RoleArn: ROLE_ARN, DurationSeconds: 43200 } })));
  rejects("DurationSeconds 899", (c) => (role(c).DurationSeconds = 899), "DurationSeconds: must be from 900 to 43200; current value is 899");
  rejects("DurationSeconds 43201", (c) => (role(c).DurationSeconds = 43201), "must be from 900 to 43200");
  rejects("a fractional DurationSeconds", (c) => (role(c).DurationSeconds = "1000.5"), "DurationSeconds: must be a whole number");
  accepts("a 64-character RoleSessionName", (c) => (role(c).RoleSessionName = "s".repeat(64)));
  rejects("a one-character RoleSessionName", (c) => (role(c).RoleSessionName = "s"), "RoleSessionName: must be 2 to 64 letters");
  rejects("a 65-character RoleSessionName", (c) => (role(c).RoleSessionName = "s".repeat(65)), "RoleSessionName: must be 2 to 64");
  rejects("a RoleSessionName with a space", (c) => (role(c).RoleSessionName = "my session"), "RoleSessionName");
  accepts("an ExternalId with a colon", (c) => (role(c).ExternalId = "tenant:42"));
  rejects("an ExternalId with a space", (c) => (role(c).ExternalId = "tenant 42"), "ExternalId: must be 2 to 1224");
  accepts("a six-digit TokenCode with its SerialNumber", (c) => Object.assign(role(c), { TokenCode: "012345", SerialNumber: "arn:aws:iam::123456789012:mfa/me" }));
  rejects("a five-digit TokenCode", (c) => (role(c).TokenCode = "12345"), "TokenCode: must be exactly six digits");
  rejects("a short SerialNumber", (c) => (role(c).SerialNumber = "abc"), "SerialNumber: must be an MFA serial number");
  rejects("a SourceIdentity with a slash", (c) => (role(c).SourceIdentity = "a/b"), "SourceIdentity: must be 2 to 64");
  accepts("managed policy ARNs of AWS and of an account", (c) => (role(c).PolicyArns = [{ arn: "arn:aws:iam::aws:policy/ReadOnlyAccess" }, { arn: "arn:aws-cn:iam::123456789012:policy/path/Mine" }]));
  rejects("a role ARN given as a policy ARN", (c) => (role(c).PolicyArns = [{ arn: ROLE_ARN }]), "PolicyArns[0].arn: must be an IAM policy ARN");
  rejects("more than 10 policy ARNs", (c) => (role(c).PolicyArns = Array(11).fill({ arn: "arn:aws:iam::aws:policy/ReadOnlyAccess" })), "PolicyArns: must list at most 10 items");
  rejects("a tag without a Value", (c) => (role(c).Tags = [{ Key: "team" }]), "Tags[0].Value: is required");
  rejects("Policy written as a mapping", (c) => (role(c).Policy = { Version: "2012-10-17" }), "Policy: must be a string");
  rejects("an unknown key, suggesting the right spelling", (c) => (role(c).RoleARN = "x"), 'services.app.assumed_role.RoleARN: unknown key; did you mean "RoleArn"?');
  accepts("x- keys", (c) => (role(c)["x-reviewed-by"] = "me"));
});

describe("source credentials", () => {
  for (const name of ["default", "my.profile", "team.prod-admin", "sso_user@corp"]) {
    accepts(`the profile name ${name}`, (c) => (app(c).source_credentials = { iam_profile: { profile_name: name, config_file: "/x/config", credentials_file: "/x/credentials" } }));
  }
  rejects("a profile name with a space", (c) => (app(c).source_credentials = { iam_profile: { profile_name: "my profile" } }), "profile_name: must be a profile name");
  rejects("an iam_profile without profile_name", (c) => (c.aws_defaults.iam_profile = {}), "aws_defaults.iam_profile.profile_name: is required");
  const keys = (id: string, secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") => ({ iam_keys: { aws_access_key_id: id, aws_secret_access_key: secret } });
  accepts("a 16-character access key ID", (c) => (app(c).source_credentials = keys("AKIA567890123456")));
  accepts("a 128-character access key ID", (c) => (app(c).source_credentials = keys("A".repeat(128))));
  rejects("a 15-character access key ID", (c) => (app(c).source_credentials = keys("AKIA56789012345")), "aws_access_key_id: must be 16 to 128 upper-case");
  rejects("a lower-case access key ID", (c) => (app(c).source_credentials = keys("akiaiosfodnn7example")), "aws_access_key_id");
  rejects("a secret key with a space", (c) => (app(c).source_credentials = keys("AKIAIOSFODNN7EXAMPLE", "abc def")), "aws_secret_access_key: must be a non-empty secret key without spaces");
  rejects("an empty secret key", (c) => (app(c).source_credentials = keys("AKIAIOSFODNN7EXAMPLE", "")), "aws_secret_access_key");
  rejects("iam_keys without the secret", (c) => (app(c).source_credentials = { iam_keys: { aws_access_key_id: "AKIAIOSFODNN7EXAMPLE" } }), "iam_keys.aws_secret_access_key: is required");
  accepts("an https STS endpoint", (c) => (c.aws_defaults.sts_endpoint = "https://sts.us-east-1.amazonaws.com"));
  accepts("an http STS endpoint with a port", (c) => (app(c).source_credentials = { sts_endpoint: "http://127.0.0.1:5000/" }));
  rejects("an STS endpoint without a scheme", (c) => (c.aws_defaults.sts_endpoint = "sts.amazonaws.com"), "sts_endpoint: must be an http:// or https:// URL");
  accepts("x- keys in source_credentials, iam_profile and iam_keys, as CredProxy does", (c) => {
    c.aws_defaults["x-note"] = "n";
    app(c).source_credentials = { "x-note": "n", iam_profile: { profile_name: "p", "x-note": "n" } };
  });
});

describe("services", () => {
  accepts("names with letters, digits, _ and -", (c) => (c.services["App_2-b"] = { auth_token: "b-9Qm4Xr7Lz2Wk8Vn5B", assumed_role: { RoleArn: ROLE_ARN } }));
  rejects("a name with a dot", (c) => (c.services["my.app"] = app(c)), 'services["my.app"]: invalid service name');
  rejects("a name with a space", (c) => (c.services["my app"] = app(c)), 'services["my app"]: invalid service name');
  rejects("a service without auth_token or relative_uri", (c) => delete app(c).auth_token, "services.app: needs auth_token");
  rejects("an empty auth_token", (c) => (app(c).auth_token = ""), "services.app.auth_token: must not be empty");
  rejects("a service without assumed_role", (c) => delete app(c).assumed_role, "services.app.assumed_role: is required");
  rejects("an assumed_role without RoleArn", (c) => (app(c).assumed_role = { RoleSessionName: "s" }), "services.app.assumed_role.RoleArn: is required");
  accepts("a service without source_credentials (CredProxy required an empty one)", (c) => delete app(c).source_credentials);
  accepts("x- keys at the top level and in a service", (c) => ((c["x-shared"] = { anything: 1 }), (app(c)["x-owner"] = "team")));
  rejects("an x- name in services that is no service: it is a service, as in CredProxy", (c) => (c.services["x-shared"] = { anything: 1 }), "services.x-shared.anything: unknown key");
  rejects("x- keys where CredProxy has none, e.g. in server", (c) => (c.server = { "x-note": "n" }), "server.x-note: unknown key");
  rejects("an unknown top-level key, suggesting the right one", (c) => ((c.service = c.services), delete c.services), 'service: unknown key; did you mean "services"?');
});

describe("services or dynamic services", () => {
  test("a config with only dynamic_services.enabled: true is valid", () => {
    const config = load("aws_defaults: {region: us-east-1}\ndynamic_services:\n  enabled: true\n");
    expect(config.services).toEqual([]);
    expect(config.dynamicServices.enabled).toBe(true);
  });
  accepts("an empty services map when dynamic services are on", (c) => ((c.services = {}), (c.dynamic_services = { enabled: true })));
  rejects("an empty services map without dynamic services", (c) => (c.services = {}), "services: no service is configured");
  rejects("no services key and dynamic services off", (c) => ((c.dynamic_services = { enabled: false }), delete c.services), "no service is configured");
  rejects("a services map whose x- entry is not a full service", (c) => (c.services = { "x-a": {} }), "services.x-a.assumed_role: is required");
});

describe("ranges", () => {
  const cases: [string, (c: Json, v: number) => void, number[], number[]][] = [
    ["server.port", (c, v) => (c.server = { port: v }), [1, 65535], [0, 65536]],
    ["metrics.prometheus.port", (c, v) => (c.metrics = { prometheus: { port: v } }), [1, 65535], [0, 65536]],
    ["credentials.refresh_buffer_seconds", (c, v) => (c.credentials = { refresh_buffer_seconds: v }), [0, 3600], [-1, 3601]],
    ["credentials.retry_delay", (c, v) => (c.credentials = { retry_delay: v }), [1, 300], [0, 301]],
    ["credentials.request_timeout", (c, v) => (c.credentials = { request_timeout: v }), [1, 300], [0, 301]],
    ["dynamic_services.reload_interval", (c, v) => (c.dynamic_services = { reload_interval: v }), [1, 60], [0, 61]],
  ];
  for (const [key, set, good, bad] of cases) {
    for (const v of good) accepts(`${key} ${v}`, (c) => set(c, v));
    for (const v of bad) rejects(`${key} ${v}`, (c) => set(c, v), `${key}: must be from ${good[0]} to ${good[1]}; current value is ${v}`);
  }
  rejects("a port that is not a number", (c) => (c.server = { port: "http" }), 'server.port: must be a whole number; current value is "http"');
});

describe("the schema document", () => {
  const walk = (node: unknown, path: string, visit: (schema: Json, path: string) => void): void => {
    if (node === null || typeof node !== "object") return;
    const schema = node as Json;
    visit(schema, path);
    for (const [k, child] of Object.entries(schema.properties ?? {})) walk(child, `${path}.${k}`, visit);
    for (const [k, child] of Object.entries(schema.patternProperties ?? {})) walk(child, `${path}[${k}]`, visit);
    if (schema.items) walk(schema.items, `${path}[]`, visit);
  };

  test("gives every property a description for IDE hovers", () => {
    const missing: string[] = [];
    walk(configSchema, "", (schema, path) => {
      for (const [key, child] of Object.entries({ ...schema.properties, ...schema.patternProperties })) {
        if (typeof (child as Json).description !== "string") missing.push(`${path}.${key}`);
      }
    });
    expect(missing).toEqual([]);
  });

  test("allows no unknown keys in any object", () => {
    const open: string[] = [];
    walk(configSchema, "", (schema, path) => {
      if (schema.properties && schema.additionalProperties !== false) open.push(path || "(top)");
    });
    expect(open).toEqual([]);
  });

  test("prints as draft-07 JSON equal to the exported schema", () => {
    const printed = JSON.parse(configSchemaJson());
    expect(printed).toEqual(JSON.parse(JSON.stringify(configSchema)));
    expect(printed.$schema).toBe("http://json-schema.org/draft-07/schema#");
  });

  test("documents the deliberate defaults: 3600 s sessions and metrics on 127.0.0.1", () => {
    expect(configSchema.properties.services.patternProperties["^[a-zA-Z0-9_-]+$"].properties.assumed_role.properties.DurationSeconds.default).toBe(3600);
    expect(configSchema.properties.metrics.properties.prometheus.properties.host.default).toBe("127.0.0.1");
  });
});
