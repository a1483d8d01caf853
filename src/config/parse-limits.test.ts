import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode } from "../errors.ts";
import { parseBrokerConfigText } from "./load-broker-config.ts";
import { loadServicesFile, parseConfigText } from "./load.ts";
import { CONFIG_LIMITS, DYNAMIC_FILE_LIMITS } from "./parse-limits.ts";
import { load, minimal, thrown } from "./testing.ts";
import { parseYamlTree } from "./yaml-tree.ts";

const deepMap = (n: number) => `${"{a: ".repeat(n)}1${"}".repeat(n)}`;
const deepSeq = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
const wideMap = (n: number) => `{${Array.from({ length: n }, (_, i) => `k${i}: 1`).join(", ")}}`;

describe("the parsing caps", () => {
  test("nesting past the depth limit is refused with the limit's name and the line and column", () => {
    const error = thrown(() => load(minimal(`x-deep: ${deepMap(3000)}\n`)), ErrorCode.ConfigSyntax);
    expect(error.message).toMatch(/^Cannot parse config\.yaml:8:\d+ as it nests collections more than 64 levels deep \(the config file depth limit\)/);
  });

  test("a deep list is refused the same way, without overflowing the stack", () => {
    expect(thrown(() => load(minimal(`x-deep: ${deepSeq(100_000)}\n`))).message).toContain("more than 64 levels deep");
  });

  test("nesting up to the limit is accepted", () => {
    // the top-level mapping is level 1, so 63 more fit
    expect(parseYamlTree(`x: ${deepMap(63)}\n`, "f.yaml").value).toBeDefined();
  });

  test("more keys than the node limit are refused, pointing at the first one past it", () => {
    const error = thrown(() => parseYamlTree(`x-wide: ${wideMap(CONFIG_LIMITS.maxNodes)}\n`, "f.yaml"), ErrorCode.ConfigSyntax);
    expect(error.message).toMatch(/^Cannot parse f\.yaml:1:\d+ as it holds more than 20000 keys, values and list items \(the config file node limit\)/);
  });

  test("a file over the size limit is refused before it is parsed", () => {
    const error = thrown(() => parseYamlTree(`x: "${"a".repeat(CONFIG_LIMITS.maxBytes)}"\n`, "f.yaml"), ErrorCode.ConfigSyntax);
    expect(error.message).toContain(`over the config file size limit of ${CONFIG_LIMITS.maxBytes} bytes`);
  });

  test("a duplicate key among thousands is found, at the second occurrence", () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `k${i}: 1`);
    keys.push("k17: 2");
    const error = thrown(() => parseYamlTree(`x:\n${keys.map((k) => `  ${k}`).join("\n")}\n`, "f.yaml"), ErrorCode.ConfigSyntax);
    expect(error.message).toContain("f.yaml:5002:3");
    expect(error.message).toContain("unique");
  });

  test("dynamic service files have tighter caps of their own", () => {
    const defaults = { region: "us-east-1" };
    const deep = thrown(() => loadServicesFile("/d/x.yaml", `x-deep: ${deepMap(40)}\nservices: {}\n`, defaults, { env: {} }));
    expect(deep.message).toContain(`more than ${DYNAMIC_FILE_LIMITS.maxDepth} levels deep (the dynamic service file depth limit)`);
    const big = thrown(() => loadServicesFile("/d/x.yaml", `x: "${"a".repeat(DYNAMIC_FILE_LIMITS.maxBytes)}"\n`, defaults, { env: {} }));
    expect(big.message).toContain(`over the dynamic service file size limit of ${DYNAMIC_FILE_LIMITS.maxBytes} bytes`);
  });

  test("the broker config gets the config caps too", () => {
    expect(thrown(() => parseBrokerConfigText(`x: ${deepMap(100)}\n`, "broker.yaml", { env: {} })).message).toContain("the config file depth limit");
  });
});

describe("${fromFile:} of something that is not a small regular file", () => {
  const withDir = (run: (dir: string) => void) => {
    const dir = mkdtempSync(join(tmpdir(), "credproxy-fromfile-"));
    try {
      run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test("a FIFO is refused at once instead of blocking on it", () => {
    withDir((dir) => {
      const fifo = join(dir, "fifo");
      Bun.spawnSync(["mkfifo", fifo]);
      const text = minimal().replace("auth_token: app-token", `auth_token: \${fromFile:${fifo}}`);
      const error = thrown(() => parseConfigTextDefault(text), ErrorCode.ConfigSubstitution);
      expect(error.message).toContain(`file "${fifo}" is not a regular file`);
    });
  });

  test("a directory is refused", () => {
    withDir((dir) => {
      const text = minimal().replace("auth_token: app-token", `auth_token: \${fromFile:${dir}}`);
      expect(thrown(() => parseConfigTextDefault(text)).message).toContain("is not a regular file");
    });
  });

  test("a file over 64 KiB is refused, naming the limit", () => {
    withDir((dir) => {
      writeFileSync(join(dir, "big"), "x".repeat(64 * 1024 + 1));
      const text = minimal().replace("auth_token: app-token", `auth_token: \${fromFile:${join(dir, "big")}}`);
      expect(thrown(() => parseConfigTextDefault(text)).message).toContain("is larger than 65536 bytes (the ${fromFile:…} size limit)");
    });
  });
});

/** parseConfigText with the real file reader (testing.ts's load() reads from memory). */
const parseConfigTextDefault = (text: string) => parseConfigText(text, "config.yaml", { env: {} });
