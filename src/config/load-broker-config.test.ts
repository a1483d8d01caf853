import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { brokerConfigLocation, loadBrokerConfig, NO_BROKER_CONFIG, parseBrokerConfigText } from "./load-broker-config.ts";

const ROLE = "arn:aws:iam::123456789012:role/dev";

function thrown(run: () => unknown): CredproxyError {
  try {
    run();
  } catch (error) {
    if (error instanceof CredproxyError) return error;
    throw error;
  }
  throw new Error("expected a CredproxyError");
}

/** A regular file of `uid` with `mode` holding `text`, as openOwnedFile() would report it. */
const fileOf = (uid: number, mode: number, text = `role_arn: ${ROLE}\n`) => () => ({ uid, mode: 0o100000 | mode, regular: true, text });

describe("a broker config file", () => {
  test("puts every key where the broker commands read it, with relative socket paths taken from the file's directory", () => {
    const config = parseBrokerConfigText(
      [
        "profile: dev",
        `role_arn: ${ROLE}`,
        "region: eu-west-1",
        "duration_seconds: 7200",
        "mfa_serial: arn:aws:iam::123456789012:mfa/alice",
        "allow_roles:",
        "  - arn:aws:iam::123456789012:role/dev-*",
        "log_level: debug",
        "socket:",
        "  path: run/broker.sock",
        "  allow_uids: [1000, 1001]",
        "  allow_exes: [/usr/bin/python3]",
        "imds: {address: 169.254.169.254, port: 8080, v1: yes}",
        "exec: {isolate_shared_files: true}",
      ].join("\n"),
      "/home/alice/.config/credproxy/broker.yaml",
    );
    expect(config).toEqual({
      file: "/home/alice/.config/credproxy/broker.yaml",
      profile: "dev",
      roleArn: ROLE,
      region: "eu-west-1",
      durationSeconds: 7200,
      mfaSerial: "arn:aws:iam::123456789012:mfa/alice",
      allowRoles: ["arn:aws:iam::123456789012:role/dev-*"],
      logLevel: "debug",
      socket: { path: "/home/alice/.config/credproxy/run/broker.sock", allowUids: [1000, 1001], allowExes: ["/usr/bin/python3"] },
      imds: { address: "169.254.169.254", port: 8080, v1: true },
      exec: { isolateSharedFiles: true },
    });
    expect(Object.isFrozen(config.socket.allowUids)).toBe(true);
  });

  test("reads ~/ in socket.path as the home directory", () => {
    const config = parseBrokerConfigText("socket: {path: ~/.cache/broker.sock}\n", "/etc/credproxy/broker.yaml", { env: { HOME: "/home/alice" } });
    expect(config.socket.path).toBe("/home/alice/.cache/broker.sock");
    expect(() => parseBrokerConfigText("socket: {path: ~/x.sock}\n", "/c/b.yaml", { env: {} })).toThrow("starts with ~/ but HOME is not set");
    expect(() => parseBrokerConfigText("socket: {path: ~bob/x.sock}\n", "/c/b.yaml")).toThrow("~user is not supported");
    // A bare ~ is YAML's null: the key is unset, as an empty value is everywhere in credproxy's configs.
    expect(parseBrokerConfigText("socket: {path: ~}\n", "/c/b.yaml").socket.path).toBeUndefined();
  });

  test("can be read for one section alone, ignoring what the others would need", () => {
    const text = "role_arn: ${fromEnv:ROLE_FOR_SERVE}\nsocket: {path: /run/b.sock}\n";
    expect(() => parseBrokerConfigText(text, "/c/broker.yaml", { env: {} })).toThrow("ROLE_FOR_SERVE");
    const socketOnly = parseBrokerConfigText(text, "/c/broker.yaml", { env: {}, only: ["socket"] });
    expect(socketOnly.socket.path).toBe("/run/b.sock");
    expect(socketOnly.roleArn).toBeUndefined();
  });

  test("may be empty or hold only comments, and then sets nothing", () => {
    const config = parseBrokerConfigText("# nothing yet\n", "/c/broker.yaml");
    expect(config.roleArn).toBeUndefined();
    expect(config.allowRoles).toBeUndefined();
    expect(config.socket).toEqual({ path: undefined, allowUids: undefined, allowExes: undefined });
  });

  test("takes ${fromEnv:…} like the serve config does", () => {
    const config = parseBrokerConfigText("role_arn: ${fromEnv:ROLE}\n", "/c/broker.yaml", { env: { ROLE } });
    expect(config.roleArn).toBe(ROLE);
  });

  test("reports every mistake at once with its line, key path and a did-you-mean", () => {
    const error = thrown(() =>
      parseBrokerConfigText(["role_arn: dev", "allow_role:", "  - arn:aws:iam::1:role/x", "duration_seconds: 60", "socket: {allow_uids: [alice]}"].join("\n"), "/c/broker.yaml"),
    );
    expect(error.code).toBe(ErrorCode.ConfigInvalid);
    expect(error.message).toContain("/c/broker.yaml:1:11: role_arn");
    expect(error.message).toMatch(/allow_role.*allow_roles/);
    expect(error.message).toContain("/c/broker.yaml:4:19: duration_seconds");
    expect(error.message).toContain("socket.allow_uids[0]");
  });

  test("does not offer exec.imds: IMDS has no token, so it is asked for on each command line", () => {
    expect(thrown(() => parseBrokerConfigText("exec: {imds: true}\n", "/c/broker.yaml")).message).toContain("/c/broker.yaml:1:8: exec.imds: unknown key");
  });

  test("rejects an /role-arn/ pattern that is not an ARN pattern", () => {
    expect(thrown(() => parseBrokerConfigText("allow_roles: [dev-*]\n", "/c/broker.yaml")).message).toContain("allow_roles[0]");
  });
});

