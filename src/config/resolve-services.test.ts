import { describe, expect, test } from "bun:test";
import { ErrorCode } from "../errors.ts";
import { load, minimal, ROLE_ARN, thrown, yaml } from "./testing.ts";

const KEYS = "iam_keys: {aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: service-secret}";
const PROFILE = "iam_profile: {profile_name: shared.default}";

/** aws_defaults and one service `app` with the given source_credentials lines. */
function merged(defaults: string, source: string) {
  return load(yaml`
    aws_defaults: {${defaults}}
    services:
      app:
        auth_token: t-9Qm4Xr7Lz2Wk8Vn5B
        source_credentials: {${source}}
        assumed_role: {RoleArn: "${ROLE_ARN}"}
  `).services[0]!;
}

describe("merging a service over aws_defaults", () => {
  test("the region is inherited from aws_defaults", () => {
    expect(merged("region: eu-west-1", "").region).toBe("eu-west-1");
  });

  test("the service's region overrides the default one", () => {
    expect(merged("region: eu-west-1", "region: cn-north-1").region).toBe("cn-north-1");
  });

  test("service iam_keys beat a default iam_profile (CredProxy let the profile win)", () => {
    expect(merged(`region: us-east-1, ${PROFILE}`, KEYS).source).toEqual({
      kind: "static",
      accessKeyId: "AKIAIOSFODNN7EXAMPLE",
      secretAccessKey: "service-secret",
      sessionToken: undefined,
    });
  });

  test("a service iam_profile beats default iam_keys", () => {
    expect(merged(`region: us-east-1, ${KEYS}`, PROFILE).source).toEqual({ kind: "profile", profile: "shared.default", configFile: undefined, credentialsFile: undefined });
  });

  test("a service without credentials of its own uses the default ones", () => {
    expect(merged(`region: us-east-1, ${PROFILE}`, "region: us-west-2").source).toMatchObject({ kind: "profile", profile: "shared.default" });
  });

  test("with credentials nowhere, the default chain is used", () => {
    expect(merged("region: us-east-1", "").source).toEqual({ kind: "default-chain" });
  });

  test("sts_endpoint merges key by key, the service's winning", () => {
    expect(merged("region: us-east-1, sts_endpoint: 'https://default.example'", "").stsEndpoint).toBe("https://default.example");
    expect(merged("region: us-east-1, sts_endpoint: 'https://default.example'", "sts_endpoint: 'http://127.0.0.1:5000'").stsEndpoint).toBe("http://127.0.0.1:5000");
  });

  test("without sts_endpoint, AWS_ENDPOINT_URL_STS and then AWS_ENDPOINT_URL apply", () => {
    expect(load(minimal(), { env: { AWS_ENDPOINT_URL_STS: "http://sts.local", AWS_ENDPOINT_URL: "http://all.local" } }).services[0]?.stsEndpoint).toBe("http://sts.local");
    expect(load(minimal(), { env: { AWS_ENDPOINT_URL: "http://all.local" } }).services[0]?.stsEndpoint).toBe("http://all.local");
    expect(load(minimal(), { env: {} }).services[0]?.stsEndpoint).toBeUndefined();
  });

  test("x- keys do not reach the AssumeRole parameters", () => {
    const role = load(minimal().replace(`RoleArn: ${ROLE_ARN}`, `RoleArn: ${ROLE_ARN}\n      x-note: hi`)).services[0]!.assumeRole;
    expect(Object.keys(role).filter((k) => (role as unknown as Record<string, unknown>)[k] !== undefined)).toEqual(["RoleArn", "RoleSessionName", "DurationSeconds"]);
  });
});

