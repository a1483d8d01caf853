import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { IfconfigError, ifconfig, type Ifconfig, type IfconfigAddress } from "../../native/darwin/ifconfig.ts";
import { ErrnoError } from "../../native/libc.ts";
import type { AddressRequest } from "../../native/linux/netlink.ts";
import { cleanupAll, tempDirSync } from "../../test/helpers/cleanup.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { addLoopbackAliases, formatAddress, parseAddress, type LoopbackHints, type LoopbackSystem } from "./loopback-address.ts";

afterAll(cleanupAll);

describe("parseAddress()", () => {
  test("parses IPv4 with the full prefix by default", () => {
    expect(parseAddress("169.254.170.2")).toEqual({ family: 4, bytes: Uint8Array.of(169, 254, 170, 2), prefixLength: 32 });
    expect(parseAddress("10.0.0.0/8").prefixLength).toBe(8);
    expect(parseAddress("0.0.0.0/0")).toEqual({ family: 4, bytes: new Uint8Array(4), prefixLength: 0 });
  });

  test("parses IPv6 in every shorthand, bracketed, and with an embedded IPv4 tail", () => {
    const ecs = Uint8Array.from(Buffer.from("fd000ec2000000000000000000000023", "hex"));
    expect(parseAddress("fd00:ec2::23")).toEqual({ family: 6, bytes: ecs, prefixLength: 128 });
    expect(parseAddress("FD00:0EC2:0:0:0:0:0:0023").bytes).toEqual(ecs);
    expect(parseAddress("[fd00:ec2::23]/64")).toEqual({ family: 6, bytes: ecs, prefixLength: 64 });
    expect(parseAddress("::").bytes).toEqual(new Uint8Array(16));
    expect(Array.from(parseAddress("::1").bytes)).toEqual([...new Array<number>(15).fill(0), 1]);
    expect(Array.from(parseAddress("1::").bytes)).toEqual([0, 1, ...new Array<number>(14).fill(0)]);
    expect(Array.from(parseAddress("::ffff:169.254.170.2").bytes.subarray(10))).toEqual([255, 255, 169, 254, 170, 2]);
  });

  test.each([
    ["", "not a valid IPv4 address"],
    ["169.254.170", "not a valid IPv4 address"],
    ["169.254.170.256", "not a valid IPv4 address"],
    ["169.254.170.02", "not a valid IPv4 address"],
    ["169.254.170.2/33", "prefix length must be 0 to 32"],
    ["169.254.170.2/", "prefix length must be 0 to 32"],
    ["169.254.170.2/032", "prefix length must be 0 to 32"],
    ["fd00:ec2::23/129", "prefix length must be 0 to 128"],
    ["1:2:3:4:5:6:7:8:9", "not a valid IPv6 address"],
    ["1:2:3:4:5:6:7", "not a valid IPv6 address"],
    ["1::2::3", "not a valid IPv6 address"],
    ["1:2:3:4:5:6:7::8", "not a valid IPv6 address"],
    ["fe80::1%eth0", "not a valid IPv6 address"],
    ["12345::", "not a valid IPv6 address"],
    ["::ffff:1.2.3", "not a valid IPv6 address"],
  ])("rejects %p", (text, why) => {
    let error: unknown;
    try {
      parseAddress(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CredproxyError);
    expect((error as CredproxyError).code).toBe(ErrorCode.ConfigInvalid);
    expect((error as CredproxyError).message).toContain(why);
  });
});

describe("formatAddress()", () => {
  test.each([
    ["169.254.170.2", "169.254.170.2"],
    ["FD00:0EC2:0000:0000:0000:0000:0000:0023", "fd00:ec2::23"],
    ["::1", "::1"],
    ["::", "::"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"], // the longest run of zeros
    ["1:0:0:2:3:0:0:4", "1::2:3:0:0:4"], // the first of equal runs
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"], // one zero group stays
    ["::ffff:a9fe:aa02", "::ffff:169.254.170.2"],
  ])("writes %p as %p", (input, canonical) => {
    const parsed = parseAddress(input);
    expect(formatAddress(parsed.family, parsed.bytes)).toBe(canonical);
  });
});

/** An in-memory `lo` with a kernel's answers: EEXIST, EADDRNOTAVAIL, and errors we inject. */
function fakeSystem(
  options: {
    present?: string[];
    failAdd?: Record<string, string>;
    failDelete?: Record<string, string>;
    ipv6Disabled?: boolean;
    /** How many route lookups report an added address as not yet local (IPv6 in a busy kernel). */
    routeDelay?: Record<string, number>;
  } = {},
) {
  const key = (r: { family: number; address: Uint8Array }) => formatAddress(r.family as 4 | 6, r.address);
  const addresses = new Set(options.present ?? []);
  const calls: string[] = [];
  const errnos: Record<string, number> = { EPERM: 1, EACCES: 13, EEXIST: 17, EADDRNOTAVAIL: 99, EBUSY: 16 };
  const fail = (syscall: string, code: string) => new ErrnoError(syscall, errnos[code] ?? 5);
  const system: LoopbackSystem = {
    interfaceIndex: (name) => (name === "lo" ? 1 : 0),
    listAddresses: () => [...addresses].map((text) => ({ family: parseAddress(text).family, address: parseAddress(text).bytes })),
    addAddress(request: AddressRequest) {
      calls.push(`add ${key(request)}/${request.prefixLength} scope ${request.scope ?? "-"} on ${request.ifindex}`);
      const code = options.failAdd?.[key(request)];
      if (code) throw fail("netlink RTM_NEWADDR", code);
      if (addresses.has(key(request))) throw fail("netlink RTM_NEWADDR", "EEXIST");
      addresses.add(key(request));
    },
    deleteAddress(request: AddressRequest) {
      calls.push(`del ${key(request)}/${request.prefixLength}`);
      const code = options.failDelete?.[key(request)];
      if (code) throw fail("netlink RTM_DELADDR", code);
      if (!addresses.delete(key(request))) throw fail("netlink RTM_DELADDR", "EADDRNOTAVAIL");
    },
    routesLocally(family, address) {
      const text = formatAddress(family, address);
      calls.push(`route ${text}`);
      const delay = options.routeDelay?.[text] ?? 0;
      if (delay > 0) options.routeDelay![text] = delay - 1;
      return addresses.has(text) && delay === 0;
    },
    ipv6Disabled: () => options.ipv6Disabled ?? false,
    getuid: () => 65534,
  };
  return { system, addresses, calls };
}

async function failure(promise: Promise<unknown>): Promise<CredproxyError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CredproxyError);
    return error as CredproxyError;
  }
  throw new Error("expected a CredproxyError");
}

