import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode } from "../errors.ts";
import { loadServicesFile } from "./load.ts";
import { globToRegExp } from "./resolve-dynamic.ts";
import { load, memoryFiles, minimal, ROLE_ARN, thrown, yaml } from "./testing.ts";

const dynamic = (block: string) => load(minimal(`dynamic_services:\n${block}`)).dynamicServices;

describe("dynamic_services directories", () => {
  test("the object form keeps per-directory patterns, defaulting to none", () => {
    expect(dynamic("  enabled: true\n  directories:\n    - path: /a\n      include_patterns: ['\\.yaml$']\n    - path: /b\n")).toEqual({
      enabled: true,
      directories: [
        { path: "/a", include: ["\\.yaml$"], exclude: [], allowGroupWritable: false },
        { path: "/b", include: [], exclude: [], allowGroupWritable: false },
      ],
      reloadIntervalSeconds: 5,
    });
  });

  test("the legacy list of plain paths takes the top-level include/exclude patterns", () => {
    expect(dynamic("  enabled: true\n  directories: [/a, /b]\n  include_patterns: ['^svc-']\n  exclude_patterns: ['^\\.']\n").directories).toEqual([
      { path: "/a", include: ["^svc-"], exclude: ["^\\."], allowGroupWritable: false },
      { path: "/b", include: ["^svc-"], exclude: ["^\\."], allowGroupWritable: false },
    ]);
  });

  test("the README's directory + file_pattern form becomes one directory with a file-name pattern", () => {
    const config = dynamic("  enabled: true\n  directory: /credproxy/dynamic\n  file_pattern: '*.yaml'\n  reload_interval: 2\n");
    expect(config.directories).toEqual([{ path: "/credproxy/dynamic", include: ["^[^/]*\\.yaml$"], exclude: [], allowGroupWritable: false }]);
    expect(config.reloadIntervalSeconds).toBe(2);
  });

  test("without any directory, CredProxy's /credproxy/dynamic is watched", () => {
    expect(dynamic("  enabled: true\n").directories).toEqual([{ path: "/credproxy/dynamic", include: [], exclude: [], allowGroupWritable: false }]);
  });

  test("watcher_stop_timeout is accepted and ignored", () => {
    expect(dynamic("  enabled: true\n  watcher_stop_timeout: 5\n")).not.toHaveProperty("watcher_stop_timeout");
  });

  test("an invalid regular expression is rejected with its position in the list", () => {
    const error = thrown(() => dynamic("  directories:\n    - path: /a\n      exclude_patterns: ['ok', '(unclosed']\n"), ErrorCode.ConfigInvalid);
    expect(error.message).toContain("dynamic_services.directories[0].exclude_patterns[1]: is not a valid regular expression");
  });

  test("Python syntax JavaScript lacks is translated, and what cannot be is refused with the reason", () => {
    const config = dynamic("  directories:\n    - path: /a\n      include_patterns: ['(?i)(?P<env>dev|prod)-.*\\Z']\n");
    expect(config.directories[0]?.include).toEqual(["(?i)(?P<env>dev|prod)-.*\\Z"]);
    const error = thrown(() => dynamic("  directories:\n    - path: /a\n      include_patterns: ['a(?i)b', '(?>x)']\n"), ErrorCode.ConfigInvalid);
    expect(error.message).toContain("include_patterns[0]: is a Python regular expression credproxy cannot translate to JavaScript: inline flags are translated only at the very start");
    expect(error.message).toContain("include_patterns[1]: is a Python regular expression credproxy cannot translate to JavaScript: atomic groups");
  });

  test("an empty directories list is rejected", () => {
    expect(thrown(() => dynamic("  directories: []\n")).message).toContain("dynamic_services.directories: must list at least 1 item(s)");
  });

  test("a directory object without path is rejected", () => {
    expect(thrown(() => dynamic("  directories:\n    - include_patterns: [x]\n")).message).toContain("dynamic_services.directories[0].path: is required");
  });
});

