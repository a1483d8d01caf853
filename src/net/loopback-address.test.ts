import { describe, expect, test } from "bun:test";
import { ErrnoError } from "../../native/libc.ts";
import type { AddressRequest } from "../../native/linux/netlink.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { addLoopbackAliases, formatAddress, parseAddress, type LoopbackSystem } from "./loopback-address.ts";

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
    platform?: string;
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
    platform: options.platform ?? "linux",
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
    const { aliases, remove } = await addLoopbackAliases(ECS, { system });
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
    const { remove } = await addLoopbackAliases(["169.254.170.2"], { system });
    remove();
    remove();
    expect(calls.filter((c) => c.startsWith("del"))).toEqual(["del 169.254.170.2/32"]);
  });

  test("leaves an address that was already present in place, and says so", async () => {
    const { system, addresses, calls } = fakeSystem({ present: ["169.254.170.2"] });
    const { aliases, remove } = await addLoopbackAliases(ECS.slice(0, 2), { system });
    expect(aliases.map((a) => a.added)).toEqual([false, true]);
    remove();
    expect(calls).toEqual(["add 169.254.170.23/32 scope 254 on 1", "route 169.254.170.23", "del 169.254.170.23/32"]);
    expect(addresses.has("169.254.170.2")).toBe(true);
  });

  test("treats EEXIST from the kernel (added meanwhile) as present, not ours", async () => {
    const { system, calls } = fakeSystem({ failAdd: { "169.254.170.2": "EEXIST" } });
    const { aliases, remove } = await addLoopbackAliases(["169.254.170.2"], { system });
    expect(aliases[0]?.added).toBe(false);
    remove();
    expect(calls.some((c) => c.startsWith("del"))).toBe(false);
  });

  test("adds a repeated address once, with the first prefix written", async () => {
    const { system, calls } = fakeSystem();
    const { aliases } = await addLoopbackAliases(["169.254.170.2", "169.254.170.2/24", "fd00:ec2::23/64", "fd00:EC2:0::23"], { system });
    expect(aliases.map((a) => `${a.address}/${a.prefixLength}`)).toEqual(["169.254.170.2/32", "fd00:ec2::23/64"]);
    expect(calls.filter((c) => c.startsWith("add"))).toHaveLength(2);
  });

  test("waits until the kernel routes an added IPv6 address locally before returning", async () => {
    const { system, calls } = fakeSystem({ routeDelay: { "fd00:ec2::23": 3 } });
    const { aliases } = await addLoopbackAliases(["fd00:ec2::23"], { system });
    expect(aliases[0]?.added).toBe(true);
    expect(calls.filter((c) => c.startsWith("route"))).toHaveLength(4);
  });

  test("gives up with E_PLATFORM and rolls back when an address never becomes routable", async () => {
    const { system, addresses } = fakeSystem({ routeDelay: { "fd00:ec2::23": 1_000_000 } });
    const error = await failure(addLoopbackAliases(["169.254.170.2", "fd00:ec2::23"], { system, readyTimeoutMs: 20 }));
    expect(error.code).toBe(ErrorCode.Platform);
    expect(error.message).toBe("Cannot use fd00:ec2::23/128 on the loopback interface lo as the kernel did not route it locally within 20 ms");
    expect([...addresses]).toEqual([]);
  });

  test("without CAP_NET_ADMIN throws E_PLATFORM naming the address, with the hint, and rolls back", async () => {
    const { system, addresses } = fakeSystem({ failAdd: { "169.254.170.23": "EPERM" } });
    const error = await failure(addLoopbackAliases(ECS, { system, fallbackPort: 9911 }));
    expect(error.code).toBe(ErrorCode.Platform);
    expect(error.message).toBe("Cannot add 169.254.170.23/32 to the loopback interface lo as credproxy lacks CAP_NET_ADMIN: the kernel answered EPERM");
    expect(error.hint).toBe(
      "run with CAP_NET_ADMIN (docker run --cap-add NET_ADMIN --user 0, or in compose cap_add: [NET_ADMIN] with user: \"0:0\"; Docker does not pass added capabilities to other users), or drop server.ecs_metadata and point AWS_CONTAINER_CREDENTIALS_FULL_URI at http://127.0.0.1:9911/v1/credentials",
    );
    expect(error.details).toMatchObject({ address: "169.254.170.23/32", errno: "EPERM", uid: 65534 });
    expect(error.cause).toBeInstanceOf(ErrnoError);
    expect([...addresses]).toEqual([]); // 169.254.170.2 was taken away again
  });

  test("maps EACCES to the capability error and leaves <port> when no port is known", async () => {
    const { system } = fakeSystem({ failAdd: { "169.254.170.2": "EACCES" } });
    const error = await failure(addLoopbackAliases(["169.254.170.2"], { system }));
    expect(error.message).toContain("lacks CAP_NET_ADMIN: the kernel answered EACCES");
    expect(error.hint).toContain("http://127.0.0.1:<port>/v1/credentials");
  });

  test("explains EACCES on IPv6 when IPv6 is disabled on lo", async () => {
    const { system } = fakeSystem({ failAdd: { "fd00:ec2::23": "EACCES" }, ipv6Disabled: true });
    const error = await failure(addLoopbackAliases(["fd00:ec2::23"], { system }));
    expect(error.message).toBe("Cannot add fd00:ec2::23/128 to the loopback interface lo as IPv6 is disabled on it: net.ipv6.conf.lo.disable_ipv6 is 1");
    expect(error.hint).toContain("--sysctl net.ipv6.conf.lo.disable_ipv6=0");
  });

  test("off Linux says the option is Linux-only and changes nothing", async () => {
    const { system, calls } = fakeSystem({ platform: "darwin" });
    const error = await failure(addLoopbackAliases(["169.254.170.2"], { system }));
    expect(error.code).toBe(ErrorCode.Platform);
    expect(error.message).toBe('Cannot add 169.254.170.2/32 to the loopback interface as server.ecs_metadata is Linux-only: current platform is "darwin"');
    expect(error.hint).toBe("drop server.ecs_metadata and point AWS_CONTAINER_CREDENTIALS_FULL_URI at http://127.0.0.1:<port>/v1/credentials");
    expect(calls).toEqual([]);
  });

  test("rejects a bad address before changing anything", async () => {
    const { system, calls } = fakeSystem();
    const error = await failure(addLoopbackAliases(["169.254.170.2", "169.254.170.300"], { system }));
    expect(error.code).toBe(ErrorCode.ConfigInvalid);
    expect(calls).toEqual([]);
  });

  test("remove() never throws: it skips addresses already gone and reports other failures", async () => {
    const { system, addresses } = fakeSystem({ failDelete: { "169.254.170.23": "EBUSY" } });
    const reported: string[] = [];
    const { remove } = await addLoopbackAliases(ECS, {
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
    const { system, calls } = fakeSystem({ platform: "win32" });
    const { aliases, remove } = await addLoopbackAliases([], { system });
    expect(aliases).toEqual([]);
    remove();
    expect(calls).toEqual([]);
  });
});