describe("cross-field rules", () => {
  test("a service with no region anywhere is rejected, saying where to set one", () => {
    const error = thrown(() => load(`services:\n  app:\n    auth_token: t-9Qm4Xr7Lz2Wk8Vn5B\n    assumed_role: {RoleArn: "${ROLE_ARN}"}\n`), ErrorCode.ConfigInvalid);
    expect(error.message).toContain("config.yaml:2:3: services.app: AWS region is required for service 'app'; set aws_defaults.region or services.app.source_credentials.region");
  });

  test("two services with the same auth_token are rejected, naming both but not the token", () => {
    const error = thrown(
      () =>
        load(yaml`
          aws_defaults: {region: us-east-1}
          services:
            first: {auth_token: shared-secret-token, assumed_role: {RoleArn: "${ROLE_ARN}"}}
            second: {auth_token: shared-secret-token, assumed_role: {RoleArn: "${ROLE_ARN}"}}
        `),
      ErrorCode.ConfigInvalid,
    );
    expect(error.message).toContain("services.second.auth_token: has the same value as services.first.auth_token");
    expect(error.message).not.toContain("shared-secret-token");
  });

  test("a token from ${fromEnv} that equals another service's token is caught too", () => {
    // minimal()'s extra text lands right after service `app`, so this indentation adds a second service
    const text = minimal(`  other:\n    auth_token: \${fromEnv:T}\n    assumed_role: {RoleArn: "${ROLE_ARN}"}`);
    expect(thrown(() => load(text, { env: { T: "app-token-9Qm4Xr7Lz2Wk8Vn5B" } })).message).toContain("services.other.auth_token: has the same value as services.app.auth_token");
    expect(load(text, { env: { T: "other-token" } }).services).toHaveLength(2);
  });

  test("iam_profile and iam_keys in the same block are rejected", () => {
    const error = thrown(() => merged(`region: us-east-1, ${PROFILE}, ${KEYS}`, ""), ErrorCode.ConfigInvalid);
    expect(error.message).toContain("aws_defaults: sets both iam_profile and iam_keys");
    const inService = thrown(() => merged("region: us-east-1", `${PROFILE}, ${KEYS}`));
    expect(inService.message).toContain("services.app.source_credentials: sets both iam_profile and iam_keys");
  });

  test("a Policy that is not JSON is rejected", () => {
    const text = minimal().replace(`RoleArn: ${ROLE_ARN}`, `RoleArn: ${ROLE_ARN}\n      Policy: "Allow everything"`);
    expect(thrown(() => load(text)).message).toContain("services.app.assumed_role.Policy: must be a JSON policy document");
  });

  test("a service whose name starts with x- is a service, as in CredProxy", () => {
    const config = load(minimal("").replace("services:\n", `services:\n  x-old:\n    auth_token: t2-9Qm4Xr7Lz2Wk8Vn5B\n    assumed_role: {RoleArn: "${ROLE_ARN}"}\n`));
    expect(config.services.map((s) => s.name)).toEqual(["x-old", "app"]);
    expect(config.warnings).toEqual([]);
  });
});

