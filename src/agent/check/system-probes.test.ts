/**
 * The real probes on this machine, pointed at stand-in files where the real ones belong to the
 * host: a missing TUN path, a temp ip_forward file (which must come out unchanged) and a port
 * a listener of this test holds.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CommandRunner } from "../command-runner.ts";
import { runAgentChecks } from "./system-probes.ts";

const noSystemctl: CommandRunner = async () => ({ code: 127, stdout: "", stderr: "" });

describe("runAgentChecks()", () => {
  test("reports each probe by name, in order, and only looks: the ip_forward file is not written", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "cp-check-")), "ip_forward");
    writeFileSync(file, "0\n");
    const before = statSync(file).mtimeMs;
    const results = await runAgentChecks({ host: "127.0.0.1", port: 0 }, { tunDevice: "/nonexistent/tun", ipForwardFile: file, runner: noSystemctl });
    expect(results.map((r) => r.name)).toEqual(["privileges", "tun", "firewall", "ip-forward", "listen", "ssm-agent", "ipv6"]);
    const by = Object.fromEntries(results.map((r) => [r.name, r]));
    expect(by.tun).toMatchObject({ status: "fail", detail: "cannot open /nonexistent/tun: ENOENT" });
    expect(by["ip-forward"]).toMatchObject({ status: "ok", detail: expect.stringContaining("now 0") });
    expect(by.listen!.status).toBe("ok");
    expect(by["ssm-agent"]!.required).toBe(false);
    expect(by.ipv6!.required).toBe(false);
    expect(readFileSync(file, "utf8")).toBe("0\n");
    expect(statSync(file).mtimeMs).toBe(before);
  });

  test("a port somebody listens on fails the listen check with EADDRINUSE", async () => {
    const server = createServer();
    await new Promise<void>((done) => server.listen({ host: "127.0.0.1", port: 0 }, done));
    const port = (server.address() as AddressInfo).port;
    try {
      const results = await runAgentChecks({ host: "127.0.0.1", port }, { runner: noSystemctl });
      expect(results.find((r) => r.name === "listen")).toMatchObject({ status: "fail", detail: `cannot listen on 127.0.0.1:${port}: EADDRINUSE` });
    } finally {
      server.close();
    }
  });
});
