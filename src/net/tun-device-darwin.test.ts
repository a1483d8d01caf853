/**
 * The macOS TunDevice's parts that run anywhere: the errors and hints, and the set-up order and
 * roll-back with fake system calls (the real utun: test/integration/tun-device-darwin.test.ts).
 */
import { describe, expect, test } from "bun:test";
import { ErrnoError } from "../../native/libc.ts";
import { IfconfigError, type IfconfigResult } from "../../native/darwin/ifconfig.ts";
import { routeArgv, utunAddress6Argv, utunAddressArgv, utunCommands } from "../../native/darwin/utun-commands.ts";
import { ErrorCode } from "../errors.ts";
import { darwinTunError, openDarwinTun, type DarwinTunDeps } from "./tun-device-darwin.ts";

const GOOD = { mtu: 1400, address: "100.64.0.1", peer: "100.64.0.2", routes: ["10.99.0.0/24", "10.98.0.0/16"] };

/** Fake open/close and a recording command runner; `fail` picks an argv to fail with that stderr. */
function fakes(fail?: { when: (argv: string[]) => boolean; stderr: string }) {
  const runs: string[][] = [];
  const closed: number[] = [];
  const run = (path: string, args: readonly string[]): IfconfigResult => {
    const argv = [path, ...args];
    runs.push(argv);
    return fail?.when(argv) ? { exitCode: 1, stdout: "", stderr: fail.stderr } : { exitCode: 0, stdout: "", stderr: "" };
  };
  const deps: DarwinTunDeps = { open: () => ({ fd: 41, name: "utun5" }), close: (fd) => closed.push(fd), commands: utunCommands({ run }) };
  return { deps, runs, closed };
}

describe("openDarwinTun()", () => {
  test("checks its options before opening anything", async () => {
    const { deps, runs } = fakes();
    const error = await openDarwinTun({ ...GOOD, mtu: 100 }, deps).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.ConfigInvalid, message: "tunnel MTU 100 must be a whole number from 576 to 65535" });
    expect(runs).toEqual([]);
  });

  test("a route that fails takes down the ones added before it and closes the utun, and says why", async () => {
    const { deps, runs, closed } = fakes({ when: (argv) => argv.includes("add") && argv.includes("10.98.0.0/16"), stderr: "route: writing to routing socket: File exists" });
    const error = await openDarwinTun(GOOD, deps).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.Platform, message: "Cannot route 10.98.0.0/16 through the utun device: a route for it exists already" });
    const first = { family: 4, text: "10.99.0.0/24" } as const;
    expect(runs).toEqual([
      utunAddressArgv("utun5", { address: "100.64.0.1", peer: "100.64.0.2", mtu: 1400 }),
      routeArgv("add", first, "utun5"),
      routeArgv("add", { family: 4, text: "10.98.0.0/16" }, "utun5"),
      routeArgv("delete", first, "utun5"),
    ]);
    expect(closed).toEqual([41]);
  });
});

describe("openDarwinTun() with an IPv6 pair", () => {
  test("adds the address, a /128 route to the agent's, then the routes; a failure takes all of them back", async () => {
    const { deps, runs, closed } = fakes({ when: (argv) => argv.includes("add") && argv.includes("fd7a:115c::/64"), stderr: "route: writing to routing socket: File exists" });
    const options = { ...GOOD, routes: ["10.99.0.0/24", "fd7a:115c::/64"], address6: "fd63:7078:1::3", peer6: "fd63:7078:1::2" };
    const error = await openDarwinTun(options, deps).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.Platform, message: "Cannot route fd7a:115c::/64 through the utun device: a route for it exists already" });
    const peer = { family: 6, text: "fd63:7078:1::2/128" } as const;
    const v4 = { family: 4, text: "10.99.0.0/24" } as const;
    expect(runs).toEqual([
      utunAddressArgv("utun5", { address: "100.64.0.1", peer: "100.64.0.2", mtu: 1400 }),
      utunAddress6Argv("utun5", "fd63:7078:1::3"),
      routeArgv("add", peer, "utun5"),
      routeArgv("add", v4, "utun5"),
      routeArgv("add", { family: 6, text: "fd7a:115c::/64" }, "utun5"),
      routeArgv("delete", peer, "utun5"),
      routeArgv("delete", v4, "utun5"),
    ]);
    expect(runs[1]).toEqual(["/sbin/ifconfig", "utun5", "inet6", "fd63:7078:1::3", "prefixlen", "128"]);
    expect(runs[4]).toEqual(["/sbin/route", "-n", "add", "-inet6", "-net", "fd7a:115c::/64", "-interface", "utun5"]);
    expect(closed).toEqual([41]);
  });

  test("an IPv6 address without its peer is refused before anything runs", async () => {
    const { deps, runs } = fakes();
    const error = await openDarwinTun({ ...GOOD, address6: "fd63:7078:1::3" }, deps).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.ConfigInvalid, message: "tunnel IPv6 address and peer come together: give both or neither" });
    expect(runs).toEqual([]);
  });
});

describe("darwinTunError()", () => {
  test("EPERM from connect() says root is needed, and to use sudo", () => {
    const error = darwinTunError("open", "utun", new ErrnoError("connect(utun)", 1));
    expect(error.code).toBe(ErrorCode.Platform);
    expect(error.message).toBe("Cannot create the utun device: needs root (the kernel answered EPERM)");
    expect(error.hint).toBe("run it as root: sudo credproxy tunnel up …");
  });

  test("ifconfig refusing a non-root user also says root", () => {
    const cause = new IfconfigError(["/sbin/ifconfig", "utun5"], { exitCode: 1, stderr: "ifconfig: ioctl (SIOCAIFADDR): permission denied" });
    expect(darwinTunError("configure", "utun5", cause)).toMatchObject({ message: expect.stringMatching(/^Cannot configure the utun device utun5: needs root/), hint: "run it as root: sudo credproxy tunnel up …" });
  });

  test("EBUSY for a named unit says to leave the name out", () => {
    expect(darwinTunError("open", "utun3", new ErrnoError("connect(utun)", 16)).hint).toBe("leave the name out, so the next free utun is taken");
  });
});