const ECS = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"];

describe("addLoopbackAliases()", () => {
  test("adds each address to lo (IPv4 with host scope) and remove() takes them away, newest first", async () => {
    const { system, addresses, calls } = fakeSystem({ present: ["127.0.0.1", "::1"] });
    const { aliases, remove } = await addLoopbackAliases(ECS, { platform: "linux", system });
    expect(aliases).toEqual([
      { address: "169.254.170.2", prefixLength: 32, added: true },
      { address: "169.254.170.23", prefixLength: 32, added: true },
      { address: "fd00:ec2::23", prefixLength: 128, added: true },
    ]);
    expect(calls).toEqual([
      "add 169.254.170.2/32 scope 254 on 1",
      "add 169.254.170.23/32 scope 254 on 1",
      "add fd00:ec2::23/128 scope - on 1",
      "route 169.254.170.2",
      "route 169.254.170.23",
      "route fd00:ec2::23",
    ]);
    calls.length = 0;
    remove();
    expect(calls).toEqual(["del fd00:ec2::23/128", "del 169.254.170.23/32", "del 169.254.170.2/32"]);
    expect([...addresses]).toEqual(["127.0.0.1", "::1"]);
  });

  test("remove() is idempotent", async () => {
    const { system, calls } = fakeSystem();
    const { remove } = await addLoopbackAliases(["169.254.170.2"], { platform: "linux", system });
    remove();
    remove();
    expect(calls.filter((c) => c.startsWith("del"))).toEqual(["del 169.254.170.2/32"]);
  });

  test("leaves an address that was already present in place, and says so", async () => {
    const { system, addresses, calls } = fakeSystem({ present: ["169.254.170.2"] });
    const { aliases, remove } = await addLoopbackAliases(ECS.slice(0, 2), { platform: "linux", system });
    expect(aliases.map((a) => a.added)).toEqual([false, true]);
    remove();
    expect(calls).toEqual(["add 169.254.170.23/32 scope 254 on 1", "route 169.254.170.23", "del 169.254.170.23/32"]);
    expect(addresses.has("169.254.170.2")).toBe(true);
  });

  test("treats EEXIST from the kernel (added meanwhile) as present, not ours", async () => {
    const { system, calls } = fakeSystem({ failAdd: { "169.254.170.2": "EEXIST" } });
    const { aliases, remove } = await addLoopbackAliases(["169.254.170.2"], { platform: "linux", system });
    expect(aliases[0]?.added).toBe(false);
    remove();
    expect(calls.some((c) => c.startsWith("del"))).toBe(false);
  });

  test("adds a repeated address once, with the first prefix written", async () => {
    const { system, calls } = fakeSystem();
    const { aliases } = await addLoopbackAliases(["169.254.170.2", "169.254.170.2/24", "fd00:ec2::23/64", "fd00:EC2:0::23"], { platform: "linux", system });
    expect(aliases.map((a) => `${a.address}/${a.prefixLength}`)).toEqual(["169.254.170.2/32", "fd00:ec2::23/64"]);
    expect(calls.filter((c) => c.startsWith("add"))).toHaveLength(2);
  });

  test("waits until the kernel routes an added IPv6 address locally before returning", async () => {
    const { system, calls } = fakeSystem({ routeDelay: { "fd00:ec2::23": 3 } });
    const { aliases } = await addLoopbackAliases(["fd00:ec2::23"], { platform: "linux", system });
    expect(aliases[0]?.added).toBe(true);
    expect(calls.filter((c) => c.startsWith("route"))).toHaveLength(4);
  });

  test("gives up with E_PLATFORM and rolls back when an address never becomes routable", async () => {
    const { system, addresses } = fakeSystem({ routeDelay: { "fd00:ec2::23": 1_000_000 } });
    const error = await failure(addLoopbackAliases(["169.254.170.2", "fd00:ec2::23"], { platform: "linux", system, readyTimeoutMs: 20 }));
    expect(error.code).toBe(ErrorCode.Platform);
    expect(error.message).toBe("Cannot use fd00:ec2::23/128 on the loopback interface lo as the kernel did not route it locally within 20 ms");
    expect([...addresses]).toEqual([]);
  });

  test("without CAP_NET_ADMIN throws E_PLATFORM naming the address, with the hint, and rolls back", async () => {
    const { system, addresses } = fakeSystem({ failAdd: { "169.254.170.23": "EPERM" } });
    const error = await failure(addLoopbackAliases(ECS, { platform: "linux", system, fallbackPort: 9911 }));
    expect(error.code).toBe(ErrorCode.Platform);
    expect(error.message).toBe("Cannot add 169.254.170.23/32 to the loopback interface lo as credproxy lacks CAP_NET_ADMIN: the kernel answered EPERM");
    expect(error.hint).toBe(
      "run with CAP_NET_ADMIN (docker run --cap-add NET_ADMIN --cap-add SETUID --cap-add SETGID --user 0, or in compose cap_add: [NET_ADMIN, SETUID, SETGID] with user: \"0:0\"; Docker does not pass added capabilities to other users, and serve needs SETUID/SETGID to become server.user after binding), or drop server.ecs_metadata and point AWS_CONTAINER_CREDENTIALS_FULL_URI at http://127.0.0.1:9911/v1/credentials",
    );
    expect(error.details).toMatchObject({ address: "169.254.170.23/32", errno: "EPERM", uid: 65534 });
    expect(error.cause).toBeInstanceOf(ErrnoError);
    expect([...addresses]).toEqual([]); // 169.254.170.2 was taken away again
  });

  test("maps EACCES to the capability error and leaves <port> when no port is known", async () => {
    const { system } = fakeSystem({ failAdd: { "169.254.170.2": "EACCES" } });
    const error = await failure(addLoopbackAliases(["169.254.170.2"], { platform: "linux", system }));
    expect(error.message).toContain("lacks CAP_NET_ADMIN: the kernel answered EACCES");
    expect(error.hint).toContain("http://127.0.0.1:<port>/v1/credentials");
  });

  test("explains EACCES on IPv6 when IPv6 is disabled on lo", async () => {
    const { system } = fakeSystem({ failAdd: { "fd00:ec2::23": "EACCES" }, ipv6Disabled: true });
    const error = await failure(addLoopbackAliases(["fd00:ec2::23"], { platform: "linux", system }));
    expect(error.message).toBe("Cannot add fd00:ec2::23/128 to the loopback interface lo as IPv6 is disabled on it: net.ipv6.conf.lo.disable_ipv6 is 1");
    expect(error.hint).toContain("--sysctl net.ipv6.conf.lo.disable_ipv6=0");
  });

  test("on neither Linux nor macOS says what needs them and changes nothing", async () => {
    const { system, calls } = fakeSystem();
    const error = await failure(addLoopbackAliases(["169.254.170.2"], { platform: "win32", system }));
    expect(error.code).toBe(ErrorCode.Platform);
    expect(error.message).toBe('Cannot add 169.254.170.2/32 to the loopback interface as server.ecs_metadata needs Linux or macOS: current platform is "win32"');
    expect(error.hint).toBe("drop server.ecs_metadata and point AWS_CONTAINER_CREDENTIALS_FULL_URI at http://127.0.0.1:<port>/v1/credentials");
    expect(calls).toEqual([]);
  });

  test("rejects a bad address before changing anything", async () => {
    const { system, calls } = fakeSystem();
    const error = await failure(addLoopbackAliases(["169.254.170.2", "169.254.170.300"], { platform: "linux", system }));
    expect(error.code).toBe(ErrorCode.ConfigInvalid);
    expect(calls).toEqual([]);
  });

  test("remove() never throws: it skips addresses already gone and reports other failures", async () => {
    const { system, addresses } = fakeSystem({ failDelete: { "169.254.170.23": "EBUSY" } });
    const reported: string[] = [];
    const { remove } = await addLoopbackAliases(ECS, {
      platform: "linux",
      system,
      onRemoveError: (alias, error) => {
        reported.push(`${alias.address}: ${(error as ErrnoError).code}`);
        throw new Error("a broken reporter must not break shutdown");
      },
    });
    addresses.delete("fd00:ec2::23"); // someone else removed it
    expect(() => remove()).not.toThrow();
    expect(reported).toEqual(["169.254.170.23: EBUSY"]);
    expect(addresses.has("169.254.170.2")).toBe(false);
  });

  test("does nothing for an empty list", async () => {
    const { system, calls } = fakeSystem();
    const { aliases, remove } = await addLoopbackAliases([], { platform: "win32", system });
    expect(aliases).toEqual([]);
    remove();
    expect(calls).toEqual([]);
  });
});

