import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CredentialSpec } from "./config/proxy-config.ts";
import { CredentialValues } from "./credential-values.ts";

const dir = mkdtempSync(join(tmpdir(), "credential-values-"));

function template(name: string, text: string, files: string[] = []): CredentialSpec {
  return { name, hosts: [], header: "Authorization", allowPlaintext: false, placeholder: undefined, requirePlaceholder: false, placeholderInBody: false, env: undefined, value: { kind: "template", template: text, files } };
}

function command(name: string, script: string, ttlSeconds = 300, format = "Bearer {}"): CredentialSpec {
  const path = join(dir, `${name}.sh`);
  writeFileSync(path, `#!/bin/sh\n${script}\n`);
  chmodSync(path, 0o755);
  return { name, hosts: [], header: "Authorization", allowPlaintext: false, placeholder: undefined, requirePlaceholder: false, placeholderInBody: false, env: undefined, value: { kind: "command", argv: [path], format, ttlSeconds, timeoutMs: 2000 } };
}

describe("CredentialValues", () => {
  test("expands ${fromEnv:} at use, and drops a token file's final newline", async () => {
    const file = join(dir, "token");
    writeFileSync(file, "from-file\n");
    const values = new CredentialValues({ env: { TOKEN: "from-env" } });
    expect(await values.value(template("a", "Bearer ${fromEnv:TOKEN}"))).toBe("Bearer from-env");
    expect(await values.value(template("b", `Bearer \${fromFile:${file}}`, [file]))).toBe("Bearer from-file");
  });

  test("a file read is kept until its stat changes, looked at at most once a second", async () => {
    const file = join(dir, "rotating");
    writeFileSync(file, "one");
    let now = 1_000_000;
    const values = new CredentialValues({ env: {}, now: () => now });
    const spec = template("r", `\${fromFile:${file}}`, [file]);
    expect(await values.value(spec)).toBe("one");
    writeFileSync(file, "two-longer");
    expect(await values.value(spec)).toBe("one");
    now += 1_001;
    expect(await values.value(spec)).toBe("two-longer");
  });

  test("refresh() forgets the files read, so the next use reads them again", async () => {
    const file = join(dir, "refreshed");
    writeFileSync(file, "old");
    const values = new CredentialValues({ env: {}, now: () => 5 });
    const spec = template("f", `\${fromFile:${file}}`, [file]);
    expect(await values.value(spec)).toBe("old");
    writeFileSync(file, "new");
    values.refresh(spec);
    expect(await values.value(spec)).toBe("new");
  });

  test("a value with a line break inside is refused, naming the credential only", async () => {
    const values = new CredentialValues({ env: { V: "a\r\nX-Evil: 1" } });
    await expect(values.value(template("split", "${fromEnv:V}"))).rejects.toThrow('credential "split": its value contains a line break');
  });

  test("a command's JSON Value is formatted and cached until Expiration less a minute", async () => {
    const counter = join(dir, "count");
    let now = Date.parse("2030-01-01T00:00:00Z");
    const values = new CredentialValues({ now: () => now });
    const spec = command("json", `echo x >> ${counter}; echo '{"Value": "v1", "Expiration": "2030-01-01T00:10:00Z"}'`);
    expect(await values.value(spec)).toBe("Bearer v1");
    now += 8 * 60_000;
    expect(await values.value(spec)).toBe("Bearer v1");
    now += 60_000; // within a minute of Expiration
    await values.value(spec);
    expect((await Bun.file(counter).text()).trim().split("\n")).toHaveLength(2);
  });

  test("a bare line is the value, kept for ttl_seconds", async () => {
    const values = new CredentialValues();
    expect(await values.value(command("bare", "echo plain-value", 60, "{}"))).toBe("plain-value");
  });

  test("a failing, silent or hanging command is an error naming it, never its output", async () => {
    const values = new CredentialValues();
    await expect(values.value(command("fails", "echo secret-ish >&2; exit 3"))).rejects.toThrow("exited with status 3");
    await expect(values.value(command("silent", "true"))).rejects.toThrow("printed nothing");
    await expect(values.value(command("badjson", "echo '{nope'"))).rejects.toThrow("not JSON");
    const slow = command("slow", "exec sleep 5");
    (slow.value as { timeoutMs: number }).timeoutMs = 100;
    await expect(values.value(slow)).rejects.toThrow("did not finish within 100 ms");
  });
});
