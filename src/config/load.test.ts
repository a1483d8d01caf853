import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ErrorCode } from "../errors.ts";
import { loadConfig } from "./load.ts";
import { load, memoryFiles, minimal, rejected, ROLE_ARN, thrown, yaml } from "./testing.ts";

const FIXTURE = resolve(import.meta.dir, "../../test/fixtures/config/full.yaml");

describe("a CredProxy-compatible config", () => {
  test("using every documented key loads, with each value where it belongs", async () => {
    const files = memoryFiles({ "/run/secrets/worker-token": "worker-token-9Qm4Xr7Lz2Wk8Vn5B\n" });
    const config = await loadConfig(FIXTURE, {
      env: { WEB_APP_TOKEN: "web-token-9Qm4Xr7Lz2Wk8Vn5B" },
      readFile: (path) => (path === FIXTURE ? require("node:fs").readFileSync(path, "utf8") : files(path)),
    });
    expect(config.file).toBe(FIXTURE);
    expect(config.server).toEqual({ host: "127.0.0.1", port: 1338, debug: false, logHealthChecks: false, healthDetails: "local" });
    expect(config.credentials).toEqual({ refreshBufferSeconds: 300, retryDelaySeconds: 60, requestTimeoutSeconds: 30 });
    expect(config.services.map((s) => [s.name, s.authToken, s.region])).toEqual([
      ["web-app", "web-token-9Qm4Xr7Lz2Wk8Vn5B", "eu-west-1"],
      ["worker", "worker-token-9Qm4Xr7Lz2Wk8Vn5B", "us-east-1"],
    ]);
    const [web, worker] = config.services;
    expect(web?.source).toEqual({ kind: "profile", profile: "default", configFile: "/credproxy/.aws/config", credentialsFile: undefined });
    expect(web?.assumeRole).toMatchObject({ RoleSessionName: "web-app-session", DurationSeconds: 3600, ExternalId: "unique-external-id" });
    expect(worker?.source).toEqual({ kind: "static", accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", sessionToken: "FwoGZXIvYXdzEXAMPLE" });
    expect(worker?.assumeRole).toMatchObject({
      RoleArn: "arn:aws:iam::123456789012:role/path/to/WorkerRole",
      PolicyArns: [{ arn: "arn:aws:iam::aws:policy/ReadOnlyAccess" }],
      Tags: [{ Key: "team", Value: "data" }],
      TransitiveTagKeys: ["team"],
      TokenCode: "123456",
      SourceIdentity: "worker",
    });
    expect(JSON.parse(worker!.assumeRole.Policy!).Version).toBe("2012-10-17");
    expect(config.dynamicServices).toEqual({
      enabled: true,
      directories: [{ path: "/credproxy/dynamic", include: ["^dev-.*\\.yaml$"], exclude: ["^\\..*"], allowGroupWritable: false }],
      reloadIntervalSeconds: 5,
    });
    expect(config.metrics).toEqual({ enabled: true, listener: { host: "0.0.0.0", port: 9090 } });
    // The fixture names /credproxy/.aws/config, a container path: where it is missing, validate says so.
    expect(config.warnings).toEqual(
      require("node:fs").existsSync("/credproxy/.aws/config")
        ? []
        : ["services.web-app.source_credentials.iam_profile.config_file: /credproxy/.aws/config does not exist; profile 'default' cannot be loaded until it can be read"],
    );
  });

  test("gets every default from the schema when it sets only a service", () => {
    const config = load(minimal());
    expect(config.server).toEqual({ host: "127.0.0.1", port: 1338, debug: false, logHealthChecks: false, healthDetails: "local" });
    expect(config.credentials).toEqual({ refreshBufferSeconds: 300, retryDelaySeconds: 60, requestTimeoutSeconds: 30 });
    expect(config.services[0]?.assumeRole).toMatchObject({ RoleArn: ROLE_ARN, RoleSessionName: "credproxy", DurationSeconds: 3600 });
    expect(config.services[0]?.source).toEqual({ kind: "default-chain" });
    expect(config.dynamicServices).toEqual({ enabled: false, directories: [{ path: "/credproxy/dynamic", include: [], exclude: [], allowGroupWritable: false }], reloadIntervalSeconds: 5 });
    expect(config.metrics).toEqual({ enabled: true, listener: undefined });
  });

  test("is also accepted as JSON", () => {
    const json = JSON.stringify({
      server: { port: 8080, debug: true },
      aws_defaults: { region: "us-east-1" },
      services: { app: { auth_token: "0829174635", source_credentials: {}, assumed_role: { RoleArn: ROLE_ARN, DurationSeconds: 900 } } },
    });
    const config = load(json);
    expect(config.server.port).toBe(8080);
    expect(config.server.debug).toBe(true);
    expect(config.services[0]?.authToken).toBe("0829174635");
    expect(config.services[0]?.assumeRole.DurationSeconds).toBe(900);
  });

  test("may name its schema with a $schema key for editors", () => {
    expect(load(minimal("$schema: ./credproxy.schema.json")).services).toHaveLength(1);
  });

  test("is deeply frozen once loaded", () => {
    const config = load(minimal());
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.services[0]?.assumeRole)).toBe(true);
    expect(Object.isFrozen(config.dynamicServices.directories[0]?.include)).toBe(true);
  });
});