/** What `startImds()` (broker imds, broker exec --imds) is meant to pass: its own wording, and the fallback it takes by itself. */
const IMDS_HINTS: LoopbackHints = {
  setting: "serving IMDS on its own address",
  fallback: "use the 127.0.0.1 endpoint credproxy serves instead, through AWS_EC2_METADATA_SERVICE_ENDPOINT",
  linuxPrivilege: "run with CAP_NET_ADMIN, e.g. sudo",
};

describe("addLoopbackAliases() hints", () => {
  test("on Linux name the caller's own privilege advice and fallback instead of server.ecs_metadata", async () => {
    const { system } = fakeSystem({ failAdd: { "169.254.169.254": "EPERM" } });
    const error = await failure(addLoopbackAliases(["169.254.169.254"], { platform: "linux", system, hints: IMDS_HINTS }));
    expect(error.message).toBe("Cannot add 169.254.169.254/32 to the loopback interface lo as credproxy lacks CAP_NET_ADMIN: the kernel answered EPERM");
    expect(error.hint).toBe("run with CAP_NET_ADMIN, e.g. sudo, or use the 127.0.0.1 endpoint credproxy serves instead, through AWS_EC2_METADATA_SERVICE_ENDPOINT");
  });

  test("on an unsupported platform name the caller's setting and give its fallback alone", async () => {
    const error = await failure(addLoopbackAliases(["169.254.169.254"], { platform: "freebsd", hints: IMDS_HINTS }));
    expect(error.message).toBe('Cannot add 169.254.169.254/32 to the loopback interface as serving IMDS on its own address needs Linux or macOS: current platform is "freebsd"');
    expect(error.hint).toBe(IMDS_HINTS.fallback);
  });
});

