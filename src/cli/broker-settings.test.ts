import { describe, expect, test } from "bun:test";
import { parseBrokerConfigText } from "../config/load-broker-config.ts";
import { ErrorCode, isCredproxyError } from "../errors.ts";
import { brokerSourceSettings } from "./broker-settings.ts";
import { validateInput as execInput } from "./commands/broker-exec.ts";
import { validateInput as imdsInput } from "./commands/broker-imds.ts";
import { validateInput as serveInput } from "./commands/broker-serve.ts";

const ROLE = "arn:aws:iam::123456789012:role/dev";
const CONFIG = parseBrokerConfigText(
  [
    "profile: from-file",
    `role_arn: ${ROLE}`,
    "region: eu-west-1",
    "duration_seconds: 7200",
    "allow_roles: ['arn:aws:iam::123456789012:role/file-*']",
    "log_level: debug",
    "socket: {path: /run/test/broker.sock, allow_uids: [4242]}",
    "imds: {port: 8080, v1: true}",
    "exec: {isolate_shared_files: true}",
  ].join("\n"),
  "/home/alice/.config/credproxy/broker.yaml",
);

describe("broker settings", () => {
  test("come from the config file when no flag names them", () => {
    const settings = brokerSourceSettings("serve", {}, {}, { defaultLogLevel: "info", config: CONFIG });
    expect(settings).toMatchObject({
      profile: "from-file",
      roleArn: ROLE,
      region: "eu-west-1",
      durationSeconds: 7200,
      allowRoles: ["arn:aws:iam::123456789012:role/file-*"],
      logLevel: "debug",
    });
  });

  test("take each flag over the file, and a repeated --allow-role replaces the file's whole list", () => {
    const settings = brokerSourceSettings(
      "serve",
      { profile: "cli", "role-arn": "arn:aws:iam::123456789012:role/other", region: "us-west-2", duration: "900", "allow-role": ["*"], "log-level": "error" },
      {},
      { defaultLogLevel: "info", config: CONFIG },
    );
    expect(settings).toMatchObject({
      profile: "cli",
      roleArn: "arn:aws:iam::123456789012:role/other",
      region: "us-west-2",
      durationSeconds: 900,
      allowRoles: ["*"],
      logLevel: "error",
    });
  });

  test("rank the environment's log level and region above the file's only where AWS and credproxy always did", () => {
    const env = { CREDPROXY_LOG_LEVEL: "warn", AWS_REGION: "ap-south-1" };
    const settings = brokerSourceSettings("serve", {}, env, { defaultLogLevel: "info", config: CONFIG });
    expect(settings.logLevel).toBe("warn");
    // The file names a region for credproxy on purpose; AWS_REGION is only the machine's default.
    expect(settings.region).toBe("eu-west-1");
  });

  test("fall back to the defaults with neither flag nor file", () => {
    const settings = brokerSourceSettings("exec", {}, {}, { defaultLogLevel: "warn", config: parseBrokerConfigText("", "/c/b.yaml") });
    expect(settings).toMatchObject({ roleArn: undefined, profile: undefined, region: "us-east-1", durationSeconds: 3600, allowRoles: [], logLevel: "warn" });
  });

  test("say which flag is wrong and how to fix it, as a usage error", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ "role-arn": "dev" }, 'broker serve: --role-arn "dev" is not an IAM role ARN'],
      [{ "role-arn": "" }, "broker serve: --role-arn is empty"],
      [{ duration: "60" }, 'broker serve: invalid --duration "60"'],
      [{ region: "EU WEST" }, 'broker serve: invalid region "EU WEST"'],
      [{ "allow-role": ["dev-*"] }, 'broker serve: invalid --allow-role "dev-*"'],
      [{ "mfa-token": "12" }, "broker serve: --mfa-token must be the 6-digit code"],
      [{ config: "" }, "broker serve: --config is empty"],
    ];
    for (const [values, message] of cases) {
      let error: unknown;
      try {
        brokerSourceSettings("serve", values, {}, { defaultLogLevel: "info", config: CONFIG });
      } catch (e) {
        error = e;
      }
      expect(isCredproxyError(error, ErrorCode.Usage)).toBe(true);
      expect((error as Error).message).toContain(message);
    }
  });
});

