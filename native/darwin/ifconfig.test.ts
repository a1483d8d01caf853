import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupAll, tempDirSync } from "../../test/helpers/cleanup.ts";
import { IfconfigError, ifconfig, netmask, parseIfconfig, type IfconfigFailure, type IfconfigResult } from "./ifconfig.ts";

afterAll(cleanupAll);

// `ifconfig lo0` and part of `ifconfig -a` as macOS (Sonoma) prints them: tab-indented lines.
const LO0 = `lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384
\toptions=1203<RXCSUM,TXCSUM,TXSTATUS,SW_TIMESTAMP>
\tinet 127.0.0.1 netmask 0xff000000
\tinet6 ::1 prefixlen 128
\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1
\tnd6 options=201<PERFORMNUD,DAD>
`;

const ALL = `${LO0}en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500
\toptions=6460<TSO4,TSO6,CHANNEL_IO,PARTIAL_CSUM,ZEROINVERT_CSUM>
\tether 3c:22:fb:00:11:22
\tinet6 fe80::1c8a:5e2f:3b4d:6e7f%en0 prefixlen 64 secured scopeid 0xb
\tinet 192.168.1.23 netmask 0xffffff00 broadcast 192.168.1.255
\tinet6 2001:db8::1234 prefixlen 64 autoconf secured
\tnd6 options=201<PERFORMNUD,DAD>
\tmedia: autoselect
\tstatus: active
utun0: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> mtu 1380
\tinet 10.8.0.2 --> 10.8.0.1 netmask 0xffffffff
`;

/** A runner that records each argv and answers like ifconfig would. */
function fakeRunner(answer: (args: readonly string[]) => Partial<IfconfigResult> = () => ({})) {
  const runs: string[][] = [];
  const run = (path: string, args: readonly string[]): IfconfigResult => {
    runs.push([path, ...args]);
    return { exitCode: 0, stdout: "", stderr: "", ...answer(args) };
  };
  return { run, runs };
}

