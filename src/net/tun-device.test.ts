/** openTun()'s platform choice, and that start-up loads no TUN code at all. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ErrorCode } from "../errors.ts";
import { openTun, tunBackendFor } from "./tun-device.ts";

const OPTIONS = { mtu: 1400, address: "100.64.0.1", peer: "100.64.0.2", routes: ["10.99.0.0/24"] };

describe("openTun()", () => {
  test("Linux and macOS have a backend; other platforms none", () => {
    expect(tunBackendFor("linux")).toBe("linux");
    expect(tunBackendFor("darwin")).toBe("darwin");
    expect(tunBackendFor("win32")).toBeUndefined();
  });

  test.skipIf(process.platform === "darwin")("asked for macOS off a Mac, it takes the utun path, which reports libSystem as macOS-only", async () => {
    const error = await openTun(OPTIONS, "darwin").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.Platform, message: 'Cannot create the utun device: native/darwin is macOS-only: current platform is "linux"' });
  });

  test("an unsupported platform is a clear error with a hint", async () => {
    const error = await openTun(OPTIONS, "win32").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.Platform, message: "A TUN device is not supported on win32", hint: "run the tunnel on Linux or macOS" });
  });

  test("loading the CLI (what serve and every command start with) loads no TUN device or utun code", async () => {
    const run = join(import.meta.dir, "../cli/run.ts");
    const script = `await import(${JSON.stringify(run)}); console.log(JSON.stringify(Object.keys(require.cache)));`;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect(code, err).toBe(0);
    const loaded = JSON.parse(out) as string[];
    expect(loaded.some((path) => path.endsWith("/src/cli/run.ts"))).toBe(true);
    expect(loaded.filter((path) => /\/(tun-device[^/]*|tun-packet-io|tun-leftovers|utun[^/]*|linux\/tun)\.ts$/.test(path))).toEqual([]);
  });
});
