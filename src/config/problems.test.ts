import { describe, expect, test } from "bun:test";
import { ErrorCode } from "../errors.ts";
import { displayPath } from "./key-path.ts";
import { closest, editDistance } from "./problems.ts";
import { load, minimal, ROLE_ARN, thrown, yaml } from "./testing.ts";

describe("schema errors", () => {
  const text = yaml`
    server:
      prot: 1338
      port: 70000
    services:
      app:
        auth_token: t-9Qm4Xr7Lz2Wk8Vn5B
        assumed_role:
          RoleArn: not-an-arn
          DurationSeconds: 60
  `;

  test("are all reported at once, one per line in file order, each with file:line:column and key path", () => {
    const error = thrown(() => load(text), ErrorCode.ConfigInvalid);
    expect(error.message.split("\n")).toEqual([
      "Invalid config config.yaml (4 problems):",
      '  config.yaml:2:3: server.prot: unknown key; did you mean "port"?',
      "  config.yaml:3:9: server.port: must be from 1 to 65535; current value is 70000",
      '  config.yaml:8:16: services.app.assumed_role.RoleArn: must be an IAM role ARN such as arn:aws:iam::123456789012:role/MyRole; current value is "not-an-arn"',
      "  config.yaml:9:24: services.app.assumed_role.DurationSeconds: must be from 900 to 43200; current value is 60",
    ]);
    expect(error.hint).toContain("--print-schema");
  });

  test("carry the same problems as structured details", () => {
    const details = thrown(() => load(text)).details as { problems: { path: string; line: number; column: number }[] };
    expect(details.problems.map((p) => `${p.path}@${p.line}:${p.column}`)).toEqual([
      "server.prot@2:3",
      "server.port@3:9",
      "services.app.assumed_role.RoleArn@8:16",
      "services.app.assumed_role.DurationSeconds@9:24",
    ]);
  });

  test("point a missing key at its parent and say a key left empty has no value", () => {
    const error = thrown(() => load(minimal().replace(`RoleArn: ${ROLE_ARN}`, "RoleArn:")));
    expect(error.message).toContain("config.yaml:7:7: services.app.assumed_role.RoleArn: has no value");
  });

  test("come after substitution, so a bad value from ${fromEnv} is reported at its key", () => {
    const error = thrown(() => load(minimal("server:\n  port: ${fromEnv:PORT}"), { env: { PORT: "eighty" } }));
    expect(error.message).toContain('config.yaml:9:9: server.port: must be a whole number; the value comes from "${fromEnv:PORT}"');
  });
});

describe("did you mean", () => {
  const unknown = (extra: string) => thrown(() => load(minimal(extra))).message;

  test("suggests a top-level key", () => {
    expect(unknown("metric:\n  prometheus: {}")).toContain('metric: unknown key; did you mean "metrics"?');
  });

  test("forgives dashes for underscores and letter case", () => {
    expect(unknown("credentials:\n  Refresh-Buffer-Seconds: 10")).toContain('did you mean "refresh_buffer_seconds"?');
  });

  test("suggests the nested place of a key written one level too high", () => {
    expect(thrown(() => load(minimal().replace("auth_token: app-token-9Qm4Xr7Lz2Wk8Vn5B", "auth_token: app-token-9Qm4Xr7Lz2Wk8Vn5B\n    region: us-east-1"))).message).toContain(
      'services.app.region: unknown key; did you mean "source_credentials.region"?',
    );
  });

  test("lists the allowed keys when nothing is close", () => {
    expect(unknown("server:\n  listen: 1")).toContain("server.listen: unknown key; allowed keys here: host, port, debug, log_health_checks");
  });
});

