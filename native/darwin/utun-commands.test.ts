/** The ifconfig and route argv a utun gets, and how their failures are read (no Mac, no shell). */
import { describe, expect, test } from "bun:test";
import { IfconfigError, type IfconfigResult } from "./ifconfig.ts";
import { interfaceShowArgv, routeArgv, routeGetArgv, routeInterfaceOf, utunAddressArgv, utunCommands } from "./utun-commands.ts";

const V4 = { family: 4, text: "10.99.0.0/24" } as const;
const V6 = { family: 6, text: "fd00:99::/64" } as const;

describe("utun argv", () => {
  test("the address pair, a /32 netmask, the MTU and up, in one ifconfig", () => {
    expect(utunAddressArgv("utun7", { address: "100.64.0.1", peer: "100.64.0.2", mtu: 1400 })).toEqual([
      "/sbin/ifconfig", "utun7", "inet", "100.64.0.1", "100.64.0.2", "netmask", "255.255.255.255", "mtu", "1400", "up",
    ]);
  });

  test("an IPv4 route is -net CIDR -interface NAME; an IPv6 one adds -inet6", () => {
    expect(routeArgv("add", V4, "utun7")).toEqual(["/sbin/route", "-n", "add", "-net", "10.99.0.0/24", "-interface", "utun7"]);
    expect(routeArgv("delete", V4, "utun7")).toEqual(["/sbin/route", "-n", "delete", "-net", "10.99.0.0/24", "-interface", "utun7"]);
    expect(routeArgv("add", V6, "utun7")).toEqual(["/sbin/route", "-n", "add", "-inet6", "-net", "fd00:99::/64", "-interface", "utun7"]);
    expect(routeGetArgv(V6)).toEqual(["/sbin/route", "-n", "get", "-inet6", "-net", "fd00:99::/64"]);
    expect(interfaceShowArgv("utun7")).toEqual(["/sbin/ifconfig", "utun7"]);
  });

  test("route -n get output names the interface on its interface: line", () => {
    const output = "   route to: 10.99.0.0\ndestination: 10.99.0.0\n       mask: 255.255.255.0\n  interface: utun7\n      flags: <UP,DONE,STATIC>\n";
    expect(routeInterfaceOf(output)).toBe("utun7");
    expect(routeInterfaceOf("route: route has not been found\n")).toBeUndefined();
  });
});

/** A runner that records each argv and answers with `answer`'s result (exit 0 by default). */
function fakeRunner(answer: (argv: string[]) => Partial<IfconfigResult> = () => ({})) {
  const runs: string[][] = [];
  const run = (path: string, args: readonly string[]): IfconfigResult => {
    const argv = [path, ...args];
    runs.push(argv);
    return { exitCode: 0, stdout: "", stderr: "", ...answer(argv) };
  };
  return { run, runs };
}

describe("utunCommands()", () => {
  test("each call runs exactly its argv, with no shell in between", () => {
    const { run, runs } = fakeRunner();
    const commands = utunCommands({ run });
    commands.configure("utun3", { address: "100.64.0.1", peer: "100.64.0.2", mtu: 1300 });
    commands.addRoute("utun3", V4);
    commands.deleteRoute("utun3", V4);
    expect(runs).toEqual([utunAddressArgv("utun3", { address: "100.64.0.1", peer: "100.64.0.2", mtu: 1300 }), routeArgv("add", V4, "utun3"), routeArgv("delete", V4, "utun3")]);
  });

  test("a non-root route is a not-permitted IfconfigError carrying argv and stderr", () => {
    const { run } = fakeRunner(() => ({ exitCode: 69, stderr: "route: must be root to alter routing table\n" }));
    const error = (() => {
      try {
        utunCommands({ run }).addRoute("utun3", V4);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(IfconfigError);
    expect(error).toMatchObject({ kind: "not-permitted", exitCode: 69, argv: routeArgv("add", V4, "utun3"), stderr: "route: must be root to alter routing table" });
  });

  test("an existing route is kind exists; deleting one that is not in the table is no error", () => {
    const exists = fakeRunner(() => ({ exitCode: 1, stderr: "route: writing to routing socket: File exists\nadd net 10.99.0.0: gateway utun3: File exists\n" }));
    expect(() => utunCommands({ run: exists.run }).addRoute("utun3", V4)).toThrow(expect.objectContaining({ kind: "exists" }));
    const missing = fakeRunner(() => ({ exitCode: 1, stderr: "route: writing to routing socket: not in table\ndelete net 10.99.0.0: gateway utun3: not in table\n" }));
    expect(() => utunCommands({ run: missing.run }).deleteRoute("utun3", V4)).not.toThrow();
  });

  test("exists() and routeInterface() read exit codes and output without throwing", () => {
    const { run } = fakeRunner((argv) => (argv[1] === "utun9" ? { exitCode: 1, stderr: "ifconfig: interface utun9 does not exist\n" } : argv[2] === "get" ? { stdout: "  interface: en0\n" } : {}));
    const commands = utunCommands({ run });
    expect(commands.exists("utun9")).toBe(false);
    expect(commands.exists("utun3")).toBe(true);
    expect(commands.routeInterface(V4)).toBe("en0");
  });

  test("a tool that cannot be started is kind missing", () => {
    const run = () => {
      throw Object.assign(new Error("spawnSync /sbin/route ENOENT"), { code: "ENOENT" });
    };
    expect(() => utunCommands({ run }).addRoute("utun3", V4)).toThrow(expect.objectContaining({ kind: "missing" }));
  });
});
