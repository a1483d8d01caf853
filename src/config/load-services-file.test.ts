import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode } from "../errors.ts";
import { loadServicesFile } from "./load-services-file.ts";
import { ROLE_ARN, thrown } from "./testing.ts";

const defaults = { region: "us-east-1", sts_endpoint: "http://127.0.0.1:1/" };
const file = "/dyn/svc.yaml";
const service = (lines: string) => `services:\n  dyn:\n    auth_token: dyn-token-0123456789\n    assumed_role: {RoleArn: "${ROLE_ARN}"}\n${lines}`;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "credproxy-dynload-"));
  dirs.push(dir);
  return dir;
}

describe("a dynamic service file may not set connection settings", () => {
  test.each([
    ["sts_endpoint", "    source_credentials: {sts_endpoint: 'http://attacker.example/'}\n", "services.dyn.source_credentials.sts_endpoint"],
    ["iam_profile.config_file", "    source_credentials: {iam_profile: {profile_name: x, config_file: /tmp/evil}}\n", "services.dyn.source_credentials.iam_profile.config_file"],
    ["iam_profile.credentials_file", "    source_credentials: {iam_profile: {profile_name: x, credentials_file: /tmp/evil}}\n", "services.dyn.source_credentials.iam_profile.credentials_file"],
  ])("%s is refused with its line and a pointer to the main config", (_name, lines, path) => {
    const error = thrown(() => loadServicesFile(file, service(lines), defaults, { env: {} }), ErrorCode.ConfigInvalid);
    expect(error.message).toContain(`${file}:5:`);
    expect(error.message).toContain(`${path}: is a connection setting and only the main config may set it`);
  });

  test("is refused before any ${fromFile:} in it is read", () => {
    const secrets = tempDir();
    writeFileSync(join(secrets, "key"), "SECRETKEY");
    const reads: string[] = [];
    const text = service(`    source_credentials: {sts_endpoint: "http://x.example/\${fromFile:${secrets}/key}"}\n`);
    const error = thrown(() => loadServicesFile(file, text, defaults, { env: {}, secretsDirectory: secrets, onRead: (p) => reads.push(p) }));
    expect(error.message).toContain("is a connection setting");
    expect(error.message).not.toContain("SECRETKEY");
    expect(reads).toEqual([]);
  });

  test("the main config's sts_endpoint still applies to the file's services", () => {
    expect(loadServicesFile(file, service(""), defaults, { env: {} })[0]?.stsEndpoint).toBe("http://127.0.0.1:1/");
  });
});

describe("substitution in dynamic service files", () => {
  test("is off without a secrets_directory, and says how to turn it on", () => {
    const text = service("").replace("dyn-token-0123456789", "${fromFile:/etc/shadow}");
    const error = thrown(() => loadServicesFile(file, text, defaults, { env: {} }), ErrorCode.ConfigSubstitution);
    expect(error.message).toContain("as substitution is off here");
    expect(error.hint).toContain("secrets_directory");
  });

  test("never expands ${fromEnv:}, even with a secrets_directory", () => {
    const text = service("").replace("dyn-token-0123456789", "${fromEnv:AWS_SECRET_ACCESS_KEY}");
    const error = thrown(() => loadServicesFile(file, text, defaults, { env: { AWS_SECRET_ACCESS_KEY: "topsecret" }, secretsDirectory: tempDir() }));
    expect(error.message).toContain("only ${fromFile:…} references are allowed here");
    expect(error.message).not.toContain("topsecret");
  });

  test("reads a file of the secrets_directory, by absolute or relative path", () => {
    const secrets = tempDir();
    writeFileSync(join(secrets, "tok"), "token-from-secret-dir\n");
    for (const ref of [join(secrets, "tok"), "tok"]) {
      const text = service("").replace("dyn-token-0123456789", `\${fromFile:${ref}}`);
      expect(loadServicesFile(file, text, defaults, { env: {}, secretsDirectory: secrets })[0]?.authToken).toBe("token-from-secret-dir");
    }
  });

  test("refuses a file outside the secrets_directory, also through a symlink or ..", () => {
    const root = tempDir();
    const secrets = join(root, "secrets");
    mkdirSync(secrets);
    writeFileSync(join(root, "outside"), "OUTSIDE-SECRET");
    symlinkSync(join(root, "outside"), join(secrets, "link"));
    for (const ref of [join(root, "outside"), join(secrets, "link"), "../outside"]) {
      const text = service("").replace("dyn-token-0123456789", `\${fromFile:${ref}}`);
      const error = thrown(() => loadServicesFile(file, text, defaults, { env: {}, secretsDirectory: secrets }), ErrorCode.ConfigSubstitution);
      expect(error.message).toContain("is not inside the directory's secrets_directory");
      expect(error.message).not.toContain("OUTSIDE-SECRET");
    }
  });

  test("refuses a FIFO in the secrets_directory without blocking", () => {
    const secrets = tempDir();
    Bun.spawnSync(["mkfifo", join(secrets, "fifo")]);
    const text = service("").replace("dyn-token-0123456789", "${fromFile:fifo}");
    expect(thrown(() => loadServicesFile(file, text, defaults, { env: {}, secretsDirectory: secrets })).message).toContain("is not a regular file");
  });
});