// What Apple's ifconfig prints for EPERM (Perror() in ifconfig.tproj/ifconfig.c).
const NOT_PERMITTED = "ifconfig: ioctl (SIOCAIFADDR): permission denied";

/**
 * An in-memory lo0 (and an en0 holding `en0`) behind the Ifconfig interface, failing the way
 * /sbin/ifconfig does.
 */
function fakeIfconfig(
  options: { present?: string[]; en0?: string[]; failAdd?: Record<string, string>; failDelete?: Record<string, string>; listError?: unknown } = {},
) {
  const lo0 = new Set(options.present ?? ["127.0.0.1", "::1", "fe80::1"]);
  const calls: string[] = [];
  const fail = (args: string[], stderr: string) => new IfconfigError(["/sbin/ifconfig", ...args], { exitCode: 1, stderr });
  const entry = (name: string, address: string): IfconfigAddress => {
    const family = address.includes(":") ? 6 : 4;
    return { interface: name, family, address, prefixLength: family === 4 ? 32 : 128 };
  };
  const fake: Ifconfig = {
    list() {
      calls.push("list -a");
      if (options.listError !== undefined) throw options.listError;
      return [...[...lo0].map((a) => entry("lo0", a)), ...(options.en0 ?? []).map((a) => entry("en0", a))];
    },
    addAlias(name, { address, prefixLength }) {
      calls.push(`add ${address}/${prefixLength} on ${name}`);
      const stderr = options.failAdd?.[address];
      if (stderr) throw fail([name, "alias", address], stderr);
      lo0.add(address); // ifconfig updates an existing alias without complaint
    },
    deleteAlias(name, { address }) {
      calls.push(`del ${address} on ${name}`);
      const stderr = options.failDelete?.[address];
      if (stderr) throw fail([name, "-alias", address], stderr);
      if (!lo0.delete(address)) throw fail([name, "-alias", address], "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address");
    },
  };
  return { ifconfig: fake, lo0, calls };
}

