/** Pins the utun structs, ioctl numbers, AF header and the arm64 ioctl argument layout (no Mac needed). */
import { describe, expect, test } from "bun:test";
import {
  CTLIOCGINFO, CTL_INFO_SIZE, FIOCLEX, SOCKADDR_CTL_SIZE, UTUN_CONTROL_NAME, ctlIdOf, ctlInfo, interfaceNameOf,
  variadicArguments, sockaddrCtl, utunUnit, withAfHeader, withoutAfHeader,
} from "./utun-structs.ts";

describe("utun structs", () => {
  test("CTLIOCGINFO is _IOWR('N', 3, struct ctl_info) = 0xc0644e03 and FIOCLEX is _IO('f', 1) = 0x20006601", () => {
    expect(CTLIOCGINFO).toBe(0xc0644e03);
    expect(FIOCLEX).toBe(0x20006601);
  });

  test("struct ctl_info is 100 bytes: ctl_id at 0, the NUL-terminated name at 4", () => {
    const info = ctlInfo(UTUN_CONTROL_NAME);
    expect(CTL_INFO_SIZE).toBe(100);
    expect(info.byteLength).toBe(100);
    expect(new TextDecoder().decode(info.subarray(4, 4 + UTUN_CONTROL_NAME.length))).toBe(UTUN_CONTROL_NAME);
    expect(info[4 + UTUN_CONTROL_NAME.length]).toBe(0);
    info.set([0x78, 0x56, 0x34, 0x12], 0);
    expect(ctlIdOf(info)).toBe(0x12345678);
    expect(() => ctlInfo("x".repeat(96))).toThrow(RangeError);
  });

  test("struct sockaddr_ctl is 32 bytes: len 32, family AF_SYSTEM, sysaddr AF_SYS_CONTROL, id at 4, unit at 8, reserved zero", () => {
    const address = sockaddrCtl(0x01020304, 8);
    expect(SOCKADDR_CTL_SIZE).toBe(32);
    expect([...address]).toEqual([32, 32, 2, 0, 4, 3, 2, 1, 8, 0, 0, 0, ...new Array(20).fill(0)]);
  });

  test("utunUnit(): utunN asks for unit N + 1, anything else for 0 (the next free one)", () => {
    expect(utunUnit("utun7")).toBe(8);
    expect(utunUnit(undefined)).toBe(0);
    expect(utunUnit("cpx%d")).toBe(0);
  });

  test("interfaceNameOf() stops at the NUL", () => {
    expect(interfaceNameOf(new TextEncoder().encode("utun3\0\0\0"), 6)).toBe("utun3");
  });
});

describe("the 4-byte address-family header", () => {
  test("IPv4 gets 00 00 00 02 and IPv6 00 00 00 1e in front; other packets are refused", () => {
    expect([...withAfHeader(new Uint8Array([0x45, 1]))!]).toEqual([0, 0, 0, 2, 0x45, 1]);
    expect([...withAfHeader(new Uint8Array([0x60, 2]))!]).toEqual([0, 0, 0, 30, 0x60, 2]);
    expect(withAfHeader(new Uint8Array([0x10]))).toBeUndefined();
    expect(withAfHeader(new Uint8Array())).toBeUndefined();
  });

  test("a read is stripped of its header; short reads and other families are dropped", () => {
    const read = new Uint8Array([0, 0, 0, 2, 0x45, 9, 9, 0xff]);
    expect([...withoutAfHeader(read, 7)!]).toEqual([0x45, 9, 9]);
    expect(withoutAfHeader(read, 4)).toBeUndefined();
    expect(withoutAfHeader(new Uint8Array([0, 0, 0, 7, 0x45]), 5)).toBeUndefined();
  });
});

describe("ioctl's variadic third argument", () => {
  test("on arm64 it is the ninth argument, after six zero pads; elsewhere the third", () => {
    const p = new Uint8Array(1);
    expect(variadicArguments("arm64", 5, CTLIOCGINFO, p)).toEqual([5, CTLIOCGINFO, 0n, 0n, 0n, 0n, 0n, 0n, p]);
    expect(variadicArguments("x64", 5, CTLIOCGINFO, p)).toEqual([5, CTLIOCGINFO, p]);
  });
});
