/**
 * The parts of the Linux TUN device that need no privilege: option checks that fail before
 * anything touches the system, and the errno → message and hint mapping. The device itself is
 * tested for real in test/integration/tun-device.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { ErrnoError } from "../../native/libc.ts";
import { ErrorCode } from "../errors.ts";
import { openLinuxTun, tunError } from "./tun-device-linux.ts";

const GOOD = { mtu: 1400, address: "100.64.0.1", peer: "100.64.0.2", routes: ["10.99.0.0/24"] };

describe("openLinuxTun() checks its options before opening anything", () => {
  test.each([
    [{ address: "fd00::1" }, 'tunnel address "fd00::1" is not an IPv4 address'],
    [{ peer: "peer.invalid" }, 'tunnel peer "peer.invalid" is not an IPv4 address'],
    [{ mtu: 100 }, "tunnel MTU 100 must be a whole number from 576 to 65535"],
    [{ routes: ["10.99.0.1/24"] }, "tunnel route: 10.99.0.1/24 has host bits set; write 10.99.0.0/24"],
  ])("%o is refused as invalid config", async (change, message) => {
    const error = await openLinuxTun({ ...GOOD, ...change }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.ConfigInvalid, message });
  });
});

describe("tunError()", () => {
  test("EPERM and EACCES say root or CAP_NET_ADMIN is needed, with the ways to grant it", () => {
    for (const errno of [1, 13]) {
      const error = tunError("open", "cpx%d", new ErrnoError("ioctl(TUNSETIFF)", errno));
      expect(error.code).toBe(ErrorCode.Platform);
      expect(error.message).toMatch(/^Cannot create the TUN device cpx%d: needs root or CAP_NET_ADMIN \(the kernel answered E(PERM|ACCES)\)$/);
      expect(error.hint).toContain("--cap-add NET_ADMIN --device /dev/net/tun");
    }
  });

  test("ENOENT on open says there is no /dev/net/tun and to load the tun module", () => {
    const error = tunError("open", "cpx%d", new ErrnoError("open(/dev/net/tun)", 2));
    expect(error.message).toBe("Cannot create the TUN device cpx%d: no /dev/net/tun: load the tun module");
    expect(error.hint).toBe("`modprobe tun`; in a container, pass `--device /dev/net/tun`");
  });

  test("EBUSY on open says the name is taken", () => {
    expect(tunError("open", "cpx0", new ErrnoError("ioctl(TUNSETIFF)", 16)).message).toBe(
      "Cannot create the TUN device cpx0: an interface with that name exists already",
    );
  });

  test("EEXIST on a route names the CIDR and says how to find the existing route", () => {
    const error = tunError("route", "10.99.0.0/24", new ErrnoError("netlink RTM_NEWROUTE", 17));
    expect(error.message).toBe("Cannot route 10.99.0.0/24 through the TUN device: a route for it exists already");
    expect(error.hint).toContain("ip route show");
  });

  test("a bad interface name is a config error, not a platform one", () => {
    expect(tunError("open", "a name that is far too long", new RangeError("too long")).code).toBe(ErrorCode.ConfigInvalid);
  });

  test("any other errno keeps the system call's own message", () => {
    const error = tunError("configure", "cpx0", new ErrnoError("netlink RTM_NEWLINK", 22, "mtu less than device minimum"));
    expect(error.message).toBe("Cannot configure the TUN device cpx0: netlink RTM_NEWLINK failed: EINVAL (errno 22): mtu less than device minimum");
  });
});