describe("secrets in errors", () => {
  const secretService = (source: string, role = "") =>
    yaml`
      aws_defaults: {region: us-east-1}
      services:
        app:
          auth_token: app-token
          source_credentials: {${source}}
          assumed_role: {RoleArn: "${ROLE_ARN}"${role}}
    `;

  test("a bad secret access key is described, not shown", () => {
    const message = thrown(() => load(secretService("iam_keys: {aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: 'TOPSECRET with space'}"))).message;
    expect(message).toContain("aws_secret_access_key: must be a non-empty secret key without spaces or line breaks (value not shown: secret)");
    expect(message).not.toContain("TOPSECRET");
  });

  test("a bad session token is described, not shown", () => {
    const message = thrown(() => load(secretService("iam_keys: {aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: k, session_token: 'SESSIONSECRET x'}"))).message;
    expect(message).toContain("session_token: must be");
    expect(message).not.toContain("SESSIONSECRET");
  });

  test("a bad TokenCode is described, not shown", () => {
    const message = thrown(() => load(secretService("", ", TokenCode: '98765x'"))).message;
    expect(message).toContain("TokenCode: must be exactly six digits (value not shown: secret)");
    expect(message).not.toContain("98765");
  });

  test("a mistyped auth_token is described, not shown", () => {
    const message = thrown(() => load(minimal().replace("auth_token: app-token-9Qm4Xr7Lz2Wk8Vn5B", "auth_token: [s3cr3t-token-value]"))).message;
    expect(message).toContain("services.app.auth_token: must be a string");
    expect(message).not.toContain("s3cr3t");
  });

  test("a value read from a file is shown as its reference, not its content", () => {
    const files = { "/run/secrets/token": "secret-token-contents\n" };
    const message = thrown(() => load(minimal("").replace("region: us-east-1", "region: ${fromFile:/run/secrets/token}"), { files })).message;
    expect(message).toContain('aws_defaults.region: must be an AWS region such as us-east-1, cn-north-1 or us-gov-west-1; the value comes from "${fromFile:/run/secrets/token}"');
    expect(message).not.toContain("secret-token-contents");
  });

  test("long non-secret values are cut short", () => {
    const message = thrown(() => load(minimal("").replace("region: us-east-1", `region: ${"x".repeat(200)}`))).message;
    expect(message).toContain(`current value is "${"x".repeat(76)}…"`);
    expect(message).not.toContain("x".repeat(100));
  });
});

describe("helpers", () => {
  test("editDistance counts a swap of neighbours as one edit", () => {
    expect(editDistance("prot", "port")).toBe(1);
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
  });

  test("closest gives nothing when every candidate is far", () => {
    expect(closest("listen", ["host", "port", "debug"])).toBeUndefined();
    expect(closest("rolearn", ["RoleArn", "RoleSessionName"])).toBe("RoleArn");
  });

  test("displayPath writes dots, list indexes and quoted odd keys", () => {
    expect(displayPath(["services", "web-app", "assumed_role", "RoleArn"])).toBe("services.web-app.assumed_role.RoleArn");
    expect(displayPath(["dynamic_services", "directories", 0, "path"])).toBe("dynamic_services.directories[0].path");
    expect(displayPath(["services", "my.app"])).toBe('services["my.app"]');
    expect(displayPath(["services", "0"])).toBe('services["0"]');
    expect(displayPath([])).toBe("(top level)");
  });
});

describe("every mistake at once", () => {
  test("missing ${fromEnv:}/${fromFile:}, schema errors and cross-field errors come in one report, in file order", () => {
    const error = thrown(() =>
      load(yaml`
        aws_defaults: {region: us-east-1}
        server: {port: seventy}
        services:
          a: {auth_token: "\${fromEnv:A_TOKEN}", assumed_role: {RoleArn: "${ROLE_ARN}"}}
          b: {auth_token: "\${fromFile:/run/secrets/b}", assumed_role: {RoleArn: "${ROLE_ARN}"}}
          c: {auth_token: same-token-4f9a2c7e1b8d, assumed_role: {RoleArn: "${ROLE_ARN}"}}
          d: {auth_token: same-token-4f9a2c7e1b8d, assumed_role: {RoleArn: "${ROLE_ARN}"}}
          e: {auth_token: aaaaaaaa, assumed_role: {RoleArn: "${ROLE_ARN}"}}
          f: {auth_token: f-token-4f9a2c7e1b8d, assumed_role: {RoleArn: not-an-arn}}
      `),
      ErrorCode.ConfigInvalid,
    );
    const lines = error.message.split("\n").slice(1).map((l) => l.replace(/^\s*config\.yaml:\d+:\d+: /, ""));
    expect(lines).toEqual([
      expect.stringMatching(/^server\.port: must be a whole number/),
      'services.a.auth_token: cannot be substituted: ${fromEnv:A_TOKEN}: environment variable "A_TOKEN" is not set',
      'services.b.auth_token: cannot be substituted: ${fromFile:/run/secrets/b}: file "/run/secrets/b" does not exist',
      expect.stringMatching(/^services\.d\.auth_token: has the same value as services\.c\.auth_token/),
      expect.stringMatching(/^services\.e\.auth_token: is too easy to guess/),
      expect.stringMatching(/^services\.f\.assumed_role\.RoleArn: must be an IAM role ARN/),
    ]);
    expect(error.message).toContain("(6 problems)");
  });

  test("when every problem is a missing value the code says substitution, and each is listed", () => {
    const error = thrown(() => load(minimal("server:\n  port: ${fromEnv:PORT}\n  host: ${fromEnv:HOST}")), ErrorCode.ConfigSubstitution);
    expect(error.message).toContain('server.port: cannot be substituted: ${fromEnv:PORT}: environment variable "PORT" is not set');
    expect(error.message).toContain('server.host: cannot be substituted: ${fromEnv:HOST}: environment variable "HOST" is not set');
  });
});