describe("finding the broker config", () => {
  test("prefers --config, then CREDPROXY_BROKER_CONFIG, then the XDG default, which may be absent", () => {
    expect(brokerConfigLocation("b.yaml", { CREDPROXY_BROKER_CONFIG: "/e.yaml" })).toEqual({ path: join(process.cwd(), "b.yaml"), explicit: true });
    expect(brokerConfigLocation(undefined, { CREDPROXY_BROKER_CONFIG: "/e.yaml", HOME: "/h" })).toEqual({ path: "/e.yaml", explicit: true });
    expect(brokerConfigLocation(undefined, { XDG_CONFIG_HOME: "/x", HOME: "/h" })).toEqual({ path: "/x/credproxy/broker.yaml", explicit: false });
    expect(brokerConfigLocation(undefined, { XDG_CONFIG_HOME: "relative", HOME: "/h" })).toEqual({ path: "/h/.config/credproxy/broker.yaml", explicit: false });
    expect(brokerConfigLocation(undefined, {})).toBeUndefined();
  });

  test("is no config at all when the default file does not exist, but an error when a named one does not", () => {
    const missing = "/nonexistent/credproxy/broker.yaml";
    expect(loadBrokerConfig({ path: missing, explicit: false })).toBe(NO_BROKER_CONFIG);
    const error = thrown(() => loadBrokerConfig({ path: missing, explicit: true }));
    expect(error.code).toBe(ErrorCode.ConfigUnreadable);
    expect(error.message).toBe(`Cannot read broker config ${missing} as it does not exist`);
    expect(error.hint).toContain("--config PATH");
  });

  test("is refused when other users could have written it, since it decides who gets credentials", () => {
    const at = { path: "/c/broker.yaml", explicit: true };
    expect(loadBrokerConfig(at, { open: fileOf(1000, 0o600), uid: 1000 }).roleArn).toBe(ROLE);
    expect(loadBrokerConfig(at, { open: fileOf(0, 0o644), uid: 1000 }).roleArn).toBe(ROLE);
    const writable = thrown(() => loadBrokerConfig(at, { open: fileOf(1000, 0o664), uid: 1000 }));
    expect(writable.message).toBe("Cannot use broker config /c/broker.yaml as other users may write to it (mode 0664)");
    expect(writable.hint).toContain("chmod go-w /c/broker.yaml");
    const foreign = thrown(() => loadBrokerConfig(at, { open: fileOf(1001, 0o600), uid: 1000 }));
    expect(foreign.message).toContain("belongs to uid 1001");
    const sudo = thrown(() => loadBrokerConfig(at, { open: fileOf(501, 0o600), uid: 0, env: { SUDO_UID: "501" } }));
    expect(sudo.hint).toContain("sudo -H");
  });

  test("reads a real file of one's own from disk", () => {
    const dir = mkdtempSync(join(tmpdir(), "credproxy-broker-config-"));
    try {
      const path = join(dir, "broker.yaml");
      writeFileSync(path, "socket:\n  path: broker.sock\n");
      chmodSync(path, 0o600);
      expect(loadBrokerConfig({ path, explicit: true }).socket.path).toBe(join(dir, "broker.sock"));
      chmodSync(path, 0o666);
      expect(() => loadBrokerConfig({ path, explicit: true })).toThrow("other users may write to it (mode 0666)");
      const fifo = join(dir, "fifo.yaml");
      Bun.spawnSync(["mkfifo", fifo]);
      expect(() => loadBrokerConfig({ path: fifo, explicit: true })).toThrow(`Cannot read broker config ${fifo} as it is not a regular file`);
      expect(() => loadBrokerConfig({ path: dir, explicit: true })).toThrow("as it is not a regular file");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