describe("each broker command with a config file", () => {
  test("serve takes the socket and the allowed uids from it; flags replace both", () => {
    const input = serveInput([], {}, CONFIG);
    expect(input.socket).toBe("/run/test/broker.sock");
    expect(input.policy.explain()).toBe("uid 4242");
    expect(serveInput(["--socket", "/run/other.sock", "--allow-uid", "7"], {}, CONFIG).policy.explain()).toBe("uid 7");
  });

  test("imds takes the port and IMDSv1 from it, and --no-imds-v1 switches v1 off again", () => {
    const input = imdsInput([], {}, CONFIG);
    expect(input).toMatchObject({ port: 8080, imdsV1: true, address: "169.254.169.254", allowRoles: [] });
    expect(imdsInput(["--no-imds-v1", "--port", "80"], {}, CONFIG)).toMatchObject({ port: 80, imdsV1: false });
  });

  test("exec --imds listens where the imds block says; without --imds there is no IMDS", () => {
    const withImds = parseBrokerConfigText("imds: {address: 127.0.0.5, port: 8080, v1: true}\n", "/c/broker.yaml");
    expect(execInput(["--imds", "--", "true"], {}, withImds).imds).toEqual({ address: "127.0.0.5", port: 8080, imdsV1: true });
    expect(execInput(["--", "true"], {}, withImds).imds).toBe(false);
  });

  test("exec takes isolate_shared_files from it, and --no-isolate-shared-files overrides the file", () => {
    expect(execInput(["--", "true"], {}, CONFIG)).toMatchObject({ isolateSharedFiles: true, command: ["true"] });
    expect(execInput(["--no-isolate-shared-files", "--", "true"], {}, CONFIG).isolateSharedFiles).toBe(false);
  });
});

describe("a bad value in the config file", () => {
  const bad = (text: string) => parseBrokerConfigText(text, "/c/broker.yaml");

  test("is a config error naming the file and key (exit 1), not a usage error", () => {
    const cases: [() => unknown, string][] = [
      [() => imdsInput([], {}, bad("imds: {address: 0.0.0.0}\n")), "Invalid config /c/broker.yaml: imds.address: 0.0.0.0 is not the address of one host"],
      [() => imdsInput([], {}, bad("imds: {address: nope}\n")), 'Invalid config /c/broker.yaml: imds.address: invalid address "nope"'],
      [() => serveInput([], {}, bad(`socket: {path: /${"x".repeat(120)}}\n`)), "Invalid config /c/broker.yaml: socket.path: "],
      [() => serveInput([], {}, bad("socket: {allow_exes: [/nonexistent/tool]}\n")), "Invalid config /c/broker.yaml: socket.allow_exes[0]: "],
    ];
    for (const [run, message] of cases) {
      let error: unknown;
      try {
        run();
      } catch (e) {
        error = e;
      }
      expect(isCredproxyError(error, ErrorCode.ConfigInvalid)).toBe(true);
      expect((error as Error).message).toStartWith(message);
    }
  });

  test("while the same mistake in a flag stays a usage error", () => {
    expect(() => imdsInput(["--address", "::ffff:0.0.0.0"], {})).toThrow("--address ::ffff:0.0.0.0 is not the address of one host");
    expect(() => imdsInput(["--address", "::"], {})).toThrow("is not the address of one host");
    expect(() => imdsInput(["--address", "224.0.0.1"], {})).toThrow("is not the address of one host");
    expect(() => serveInput(["--socket", ""], {})).toThrow("--socket is empty");
  });
});

describe("serve's /proc-based checks", () => {
  test("are refused up front where there is no /proc, naming the flag", () => {
    expect(() => serveInput(["--allow-exe", "/bin/sh"], {}, undefined, "darwin")).toThrow("--allow-exe needs Linux's /proc");
    expect(() => serveInput(["--allow-descendants-of", String(process.pid)], {}, undefined, "darwin")).toThrow("--allow-descendants-of needs Linux's /proc");
  });

  test("remember when the ancestor started, so a reused pid admits nobody", () => {
    const input = serveInput(["--allow-descendants-of", String(process.pid)], {});
    expect(input.policy.descendantOf).toBe(process.pid);
    expect(input.policy.descendantStart).toMatch(/^\d+$/);
  });
});