describe("addLoopbackAliases() on macOS", () => {
  test("adds each address to lo0 with ifconfig, usable at once, and remove() takes them away, newest first", async () => {
    const { ifconfig, lo0, calls } = fakeIfconfig();
    const { aliases, remove } = await addLoopbackAliases(["169.254.169.254", "fd00:ec2::254/64"], { platform: "darwin", ifconfig });
    expect(aliases).toEqual([
      { address: "169.254.169.254", prefixLength: 32, added: true },
      { address: "fd00:ec2::254", prefixLength: 64, added: true },
    ]);
    expect(calls).toEqual(["list -a", "add 169.254.169.254/32 on lo0", "add fd00:ec2::254/64 on lo0"]);
    calls.length = 0;
    remove();
    expect(calls).toEqual(["del fd00:ec2::254 on lo0", "del 169.254.169.254 on lo0"]);
    expect([...lo0]).toEqual(["127.0.0.1", "::1", "fe80::1"]);
  });

  test("leaves an address already on lo0 in place, and says so", async () => {
    const { ifconfig, lo0, calls } = fakeIfconfig({ present: ["127.0.0.1", "169.254.169.254"] });
    const { aliases, remove } = await addLoopbackAliases(["169.254.169.254", "169.254.170.2"], { platform: "darwin", ifconfig });
    expect(aliases.map((a) => [a.address, a.added])).toEqual([
      ["169.254.169.254", false],
      ["169.254.170.2", true],
    ]);
    remove();
    expect(calls).toEqual(["list -a", "add 169.254.170.2/32 on lo0", "del 169.254.170.2 on lo0"]);
    expect([...lo0]).toEqual(["127.0.0.1", "169.254.169.254"]);
  });

  test("leaves an address on another interface (the Mac's own en0 address) alone, as on Linux", async () => {
    const { ifconfig, calls } = fakeIfconfig({ en0: ["192.168.1.23", "2001:db8::1234"] });
    const { aliases, remove } = await addLoopbackAliases(["192.168.1.23", "2001:db8::1234", "169.254.169.254"], { platform: "darwin", ifconfig });
    expect(aliases.map((a) => [a.address, a.added])).toEqual([
      ["192.168.1.23", false],
      ["2001:db8::1234", false],
      ["169.254.169.254", true],
    ]);
    remove();
    expect(calls).toEqual(["list -a", "add 169.254.169.254/32 on lo0", "del 169.254.169.254 on lo0"]);
  });

  test("without root throws E_PLATFORM quoting ifconfig, with the sudo hint, and rolls back", async () => {
    const { ifconfig, lo0, calls } = fakeIfconfig({ failAdd: { "169.254.170.23": NOT_PERMITTED } });
    const error = await failure(addLoopbackAliases(ECS, { platform: "darwin", ifconfig, fallbackPort: 9911 }));
    expect(error.code).toBe(ErrorCode.Platform);
    expect(error.message).toBe(
      `Cannot add 169.254.170.23/32 to the loopback interface lo0 as credproxy is not running as root: ifconfig said "${NOT_PERMITTED}"`,
    );
    expect(error.hint).toBe("run with sudo, or drop server.ecs_metadata and point AWS_CONTAINER_CREDENTIALS_FULL_URI at http://127.0.0.1:9911/v1/credentials");
    expect(error.details).toMatchObject({ address: "169.254.170.23/32", interface: "lo0", stderr: NOT_PERMITTED });
    expect(error.cause).toBeInstanceOf(IfconfigError);
    expect(calls.slice(-1)).toEqual(["del 169.254.170.2 on lo0"]);
    expect([...lo0]).toEqual(["127.0.0.1", "::1", "fe80::1"]);
  });

  test("maps the strerror form, Operation not permitted, the same way, and uses the caller's hints", async () => {
    const stderr = "ifconfig: ioctl (SIOCAIFADDR): Operation not permitted";
    const { ifconfig } = fakeIfconfig({ failAdd: { "fd00:ec2::254": stderr } });
    const error = await failure(addLoopbackAliases(["fd00:ec2::254"], { platform: "darwin", ifconfig, hints: IMDS_HINTS }));
    expect(error.message).toBe(`Cannot add fd00:ec2::254/128 to the loopback interface lo0 as credproxy is not running as root: ifconfig said "${stderr}"`);
    expect(error.hint).toBe("run with sudo, or use the 127.0.0.1 endpoint credproxy serves instead, through AWS_EC2_METADATA_SERVICE_ENDPOINT");
  });

  test("reports any other ifconfig failure with its words and the hint", async () => {
    const { ifconfig } = fakeIfconfig({ failAdd: { "169.254.169.254": "ifconfig: ioctl (SIOCAIFADDR): Invalid argument" } });
    const error = await failure(addLoopbackAliases(["169.254.169.254"], { platform: "darwin", ifconfig }));
    expect(error.message).toBe(
      "Cannot add 169.254.169.254/32 to the loopback interface lo0: /sbin/ifconfig lo0 alias 169.254.169.254 exited with 1: ifconfig: ioctl (SIOCAIFADDR): Invalid argument",
    );
    expect(error.hint).toStartWith("run with sudo, or drop server.ecs_metadata");
  });

  test("without an ifconfig binary fails before changing anything, with the fallback alone as the hint", async () => {
    const missing = new IfconfigError(["/sbin/ifconfig", "-a"], { cause: Object.assign(new Error("spawnSync /sbin/ifconfig ENOENT"), { code: "ENOENT" }) });
    const { ifconfig, calls } = fakeIfconfig({ listError: missing });
    const error = await failure(addLoopbackAliases(["169.254.169.254"], { platform: "darwin", ifconfig, hints: IMDS_HINTS }));
    expect(error.code).toBe(ErrorCode.Platform);
    expect(error.message).toBe("Cannot read the addresses of the loopback interface lo0: Cannot run /sbin/ifconfig -a: spawnSync /sbin/ifconfig ENOENT");
    expect(error.hint).toBe(IMDS_HINTS.fallback);
    expect(calls).toEqual(["list -a"]);
  });

  test("remove() is idempotent, skips addresses already gone and reports other failures without throwing", async () => {
    const busy = "ifconfig: ioctl (SIOCDIFADDR): Resource busy";
    const { ifconfig, lo0, calls } = fakeIfconfig({ failDelete: { "169.254.170.23": busy } });
    const reported: string[] = [];
    const { remove } = await addLoopbackAliases(ECS, {
      platform: "darwin",
      ifconfig,
      onRemoveError: (alias, error) => {
        reported.push(`${alias.address}: ${(error as IfconfigError).stderr}`);
        throw new Error("a broken reporter must not break shutdown");
      },
    });
    lo0.delete("fd00:ec2::23"); // someone else removed it
    expect(() => remove()).not.toThrow();
    expect(() => remove()).not.toThrow();
    expect(reported).toEqual([`169.254.170.23: ${busy}`]);
    expect(calls.filter((c) => c.startsWith("del"))).toEqual(["del fd00:ec2::23 on lo0", "del 169.254.170.23 on lo0", "del 169.254.170.2 on lo0"]);
    expect(lo0.has("169.254.170.2")).toBe(false);
  });
});