describe("auth_token strength", () => {
  const withToken = (token: string) => minimal().replace(/auth_token: \S+/, `auth_token: ${token}`);

  test("a token too easy to guess is refused at its line, without echoing it", () => {
    const error = thrown(() => load(withToken("aaaaaaaaaaaa")), ErrorCode.ConfigInvalid);
    expect(error.message).toContain("services.app.auth_token: is too easy to guess");
    expect(error.message).toMatch(/config\.yaml:\d+:\d+/);
    expect(error.message).not.toContain("aaaaaaaaaaaa");
  });

  test("a weak token loads with a warning that names it by key, not by value", () => {
    const config = load(withToken("changeme123"));
    expect(config.warnings).toEqual([expect.stringContaining("services.app.auth_token is weak")]);
    expect(config.warnings.join()).not.toContain("changeme123");
  });

  test("a random token gives no warning", () => {
    expect(load(withToken(Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex"))).warnings).toEqual([]);
  });

  test("a token read from ${fromEnv:…} is judged by its value", () => {
    expect(thrown(() => load(withToken("${fromEnv:T}"), { env: { T: "a" } })).message).toContain("services.app.auth_token: is too easy to guess");
  });
});

describe("checks start-up would otherwise trip over later, made at load (so validate makes them too)", () => {
  test("a token with a line break inside is refused: no client can send it", () => {
    const error = thrown(() => load(minimal().replace(/auth_token: \S+/, "auth_token: ${fromEnv:T}"), { env: { T: "first-line-4f9a2c7e\nsecond-line-1b8d3a6f" } }));
    expect(error.message).toContain("services.app.auth_token: holds a line break or another control character");
    expect(error.message).not.toContain("first-line");
  });

  test("a profile config_file or credentials_file credproxy cannot read is a warning naming the file", () => {
    const config = load(minimal("").replace("  region: us-east-1\n", "  region: us-east-1\n  iam_profile: {profile_name: dev, credentials_file: /nonexistent/credentials}\n"));
    expect(config.warnings).toEqual(["services.app.source_credentials.iam_profile.credentials_file: /nonexistent/credentials does not exist; profile 'dev' cannot be loaded until it can be read"]);
  });

  test("a metrics listener on server.port is refused, since one of the two could never bind", () => {
    const error = thrown(() => load(minimal("server: {port: 9090}\nmetrics: {prometheus: {enabled: true, port: 9090}}")));
    expect(error.message).toContain("metrics.prometheus.port: is server.port too (9090)");
    expect(load(minimal("server: {port: 9090, host: 127.0.0.2}\nmetrics: {prometheus: {enabled: true, port: 9090, host: 127.0.0.1}}")).metrics.listener?.port).toBe(9090);
  });
});

describe("lifetime warnings", () => {
  const withDuration = (duration: number, buffer?: number) =>
    load(minimal(buffer === undefined ? "" : `credentials:\n  refresh_buffer_seconds: ${buffer}`).replace(`RoleArn: ${ROLE_ARN}`, `RoleArn: ${ROLE_ARN}\n      DurationSeconds: ${duration}`)).warnings;

  test("DurationSeconds less than 300 s above refresh_buffer_seconds is a warning", () => {
    expect(withDuration(1200, 1000)).toEqual([expect.stringContaining("usable for only 200 s")]);
  });

  test("exactly 300 s of usable life is no lifetime warning", () => {
    expect(withDuration(1300, 1000)).toEqual([]);
  });

  test("CredProxy's old default of 900 s is a warning about SDK refresh windows", () => {
    expect(withDuration(900)).toEqual([expect.stringContaining("15 minutes")]);
  });

  test("the default 3600 s gives no warning", () => {
    expect(load(minimal()).warnings).toEqual([]);
  });
});


describe("relative_uri (selecting a service by a secret path, as ECS RELATIVE_URI does)", () => {
  const ID = "3f9c2b7e8a1d4c6f9e0b5a7d2c4e6f81"; // 32 hex = 128 bits
  const service = (fields: string) => `aws_defaults: {region: us-east-1}\nservices:\n  app:\n    ${fields}\n    assumed_role: {RoleArn: "${ROLE_ARN}"}\n`;

  test("a service may be selected by relative_uri alone, without auth_token", () => {
    const s = load(service(`relative_uri: /v2/credentials/${ID}`)).services[0]!;
    expect(s.relativeUri).toBe(`/v2/credentials/${ID}`);
    expect(s.authToken).toBeUndefined();
  });

  test("a service with neither auth_token nor relative_uri is rejected", () => {
    expect(thrown(() => load(service("source_credentials: {}"))).message).toContain("services.app: needs auth_token");
  });

  test("a guessable path is rejected without echoing it", () => {
    const error = thrown(() => load(service("relative_uri: /v2/credentials/app-one")));
    expect(error.message).toContain("services.app.relative_uri: is guessable");
    expect(error.message).not.toContain("app-one");
  });

  test("a long path that repeats or counts up is guessable too (length alone passed it before)", () => {
    for (const segment of ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "0123456789abcdef0123456789abcdef"]) {
      const error = thrown(() => load(service(`relative_uri: /v2/credentials/${segment}`)));
      expect(error.message).toContain("services.app.relative_uri: is guessable");
      expect(error.message).not.toContain(segment);
    }
  });

  test("credproxy's own paths cannot be used", () => {
    expect(thrown(() => load(service("relative_uri: /v1/credentials"))).message).toContain("is a path credproxy already serves");
  });

  test("two services with the same relative_uri are rejected", () => {
    const twice = `aws_defaults: {region: us-east-1}\nservices:\n  a: {relative_uri: /v2/credentials/${ID}, assumed_role: {RoleArn: "${ROLE_ARN}"}}\n  b: {relative_uri: /v2/credentials/${ID}, assumed_role: {RoleArn: "${ROLE_ARN}"}}\n`;
    const error = thrown(() => load(twice));
    expect(error.message).toContain("services.b.relative_uri: has the same value as services.a.relative_uri");
    expect(error.message).not.toContain(ID);
  });
});

describe("server.ecs_metadata", () => {
  test("true means 169.254.170.2 on port 80", () => {
    expect(load(minimal("server: {ecs_metadata: true}\n")).server.ecsMetadata).toEqual({ addresses: ["169.254.170.2"], port: 80 });
  });

  test("an object chooses the addresses and the port", () => {
    expect(load(minimal("server: {ecs_metadata: {addresses: [169.254.170.2, 'fd00:ec2::23'], port: 8080}}\n")).server.ecsMetadata).toEqual({
      addresses: ["169.254.170.2", "fd00:ec2::23"],
      port: 8080,
    });
  });

  test("it is off by default, and other addresses are refused", () => {
    expect(load(minimal()).server.ecsMetadata).toBeUndefined();
    expect(thrown(() => load(minimal("server: {ecs_metadata: {addresses: [10.1.2.3]}}\n"))).message).toContain("server.ecs_metadata.addresses");
  });
});
