import { describe, expect, test } from "bun:test";
import { CredproxyError } from "../errors.ts";
import { logOutput } from "./log-output.ts";

describe("logOutput", () => {
  test("each command keeps its own default format", () => {
    expect(logOutput("serve", {}, "json")).toEqual({ format: "json", dev: false });
    expect(logOutput("broker exec", {}, "text")).toEqual({ format: "dev", dev: false });
  });

  test("--log-format chooses, and --dev means text at debug level", () => {
    expect(logOutput("serve", { "log-format": "text" }, "json").format).toBe("dev");
    expect(logOutput("broker exec", { "log-format": "json" }, "text").format).toBe("json");
    expect(logOutput("serve", { dev: true }, "json")).toEqual({ format: "dev", dev: true });
  });

  test("an unknown format, or --dev with json, is a usage error naming the command", () => {
    expect(() => logOutput("broker imds", { "log-format": "xml" }, "json")).toThrow(new CredproxyError("E_USAGE", 'broker imds: invalid --log-format "xml" (choose json or text)'));
    expect(() => logOutput("serve", { dev: true, "log-format": "json" }, "json")).toThrow("--dev means --log-format text");
  });
});
