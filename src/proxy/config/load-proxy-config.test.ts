import { describe, expect, test } from "bun:test";
import { formatError } from "../../errors.ts";
import { parseProxyConfigText, parseRunText } from "./load-proxy-config.ts";

const env = { GITHUB_TOKEN: "ghp_realSecretValue9Qm4Xr7Lz2Wk8" };
const readFile = (path: string) => {
  if (path === "/run/secrets/gh") return "ghp_fileSecret9Qm4Xr7Lz2Wk8\n";
  throw Object.assign(new Error("missing"), { code: "ENOENT" });
};
const problemsOf = (text: string) => {
  try {
    parseProxyConfigText(text, "/etc/credproxy/proxy.yaml", { env, readFile });
  } catch (error) {
    return formatError(error);
  }
  throw new Error("accepted");
};

describe("loading proxy.yaml", () => {
  test("an empty file gives the documented defaults", () => {
    const config = parseProxyConfigText("", "/etc/credproxy/proxy.yaml", { env: { HOME: "/home/u" } });
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 3128 });
    expect(config.defaultTenant).toMatchObject({ policy: "strict", intercept: "credentialed", credentials: [] });
    expect(config.tls.caDir).toBe("/home/u/.config/credproxy/proxy-ca");
    expect(config.limits.responseHeadTimeoutMs).toBe(300_000);
  });
  test("a credential keeps its references unexpanded, so a rotated file is read again", () => {
    const config = parseProxyConfigText(
      'credentials:\n  - name: gh\n    host: [api.github.com, "*.githubusercontent.com"]\n    value: "Bearer ${fromFile:/run/secrets/gh}"\n',
      "/etc/credproxy/proxy.yaml",
      { env, readFile },
    );
    const [gh] = config.defaultTenant.credentials;
    expect(gh!.value).toEqual({ kind: "template", template: "Bearer ${fromFile:/run/secrets/gh}", files: ["/run/secrets/gh"] });
    expect(gh!.hosts.map((h) => h.text)).toEqual(["api.github.com", "*.githubusercontent.com"]);
    expect(gh!.header).toBe("Authorization");
  });
  test("every problem is reported at once, with its line, and no secret value is echoed", () => {
    const text = 'listen: {host: 0.0.0.0}\ngrants: [githb]\nallow: ["a.*.b"]\ncredentials:\n  - name: gh\n    host: api.github.com\n    header: Content-Length\n    value: "${fromEnv:GITHUB_TOKEN}"\n';
    const message = problemsOf(text);
    expect(message).toContain("4 problems");
    expect(message).toContain('proxy.yaml:1:16: listen.host');
    expect(message).toContain('did you mean "github"');
    expect(message).toContain("allow[0]");
    expect(message).toContain("credentials[0].header");
    expect(message).not.toContain(env.GITHUB_TOKEN);
  });
  test("a reference that cannot be resolved is an error at load, not at the first request", () => {
    expect(problemsOf('credentials:\n  - {name: gh, host: api.github.com, value: "${fromEnv:MISSING_TOKEN}"}\n')).toContain("MISSING_TOKEN");
  });
  test("a guessable token is refused", () => {
    expect(problemsOf("token: abcdefgh\n")).toContain("too easy to guess");
  });
});

describe("loading a run file", () => {
  test("a run has its own token and policy, named after its file", () => {
    const run = parseRunText("token: run-9Qm4Xr7Lz2Wk8Vn5Bq3Tz\npolicy: report\nallow: [api.example.invalid]\n", "/runs/ci-42.yaml", "ci-42", { env, readFile });
    expect(run).toMatchObject({ name: "ci-42", token: "run-9Qm4Xr7Lz2Wk8Vn5Bq3Tz", policy: "report", source: "/runs/ci-42.yaml" });
  });
  test("a run without a token is refused", () => {
    expect(() => parseRunText("allow: [a.invalid]\n", "/runs/x.yaml", "x", { env, readFile })).toThrow(/token/);
  });
});

describe("an aws: credential", () => {
  const AWS = 'credentials:\n  - name: sandbox-role\n    host: ["*.amazonaws.com", "localhost:4566"]\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/sandbox\n';
  test("resolves with the default chain, us-east-1 and an hour, bound to its hosts", () => {
    const config = parseProxyConfigText(AWS, "/etc/credproxy/proxy.yaml", { env, readFile });
    expect(config.defaultTenant.credentials).toEqual([]);
    const [role] = config.defaultTenant.awsCredentials;
    expect(role).toMatchObject({ name: "sandbox-role", roleArn: "arn:aws:iam::123456789012:role/sandbox", source: { kind: "default-chain" }, region: "us-east-1", durationSeconds: 3600, sessionName: "credproxy-proxy", allowPlaintext: false });
    expect(role!.hosts.map((h) => h.text)).toEqual(["*.amazonaws.com", "localhost:4566"]);
  });
  test("takes its source as serve does: a profile or keys", () => {
    const text = AWS + "      source: {iam_keys: {aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: \"${fromEnv:GITHUB_TOKEN}\"}}\n      sts_endpoint: http://127.0.0.1:5000\n";
    const [role] = parseProxyConfigText(text, "/etc/credproxy/proxy.yaml", { env, readFile }).defaultTenant.awsCredentials;
    expect(role!.source).toEqual({ kind: "static", accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: env.GITHUB_TOKEN, sessionToken: undefined });
    expect(role!.stsEndpoint).toBe("http://127.0.0.1:5000");
    const profile = parseProxyConfigText(AWS + "      source: {iam_profile: {profile_name: dev}}\n", "/p.yaml", { env, readFile }).defaultTenant.awsCredentials[0];
    expect(profile!.source).toMatchObject({ kind: "profile", profile: "dev" });
  });
  test("a bad role ARN, region or duration, and a header or value beside aws, are reported with their key paths and lines", () => {
    const text = 'credentials:\n  - name: r\n    host: "*.amazonaws.com"\n    header: X-Key\n    aws:\n      role_arn: arn:aws:iam::12345:role/x\n      region: Europe\n      duration_seconds: 60\n';
    const message = problemsOf(text);
    expect(message).toContain("proxy.yaml:6:17: credentials[0].aws.role_arn");
    expect(message).toContain("credentials[0].aws.region");
    expect(message).toContain("credentials[0].aws.duration_seconds");
    const beside = problemsOf('credentials:\n  - name: r\n    host: "*.amazonaws.com"\n    value: x\n    aws: {role_arn: "arn:aws:iam::123456789012:role/x"}\n');
    expect(beside).toContain("credentials[0].value");
    expect(beside).toContain("does not go with aws");
  });
  test("an unknown source is refused with the forms it may take", () => {
    expect(problemsOf(AWS + "      source: env\n")).toContain("{iam_profile: {profile_name: NAME}}");
  });
  test("names are unique across header and aws credentials", () => {
    expect(problemsOf(AWS + '  - {name: sandbox-role, host: api.github.com, value: x}\n')).toContain('already named "sandbox-role"');
  });
});

describe("an aws: source that fails inside its mapping", () => {
  test("names the key inside, not every form source could take", () => {
    const text = 'credentials:\n  - name: r\n    host: "*.amazonaws.com"\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/x\n      source: {iam_profile: {profile_nam: dev}}\n';
    const message = problemsOf(text);
    expect(message).toContain("credentials[0].aws.source.iam_profile");
    expect(message).not.toContain("must be default");
  });
});