/** The IfconfigError `call` throws. */
function thrown(call: () => unknown): IfconfigError {
  let error: unknown;
  try {
    call();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(IfconfigError);
  return error as IfconfigError;
}

const HOST = { family: 4, address: "169.254.169.254", prefixLength: 32 } as const;

describe("parseIfconfig()", () => {
  test("reads lo0's IPv4 and IPv6 addresses, prefix lengths from the hex netmask, zones stripped", () => {
    expect(parseIfconfig(LO0)).toEqual([
      { interface: "lo0", family: 4, address: "127.0.0.1", prefixLength: 8 },
      { interface: "lo0", family: 6, address: "::1", prefixLength: 128 },
      { interface: "lo0", family: 6, address: "fe80::1", prefixLength: 64 },
    ]);
  });

  test("keeps track of the interface across blocks and reads broadcast, flag and point-to-point lines", () => {
    expect(parseIfconfig(ALL).filter((a) => a.interface !== "lo0")).toEqual([
      { interface: "en0", family: 6, address: "fe80::1c8a:5e2f:3b4d:6e7f", prefixLength: 64 },
      { interface: "en0", family: 4, address: "192.168.1.23", prefixLength: 24 },
      { interface: "en0", family: 6, address: "2001:db8::1234", prefixLength: 64 },
      { interface: "utun0", family: 4, address: "10.8.0.2", prefixLength: 32 },
    ]);
  });

  test("reads the `-f inet:cidr,inet6:cidr` form, address/prefix", () => {
    const text = "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384\n\tinet 127.0.0.1/8\n\tinet6 fe80::1%lo0/64 scopeid 0x1\n";
    expect(parseIfconfig(text)).toEqual([
      { interface: "lo0", family: 4, address: "127.0.0.1", prefixLength: 8 },
      { interface: "lo0", family: 6, address: "fe80::1", prefixLength: 64 },
    ]);
  });

  test("finds nothing in output without addresses", () => {
    expect(parseIfconfig("")).toEqual([]);
    expect(parseIfconfig("gif0: flags=8010<POINTOPOINT,MULTICAST> mtu 1280\n")).toEqual([]);
  });
});

describe("netmask()", () => {
  test.each([
    [32, "255.255.255.255"],
    [24, "255.255.255.0"],
    [17, "255.255.128.0"],
    [1, "128.0.0.0"],
    [0, "0.0.0.0"],
  ])("writes /%p as %p", (prefix, mask) => {
    expect(netmask(prefix)).toBe(mask);
  });
});

describe("ifconfig()", () => {
  test("list() runs `ifconfig -a` and parses every interface's addresses", () => {
    const { run, runs } = fakeRunner(() => ({ stdout: ALL }));
    expect(ifconfig({ run }).list().map((a) => `${a.interface} ${a.address}`)).toEqual([
      "lo0 127.0.0.1",
      "lo0 ::1",
      "lo0 fe80::1",
      "en0 fe80::1c8a:5e2f:3b4d:6e7f",
      "en0 192.168.1.23",
      "en0 2001:db8::1234",
      "utun0 10.8.0.2",
    ]);
    expect(runs).toEqual([["/sbin/ifconfig", "-a"]]);
  });

  test("builds the alias and -alias argv for IPv4 (with a dotted netmask) and IPv6 (with prefixlen)", () => {
    const { run, runs } = fakeRunner();
    const lo0 = ifconfig({ path: "/opt/test/ifconfig", run });
    lo0.addAlias("lo0", { family: 4, address: "169.254.169.254", prefixLength: 32 });
    lo0.addAlias("lo0", { family: 4, address: "10.200.0.1", prefixLength: 24 });
    lo0.addAlias("lo0", { family: 6, address: "fd00:ec2::254", prefixLength: 128 });
    lo0.deleteAlias("lo0", { family: 6, address: "fd00:ec2::254", prefixLength: 128 });
    lo0.deleteAlias("lo0", { family: 4, address: "169.254.169.254", prefixLength: 32 });
    expect(runs.map((argv) => argv.join(" "))).toEqual([
      "/opt/test/ifconfig lo0 alias 169.254.169.254 netmask 255.255.255.255",
      "/opt/test/ifconfig lo0 alias 10.200.0.1 netmask 255.255.255.0",
      "/opt/test/ifconfig lo0 inet6 fd00:ec2::254 prefixlen 128 alias",
      "/opt/test/ifconfig lo0 inet6 fd00:ec2::254 -alias",
      "/opt/test/ifconfig lo0 -alias 169.254.169.254",
    ]);
  });

  test.each<[string, IfconfigFailure]>([
    ["ifconfig: ioctl (SIOCAIFADDR): permission denied", "not-permitted"], // Apple's Perror() for EPERM
    ["ifconfig: ioctl (SIOCAIFADDR): Operation not permitted", "not-permitted"],
    ["ifconfig: ioctl (SIOCAIFADDR_IN6): Permission denied", "not-permitted"],
    ["ifconfig: ioctl (SIOCAIFADDR): File exists", "exists"],
    ["ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address", "not-found"],
    ["ifconfig: interface lo9 does not exist", "not-found"],
    ["ifconfig: ioctl (SIOCDIFADDR): no such interface", "not-found"],
    ["ifconfig: ioctl (SIOCAIFADDR): Invalid argument", "failed"],
  ])("a non-zero exit with %p is an IfconfigError of kind %p, carrying argv, exit code and stderr", (stderr, kind) => {
    const { run } = fakeRunner(() => ({ exitCode: 1, stderr: `${stderr}\n` }));
    const failure = thrown(() => ifconfig({ run }).addAlias("lo0", HOST));
    expect(failure.kind).toBe(kind);
    expect(failure.stderr).toBe(stderr);
    expect(failure.exitCode).toBe(1);
    expect(failure.argv).toEqual(["/sbin/ifconfig", "lo0", "alias", "169.254.169.254", "netmask", "255.255.255.255"]);
    expect(failure.message).toBe(`/sbin/ifconfig lo0 alias 169.254.169.254 netmask 255.255.255.255 exited with 1: ${stderr}`);
  });

  test("a missing binary is an IfconfigError of kind missing (real spawn)", () => {
    const error = thrown(() => ifconfig({ path: "/nonexistent/credproxy-test/ifconfig" }).list());
    expect(error.kind).toBe("missing");
    expect(error.message).toStartWith("Cannot run /nonexistent/credproxy-test/ifconfig -a: ");
  });

  test("a run that timed out is an IfconfigError of kind timeout, naming the limit, not a failure to blame on privilege", () => {
    const run = (): IfconfigResult => {
      throw Object.assign(new Error("spawnSync /sbin/ifconfig ETIMEDOUT"), { code: "ETIMEDOUT" });
    };
    expect(() => ifconfig({ run }).addAlias("lo0", HOST)).toThrow(
      "/sbin/ifconfig lo0 alias 169.254.169.254 netmask 255.255.255.255 did not finish within 5 s",
    );
    const error = thrown(() => ifconfig({ run, timeoutMs: 250 }).addAlias("lo0", HOST));
    expect(error.kind).toBe("timeout");
    expect(error.message).toBe("/sbin/ifconfig lo0 alias 169.254.169.254 netmask 255.255.255.255 did not finish within 250 ms");
  });

  test("a hung ifconfig that ignores SIGTERM is killed after timeoutMs (real spawn)", () => {
    const script = join(tempDirSync("credproxy-ifconfig-hang-"), "ifconfig");
    // exec: the sleep itself is the child, so killing it leaves nothing behind; it inherits the ignored SIGTERM.
    // Without SIGKILL this call would wait out the sleep, far past the test's own time limit.
    writeFileSync(script, "#!/bin/sh\ntrap '' TERM\nexec sleep 600\n");
    chmodSync(script, 0o755);
    const error = thrown(() => ifconfig({ path: script, timeoutMs: 200 }).addAlias("lo0", HOST));
    expect(error.kind).toBe("timeout");
    expect(error.message).toBe(`${script} lo0 alias 169.254.169.254 netmask 255.255.255.255 did not finish within 200 ms`);
  });

  test("a run ended by a signal is a failure, not a success", () => {
    const { run } = fakeRunner(() => ({ exitCode: null }));
    expect(() => ifconfig({ run }).deleteAlias("lo0", HOST)).toThrow(
      "/sbin/ifconfig lo0 -alias 169.254.169.254 was killed",
    );
  });
});