describe("addLoopbackAliases() on macOS through a real ifconfig process", () => {
  // A stand-in for /sbin/ifconfig: logs its argv and prints macOS-shaped output for `-a` (lo0,
  // then the addresses added while HANG said "after", then en0). It refuses IPv6 adds the way
  // ifconfig does without root when the DENY file exists, and hangs on IPv4 adds, ignoring
  // SIGTERM, when the HANG file exists: before adding ("before") or after ("after").
  const dir = tempDirSync("credproxy-ifconfig-");
  const log = join(dir, "argv.log");
  const deny = join(dir, "DENY");
  const hang = join(dir, "HANG");
  const added = join(dir, "ADDED");
  const script = join(dir, "ifconfig");
  writeFileSync(
    script,
    `#!/bin/sh
echo "$*" >> '${log}'
case "$*" in
  -a) cat <<'OUT'
lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384
\toptions=1203<RXCSUM,TXCSUM,TXSTATUS,SW_TIMESTAMP>
\tinet 127.0.0.1 netmask 0xff000000
\tinet6 ::1 prefixlen 128
\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1
\tinet 169.254.170.23 netmask 0xffffffff
\tnd6 options=201<PERFORMNUD,DAD>
OUT
    cat '${added}' 2>/dev/null
    cat <<'OUT'
en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500
\tether 3c:22:fb:00:11:22
\tinet 192.168.1.23 netmask 0xffffff00 broadcast 192.168.1.255
\tstatus: active
OUT
  ;;
  "lo0 alias "*) if [ -e '${hang}' ]; then
      if [ "$(cat '${hang}')" = after ]; then printf '\tinet %s netmask 0xffffffff\n' "$3" >> '${added}'; fi
      trap '' TERM
      exec sleep 10
    fi ;;
  "lo0 inet6 "*" alias") if [ -e '${deny}' ]; then echo "ifconfig: ioctl (SIOCAIFADDR): permission denied" >&2; exit 1; fi ;;
esac
`,
  );
  chmodSync(script, 0o755);
  const argv = () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []);
  const reset = (files: { deny?: boolean; hang?: "before" | "after" } = {}) => {
    writeFileSync(log, "");
    for (const file of [deny, hang, added]) rmSync(file, { force: true });
    if (files.deny) writeFileSync(deny, "");
    if (files.hang) writeFileSync(hang, files.hang);
  };

  test("lists every interface, adds what is missing with alias, then removes it with -alias", async () => {
    reset();
    const wanted = [...ECS, "192.168.1.23"]; // the last is en0's own address
    const { aliases, remove } = await addLoopbackAliases(wanted, { platform: "darwin", ifconfig: ifconfig({ path: script }) });
    expect(aliases.map((a) => [a.address, a.added])).toEqual([
      ["169.254.170.2", true],
      ["169.254.170.23", false],
      ["fd00:ec2::23", true],
      ["192.168.1.23", false],
    ]);
    remove();
    remove();
    expect(argv()).toEqual([
      "-a",
      "lo0 alias 169.254.170.2 netmask 255.255.255.255",
      "lo0 inet6 fd00:ec2::23 prefixlen 128 alias",
      "lo0 inet6 fd00:ec2::23 -alias",
      "lo0 -alias 169.254.170.2",
    ]);
  });

  test("without root fails with ifconfig's stderr and takes the IPv4 address away again", async () => {
    reset({ deny: true });
    const error = await failure(addLoopbackAliases(ECS, { platform: "darwin", ifconfig: ifconfig({ path: script }) }));
    expect(error.message).toBe(
      'Cannot add fd00:ec2::23/128 to the loopback interface lo0 as credproxy is not running as root: ifconfig said "ifconfig: ioctl (SIOCAIFADDR): permission denied"',
    );
    expect(argv()).toEqual([
      "-a",
      "lo0 alias 169.254.170.2 netmask 255.255.255.255",
      "lo0 inet6 fd00:ec2::23 prefixlen 128 alias",
      "lo0 -alias 169.254.170.2",
    ]);
  });

  test("an add that hangs is killed at the timeout and fails with the fallback as the hint, not sudo", async () => {
    reset({ hang: "before" });
    const started = performance.now();
    const error = await failure(addLoopbackAliases(ECS, { platform: "darwin", ifconfig: ifconfig({ path: script, timeoutMs: 300 }), fallbackPort: 9911 }));
    expect(performance.now() - started).toBeLessThan(3000);
    expect(error.code).toBe(ErrorCode.Platform);
    expect(error.message).toBe(
      `Cannot add 169.254.170.2/32 to the loopback interface lo0: ${script} lo0 alias 169.254.170.2 netmask 255.255.255.255 did not finish within 300 ms`,
    );
    expect(error.hint).toBe("drop server.ecs_metadata and point AWS_CONTAINER_CREDENTIALS_FULL_URI at http://127.0.0.1:9911/v1/credentials");
    expect((error.cause as IfconfigError).kind).toBe("timeout");
    // Listed again: the address did not appear on lo0, so there is nothing to take away.
    expect(argv()).toEqual(["-a", "lo0 alias 169.254.170.2 netmask 255.255.255.255", "-a"]);
  });

  test("an add that hangs after the address appeared on lo0 counts as added, so remove() takes it away", async () => {
    reset({ hang: "after" });
    const { aliases, remove } = await addLoopbackAliases(ECS, { platform: "darwin", ifconfig: ifconfig({ path: script, timeoutMs: 300 }) });
    expect(aliases.map((a) => [a.address, a.added])).toEqual([
      ["169.254.170.2", true],
      ["169.254.170.23", false],
      ["fd00:ec2::23", true],
    ]);
    remove();
    expect(argv()).toEqual([
      "-a",
      "lo0 alias 169.254.170.2 netmask 255.255.255.255",
      "-a",
      "lo0 inet6 fd00:ec2::23 prefixlen 128 alias",
      "lo0 inet6 fd00:ec2::23 -alias",
      "lo0 -alias 169.254.170.2",
    ]);
  });
});