describe("values are typed by the schema, not by YAML", () => {
  test("a port can come from ${fromEnv:PORT}", () => {
    expect(load(minimal("server:\n  port: ${fromEnv:PORT}"), { env: { PORT: "8080" } }).server.port).toBe(8080);
  });

  test("a flag can come from ${fromEnv:DEBUG}", () => {
    expect(load(minimal("server:\n  debug: ${fromEnv:DEBUG}"), { env: { DEBUG: "true" } }).server.debug).toBe(true);
  });

  test("a token that looks like a number keeps its leading zero", () => {
    const text = minimal().replace("auth_token: app-token-9Qm4Xr7Lz2Wk8Vn5B", "auth_token: 0829174635");
    expect(load(text).services[0]?.authToken).toBe("0829174635");
  });

  test("tag values and external IDs that look like numbers or booleans stay strings", () => {
    const config = load(minimal().replace(`RoleArn: ${ROLE_ARN}`, `RoleArn: ${ROLE_ARN}\n      ExternalId: 00042\n      Tags: [{Key: on, Value: true}]`));
    expect(config.services[0]?.assumeRole.ExternalId).toBe("00042");
    expect(config.services[0]?.assumeRole.Tags).toEqual([{ Key: "on", Value: "true" }]);
  });

  for (const [word, value] of [["yes", true], ["True", true], ["ON", true], ["no", false], ["FALSE", false], ["off", false]] as const) {
    test(`the YAML 1.1 boolean "${word}" is read as ${value}`, () => {
      expect(load(minimal(`server:\n  log_health_checks: ${word}`)).server.logHealthChecks).toBe(value);
    });
  }

  test("a word that is no boolean is rejected where a boolean is expected", () => {
    const error = thrown(() => load(minimal("server:\n  debug: maybe")), ErrorCode.ConfigInvalid);
    expect(error.message).toContain('server.debug: must be true or false; current value is "maybe"');
  });

  test("a key without a value means the default", () => {
    const config = load(minimal("server:\n  host:\n  port: ~\ncredentials:\nmetrics:\n  prometheus:\n    port: null"));
    expect(config.server).toMatchObject({ host: "127.0.0.1", port: 1338 });
    expect(config.credentials.refreshBufferSeconds).toBe(300);
    expect(config.metrics.listener).toEqual({ host: "127.0.0.1", port: 9090 });
  });

  test('a quoted "null" is a string, not an empty value', () => {
    const error = thrown(() => load(minimal('server:\n  port: "null"')), ErrorCode.ConfigInvalid);
    expect(error.message).toContain("server.port: must be a whole number");
  });

  test("YAML anchors and merge keys work, with a top-level x- key holding the shared part", () => {
    const config = load(yaml`
      aws_defaults: {region: us-east-1}
      x-base: &base
        assumed_role: {RoleArn: "${ROLE_ARN}", DurationSeconds: 7200}
      services:
        a:
          <<: *base
          auth_token: token-a-9Qm4Xr7Lz2Wk8Vn5B
        b:
          <<: *base
          auth_token: token-b-9Qm4Xr7Lz2Wk8Vn5B
    `);
    expect(config.services.map((s) => [s.name, s.assumeRole.DurationSeconds])).toEqual([["a", 7200], ["b", 7200]]);
  });
});