describe("globToRegExp", () => {
  test("* and ? are wildcards within a file name and the rest is literal", () => {
    const re = new RegExp(globToRegExp("svc-?.y*ml"));
    expect(["svc-1.yaml", "svc-a.yml"].every((n) => re.test(n))).toBe(true);
    expect(["svc-12.yaml", "svc-1xyaml", "svc-1.yaml~", "dir/svc-1.yaml"].some((n) => re.test(n))).toBe(false);
  });
});

describe("loadServicesFile", () => {
  const defaults = load(minimal("aws_defaults:\n  region: eu-west-1\n  iam_profile: {profile_name: base}\n").replace("aws_defaults:\n  region: us-east-1\n", "")).awsDefaults;
  const file = "/credproxy/dynamic/team.yaml";

  test("loads every service of the file, merged with aws_defaults, with the file as origin", () => {
    const services = loadServicesFile(
      file,
      yaml`
        services:
          one:
            auth_token: token-one
            assumed_role: {RoleArn: "${ROLE_ARN}"}
          two:
            auth_token: token-two
            source_credentials:
              region: us-gov-west-1
              iam_keys: {aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: k}
            assumed_role: {RoleArn: "arn:aws-us-gov:iam::123456789012:role/Two"}
      `,
      defaults,
      { env: {} },
    );
    expect(services.map((s) => [s.name, s.region, s.source.kind, s.origin])).toEqual([
      ["one", "eu-west-1", "profile", { kind: "dynamic", file }],
      ["two", "us-gov-west-1", "static", { kind: "dynamic", file }],
    ]);
    expect(services[0]?.assumeRole.DurationSeconds).toBe(3600);
    expect(Object.isFrozen(services[1]?.source)).toBe(true);
  });

  test("substitutes ${fromFile} of files inside the directory's secrets_directory", () => {
    const secrets = mkdtempSync(join(tmpdir(), "credproxy-secrets-"));
    writeFileSync(join(secrets, "dyn"), "dyn-token\n");
    const text = `services:\n  dyn:\n    auth_token: \${fromFile:${secrets}/dyn}\n    assumed_role: {RoleArn: "${ROLE_ARN}"}\n`;
    const read: string[] = [];
    const [svc] = loadServicesFile(file, text, defaults, { env: {}, secretsDirectory: secrets, onRead: (p) => read.push(p) });
    expect(svc?.authToken).toBe("dyn-token");
    expect(read).toEqual([join(secrets, "dyn")]);
    rmSync(secrets, { recursive: true });
  });

  test("reads JSON files the same way", () => {
    const text = JSON.stringify({ services: { j: { auth_token: "j-9Qm4Xr7Lz2Wk8Vn5B", assumed_role: { RoleArn: ROLE_ARN } } } });
    expect(loadServicesFile("/d/j.json", text, defaults, { env: {} }).map((s) => s.name)).toEqual(["j"]);
  });

  test("a bare service object without services: is rejected, saying what the file needs", () => {
    const error = thrown(() => loadServicesFile(file, `auth_token: t-9Qm4Xr7Lz2Wk8Vn5B\nassumed_role: {RoleArn: "${ROLE_ARN}"}\n`, defaults, { env: {} }), ErrorCode.ConfigInvalid);
    expect(error.message).toContain(`${file}:1:1: services: is required (expected a services: map`);
    expect(error.message).toContain("auth_token: unknown key");
  });

  test("a file with an empty services map is rejected", () => {
    expect(thrown(() => loadServicesFile(file, "services: {}\n", defaults, { env: {} })).message).toContain("services: defines no service");
  });

  test("duplicate tokens within one file are rejected", () => {
    const text = `services:\n  a: {auth_token: same-9Qm4Xr7Lz2Wk8Vn5B, assumed_role: {RoleArn: "${ROLE_ARN}"}}\n  b: {auth_token: same-9Qm4Xr7Lz2Wk8Vn5B, assumed_role: {RoleArn: "${ROLE_ARN}"}}\n`;
    expect(thrown(() => loadServicesFile(file, text, defaults, { env: {} })).message).toContain("services.b.auth_token: has the same value as services.a.auth_token");
  });

  test("a service with no region in the file or aws_defaults takes AWS_REGION, then AWS_DEFAULT_REGION, as CredProxy (boto3) does", () => {
    const text = `services:\n  a: {auth_token: t-9Qm4Xr7Lz2Wk8Vn5B, assumed_role: {RoleArn: "${ROLE_ARN}"}}\n`;
    expect(loadServicesFile(file, text, {}, { env: { AWS_REGION: "eu-north-1", AWS_DEFAULT_REGION: "ap-east-1" } })[0]?.region).toBe("eu-north-1");
    expect(loadServicesFile(file, text, {}, { env: { AWS_DEFAULT_REGION: "ap-east-1" } })[0]?.region).toBe("ap-east-1");
    expect(loadServicesFile(file, text, { region: "us-west-1" }, { env: { AWS_REGION: "eu-north-1" } })[0]?.region).toBe("us-west-1");
  });

  test("a service without a region anywhere, the environment included, is rejected", () => {
    const text = `services:\n  a: {auth_token: t-9Qm4Xr7Lz2Wk8Vn5B, assumed_role: {RoleArn: "${ROLE_ARN}"}}\n`;
    expect(thrown(() => loadServicesFile(file, text, {}, { env: {} })).message).toContain("AWS region is required for service 'a'; set aws_defaults.region of the main config, AWS_REGION or");
  });

  test("static services still need a region in the config: the environment does not count there, as in CredProxy", () => {
    const text = `services:\n  a: {auth_token: t-9Qm4Xr7Lz2Wk8Vn5B, assumed_role: {RoleArn: "${ROLE_ARN}"}}\n`;
    expect(thrown(() => load(text, { env: { AWS_REGION: "eu-north-1" } })).message).toContain("AWS region is required for service 'a'; set aws_defaults.region or");
  });

  test("errors name the dynamic file with line and column", () => {
    const text = `services:\n  a:\n    auth_token: t-9Qm4Xr7Lz2Wk8Vn5B\n    assumed_role:\n      RoleArn: nope\n`;
    expect(thrown(() => loadServicesFile(file, text, defaults, { env: {} })).message).toContain(`${file}:5:16: services.a.assumed_role.RoleArn: must be an IAM role ARN`);
  });

  test("warnings about the file's services go to onWarning, prefixed with the file", () => {
    const warnings: string[] = [];
    const text = `services:\n  a: {auth_token: t-9Qm4Xr7Lz2Wk8Vn5B, assumed_role: {RoleArn: "${ROLE_ARN}", DurationSeconds: 1000}}\n`;
    loadServicesFile(file, text, defaults, { env: {}, refreshBufferSeconds: 900, onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([expect.stringContaining(`${file}: services.a.assumed_role.DurationSeconds is 1000`)]);
  });

  test("a ${fromEnv} reference is a substitution error, reported with the file's other problems", () => {
    const alone = `services:\n  a: {auth_token: '\${fromEnv:NOPE}', assumed_role: {RoleArn: "${ROLE_ARN}"}}\n`;
    thrown(() => loadServicesFile(file, alone, defaults, { env: {} }), ErrorCode.ConfigSubstitution);
    const error = thrown(() => loadServicesFile(file, "services:\n  a: {auth_token: '${fromEnv:NOPE}'}\n", defaults, { env: {} }), ErrorCode.ConfigInvalid);
    expect(error.message).toContain("(2 problems)");
    expect(error.message).toContain("services.a.auth_token: cannot be substituted: ${fromEnv:NOPE}");
    expect(error.message).toContain("services.a.assumed_role: is required");
  });
});
