import { afterAll, describe, expect, test } from "bun:test";
import { createSocket } from "node:dgram";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dnsQuery } from "../../../test/helpers/tunnel-hosts/dns-shape.ts";
import { resolvedRevertCommand, resolvedSetCommands, systemdResolvedHere } from "./resolved-link.ts";
import { removeResolverFiles, resolverFileText } from "./resolver-files.ts";
import { describeTunnelDns, dnsHow, removeTunnelDnsLeftovers, tunnelDns } from "./tunnel-dns.ts";

const root = mkdtempSync(join(tmpdir(), "tunnel-dns-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const UP = { interface: "cpx3", clientAddress: "127.0.0.1", agentAddress: "100.64.0.2" };

describe("systemd-resolved commands", () => {
  test("the link gets the agent as DNS server, ~zones as routing-only domains, and no default route", () => {
    expect(resolvedSetCommands("cpx0", "100.64.0.2", ["internal.corp", "compute.internal"])).toEqual([
      ["resolvectl", "dns", "cpx0", "100.64.0.2"],
      ["resolvectl", "domain", "cpx0", "~internal.corp", "~compute.internal"],
      ["resolvectl", "default-route", "cpx0", "false"],
    ]);
    expect(resolvedRevertCommand("cpx0")).toEqual(["resolvectl", "revert", "cpx0"]);
  });

  test("resolved counts only with its run files, resolvectl, and pid 1's network namespace", () => {
    const probe = (files: boolean, which: boolean, ns1: string) => ({
      exists: () => files,
      which: () => (which ? "/usr/bin/resolvectl" : null),
      readlink: (p: string) => (p === "/proc/1/ns/net" ? ns1 : "net:[1]"),
    });
    expect(systemdResolvedHere(probe(true, true, "net:[1]"))).toBe(true);
    expect(systemdResolvedHere(probe(false, true, "net:[1]"))).toBe(false);
    expect(systemdResolvedHere(probe(true, false, "net:[1]"))).toBe(false);
    expect(systemdResolvedHere(probe(true, true, "net:[2]"))).toBe(false);
  });

  test("dnsHow(): auto picks resolved, else local; macOS resolver files; explicit modes that cannot work say why", () => {
    expect(dnsHow("auto", "linux", () => true)).toBe("resolved");
    expect(dnsHow("auto", "linux", () => false)).toBe("local");
    expect(dnsHow("local", "linux", () => true)).toBe("local");
    expect(dnsHow("auto", "darwin", () => false)).toBe("resolver-files");
    expect(() => dnsHow("resolved", "linux", () => false)).toThrow(/systemd-resolved does not run here/);
    expect(() => dnsHow("resolved", "darwin", () => false)).toThrow(/for Linux/);
  });

  test("apply() runs the commands; a new TUN reverts the old link first; close() reverts", async () => {
    const ran: string[] = [];
    const dns = tunnelDns({ zones: ["internal.corp"], mode: "resolved", tunnel: "t", resolvedHere: () => true, platform: "linux", run: (argv) => (ran.push(argv.join(" ")), { code: 0, stderr: "" }) });
    const record = await dns.apply({ ...UP, interface: "cpx0" });
    expect(record).toEqual({ zones: ["internal.corp"], how: "resolved", interface: "cpx0", server: "100.64.0.2" });
    await dns.apply({ ...UP, interface: "cpx0" });
    await dns.apply({ ...UP, interface: "cpx1", agentAddress: "100.64.0.4" });
    await dns.close();
    expect(ran).toEqual([
      "resolvectl dns cpx0 100.64.0.2",
      "resolvectl domain cpx0 ~internal.corp",
      "resolvectl default-route cpx0 false",
      "resolvectl revert cpx0",
      "resolvectl dns cpx1 100.64.0.4",
      "resolvectl domain cpx1 ~internal.corp",
      "resolvectl default-route cpx1 false",
      "resolvectl revert cpx1",
    ]);
    expect(describeTunnelDns(record)).toBe("dns internal.corp via systemd-resolved on cpx0");
  });

  test("a failing resolvectl is an error that names the command; the link is reverted", async () => {
    const ran: string[] = [];
    const dns = tunnelDns({ zones: ["a.corp"], mode: "auto", tunnel: "t", resolvedHere: () => true, platform: "linux", run: (argv) => (ran.push(argv[1]!), { code: argv[1] === "domain" ? 1 : 0, stderr: "Failed to set domain" }) });
    await expect(dns.apply(UP)).rejects.toThrow("tunnel up: resolvectl domain cpx3 ~a.corp failed: Failed to set domain");
    expect(ran).toEqual(["dns", "domain", "revert"]);
  });
});

describe("macOS resolver files", () => {
  test("one file per zone with the marker and the agent's address; removed on close, with a cache flush", async () => {
    const dir = join(root, "resolver");
    const ran: string[] = [];
    const dns = tunnelDns({ zones: ["internal.corp", "compute.internal"], mode: "auto", tunnel: "work", platform: "darwin", resolverDir: dir, run: (argv) => (ran.push(argv.join(" ")), { code: 0, stderr: "" }) });
    const record = await dns.apply(UP);
    expect(readdirSync(dir).sort()).toEqual(["compute.internal", "internal.corp"]);
    expect(readFileSync(join(dir, "internal.corp"), "utf8")).toBe("# written by credproxy tunnel work; removed by credproxy tunnel down\nnameserver 100.64.0.2\nport 53\n");
    expect(record.files).toEqual([join(dir, "internal.corp"), join(dir, "compute.internal")]);
    expect(describeTunnelDns(record)).toBe("dns internal.corp compute.internal via /etc/resolver");
    await dns.close();
    expect(readdirSync(dir)).toEqual([]);
    expect(ran).toEqual(["dscacheutil -flushcache"]);
  });

  test("a resolver file credproxy did not write is never replaced or removed", async () => {
    const dir = join(root, "resolver-user");
    const dns = tunnelDns({ zones: ["corp"], mode: "auto", tunnel: "work", platform: "darwin", resolverDir: dir, run: () => ({ code: 0, stderr: "" }) });
    await dns.apply(UP);
    await dns.close();
    writeFileSync(join(dir, "corp"), "nameserver 10.0.0.2\n");
    await expect(tunnelDns({ zones: ["corp"], mode: "auto", tunnel: "w", platform: "darwin", resolverDir: dir }).apply(UP)).rejects.toThrow(/was not written by credproxy/);
    expect(removeResolverFiles([join(dir, "corp")])).toEqual([]);
    expect(readFileSync(join(dir, "corp"), "utf8")).toBe("nameserver 10.0.0.2\n");
  });

  test("tunnel down --force removes a crashed tunnel's resolver files", () => {
    const dir = join(root, "resolver-crash");
    rmSync(dir, { recursive: true, force: true });
    const file = join(dir, "internal.corp");
    mkdirSync(dir);
    writeFileSync(file, resolverFileText("100.64.0.2", "gone"));
    expect(removeTunnelDnsLeftovers({ zones: ["internal.corp"], how: "resolver-files", interface: "utun4", server: "100.64.0.2", files: [file] })).toEqual([file]);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("the local relay", () => {
  test("answers on the tunnel's address; a name outside the zones is REFUSED; the up line says where", async () => {
    const dns = tunnelDns({ zones: ["internal.corp"], mode: "local", tunnel: "t", platform: "linux", localPort: 0 });
    const record = await dns.apply(UP);
    expect(record.how).toBe("local");
    const port = Number(record.server.split(":")[1]);
    const socket = createSocket("udp4");
    const answer = new Promise<Buffer>((resolve) => socket.once("message", resolve));
    socket.send(dnsQuery(0x4242, "example.invalid"), port, "127.0.0.1");
    expect((await answer)[3]! & 0x0f).toBe(5);
    socket.close();
    await dns.close();
    expect(describeTunnelDns({ ...record, server: "100.64.0.3:53" })).toBe(
      "dns internal.corp answered at 100.64.0.3:53 (no systemd-resolved: point your resolver there, e.g. dnsmasq server=/internal.corp/100.64.0.3; resolv.conf is not changed)",
    );
  });
});