describe("server and metrics", () => {
  test("host localhost means 127.0.0.1 and any other host is kept", () => {
    expect(load(minimal("server:\n  host: LOCALHOST")).server.host).toBe("127.0.0.1");
    expect(load(minimal("server:\n  host: 0.0.0.0")).server.host).toBe("0.0.0.0");
  });

  test("a prometheus section opens a separate listener, on 127.0.0.1:9090 by default", () => {
    expect(load(minimal("metrics:\n  prometheus: {}")).metrics).toEqual({ enabled: true, listener: { host: "127.0.0.1", port: 9090 } });
    expect(load(minimal("metrics:\n  prometheus: {host: localhost, port: 9100}")).metrics.listener).toEqual({ host: "127.0.0.1", port: 9100 });
  });

  test("disabled metrics have no listener", () => {
    expect(load(minimal("metrics:\n  prometheus:\n    enabled: false\n    port: 9100")).metrics).toEqual({ enabled: false, listener: undefined });
  });

  test("CREDPROXY_LOG_HEALTH_CHECKS turns health-check logging on, as in CredProxy", () => {
    expect(load(minimal(), { env: { CREDPROXY_LOG_HEALTH_CHECKS: "yes" } }).server.logHealthChecks).toBe(true);
    expect(load(minimal(), { env: { CREDPROXY_LOG_HEALTH_CHECKS: "nope" } }).server.logHealthChecks).toBe(false);
    expect(load(minimal(), { env: { CREDPROXY_NAMESPACE: "MYAPP_", MYAPP_LOG_HEALTH_CHECKS: "1" } }).server.logHealthChecks).toBe(true);
  });
});

describe("reading the file", () => {
  test("a config on disk is read and its absolute path recorded", async () => {
    const dir = mkdtempSync(join(tmpdir(), "credproxy-config-"));
    const file = join(dir, "config.json");
    writeFileSync(file, JSON.stringify({ aws_defaults: { region: "us-east-1" }, services: { app: { auth_token: "t-9Qm4Xr7Lz2Wk8Vn5B", assumed_role: { RoleArn: ROLE_ARN } } } }));
    const config = await loadConfig(file, { env: {} });
    expect(config.file).toBe(file);
    expect(config.services[0]?.name).toBe("app");
  });

  test("a missing file fails with its path and a hint about --config and CREDPROXY_CONFIG_FILE", async () => {
    const error = await rejected(loadConfig("/nonexistent/credproxy.yaml", { env: {} }), ErrorCode.ConfigUnreadable);
    expect(error.message).toBe("Cannot read config file /nonexistent/credproxy.yaml as it does not exist");
    expect(error.hint).toContain("--config");
    expect(error.hint).toContain("CREDPROXY_CONFIG_FILE");
  });

  test("the hint follows CREDPROXY_NAMESPACE", async () => {
    const error = await rejected(loadConfig("/nonexistent.yaml", { env: { CREDPROXY_NAMESPACE: "MYAPP_" } }), ErrorCode.ConfigUnreadable);
    expect(error.hint).toContain("MYAPP_CONFIG_FILE");
  });

  test("a directory given as the config file is reported as such", async () => {
    const error = await rejected(loadConfig(tmpdir(), { env: {} }), ErrorCode.ConfigUnreadable);
    expect(error.message).toContain("it is a directory");
  });

  test("an empty file is invalid", () => {
    expect(thrown(() => load("# nothing here\n"), ErrorCode.ConfigInvalid).message).toContain("the file is empty");
  });

  test("a file whose top level is a list is invalid", () => {
    expect(thrown(() => load("- a\n- b\n"), ErrorCode.ConfigInvalid).message).toContain("does not hold a mapping");
  });
});

describe("malformed YAML", () => {
  test("is a syntax error with line and column", () => {
    const error = thrown(() => load("server:\n  port: 1338\nservices: [\n  app\n"), ErrorCode.ConfigSyntax);
    expect(error.message).toMatch(/^Cannot parse config\.yaml:\d+:\d+ as YAML: /);
  });

  test("points at the bad line without quoting it, as the line may hold a secret", () => {
    const error = thrown(() => load("server:\n  port: 1\nservices:\n  app:\n    auth_token: hunter2: secret\n"), ErrorCode.ConfigSyntax);
    expect(error.message).toContain("config.yaml:5:");
    expect(error.message).not.toContain("hunter2");
  });

  test("an unclosed quote is a syntax error that does not echo the quoted text", () => {
    const error = thrown(() => load('services:\n  app:\n    auth_token: "hunter2-secret\n'), ErrorCode.ConfigSyntax);
    expect(error.message).toMatch(/config\.yaml:\d+:\d+/);
    expect(error.message).not.toContain("hunter2");
  });

  test("a key written twice is a syntax error at the second one", () => {
    const error = thrown(() => load("server:\n  port: 1\n  port: 2\n"), ErrorCode.ConfigSyntax);
    expect(error.message).toContain("config.yaml:3:3");
    expect(error.message).toContain("unique");
  });

  test("several documents in one file are rejected", () => {
    thrown(() => load(minimal() + "---\nserver: {}\n"), ErrorCode.ConfigSyntax);
  });
});
