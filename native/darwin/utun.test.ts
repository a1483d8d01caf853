/**
 * The utun FFI: the declarations pinned for both Mac architectures (runs anywhere), a nine-
 * argument call through bun:ffi (runs anywhere: the ninth must arrive intact), a real variadic
 * callee fed the arm64 layout (darwin-arm64 only: that is the ABI the layout is for), and a real
 * utun (macOS as root only). The skipped ones say why in their names; bun prints them as skips.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { FFIType, cc } from "bun:ffi";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupAll, tempDirSync } from "../../test/helpers/cleanup.ts";
import { closeUtun, libSystemSymbols, openUtun, readPacket, waitReadable, writePacket } from "./utun.ts";
import { IOCTL_PADS, variadicArguments } from "./utun-structs.ts";

afterAll(cleanupAll);

const ON_MAC = process.platform === "darwin";
const ON_MAC_ARM64 = ON_MAC && process.arch === "arm64";
const AS_ROOT = process.geteuid?.() === 0;

describe("libSystem declarations", () => {
  test("on arm64, ioctl and fcntl take their variadic argument ninth, after six u64 pads", () => {
    const symbols = libSystemSymbols("arm64");
    expect(symbols.ioctl.args).toEqual([FFIType.i32, FFIType.u64, ...new Array(IOCTL_PADS).fill(FFIType.u64), FFIType.ptr]);
    expect(symbols.fcntl.args).toEqual([FFIType.i32, FFIType.i32, ...new Array(IOCTL_PADS).fill(FFIType.u64), FFIType.i64]);
  });

  test("on x64 they take it third, like a fixed argument; the non-variadic calls are the same on both", () => {
    const x64 = libSystemSymbols("x64");
    const arm64 = libSystemSymbols("arm64");
    expect(x64.ioctl.args).toEqual([FFIType.i32, FFIType.u64, FFIType.ptr]);
    expect(x64.fcntl.args).toEqual([FFIType.i32, FFIType.i32, FFIType.i64]);
    for (const name of ["socket", "connect", "getsockopt", "read", "write", "poll", "close", "__error"] as const) expect(x64[name]).toEqual(arm64[name]);
  });
});

/** Compiles `source` with bun:ffi's built-in C compiler (TinyCC). */
function compile<S extends Record<string, { args: FFIType[]; returns: FFIType }>>(source: string, symbols: S) {
  const file = join(tempDirSync("utun-ffi-"), "probe.c");
  writeFileSync(file, source);
  return cc({ source: file, symbols }).symbols;
}

describe("the nine-argument call", () => {
  test("bun:ffi passes a ninth pointer argument intact after eight integers", () => {
    const { ninth } = compile(
      `#include <stdint.h>
      uint64_t ninth(int32_t fd, uint64_t request, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, uint64_t f, uint8_t *arg) {
        return (a | b | c | d | e | f) != 0 ? 0 : (uint64_t)fd * 1000000 + request * 1000 + arg[0];
      }`,
      { ninth: { args: [FFIType.i32, FFIType.u64, ...new Array<FFIType>(IOCTL_PADS).fill(FFIType.u64), FFIType.ptr], returns: FFIType.u64 } },
    );
    expect(ninth(...(variadicArguments("arm64", 7, 42, new Uint8Array([99])) as Parameters<typeof ninth>))).toBe(7_042_099n);
  });

  test.skipIf(!ON_MAC_ARM64)("a variadic C function called with the arm64 layout finds the pointer with va_arg (darwin-arm64 only: skipped elsewhere)", () => {
    const { variadic } = compile(
      `#include <stdarg.h>
      #include <stdint.h>
      int variadic(int fd, unsigned long request, ...) {
        va_list ap; va_start(ap, request); uint8_t *arg = va_arg(ap, uint8_t *); va_end(ap);
        return fd * 1000 + arg[0];
      }`,
      { variadic: { args: [FFIType.i32, FFIType.u64, ...new Array<FFIType>(IOCTL_PADS).fill(FFIType.u64), FFIType.ptr], returns: FFIType.i32 } },
    );
    expect(variadic(...(variadicArguments("arm64", 5, 1, new Uint8Array([77])) as Parameters<typeof variadic>))).toBe(5077);
  });
});

describe("a real utun", () => {
  test.skipIf(!(ON_MAC && AS_ROOT))("opens the next free utunN, is non-blocking, refuses non-IP writes and closes (macOS as root only: skipped elsewhere)", () => {
    const handle = openUtun();
    try {
      expect(handle.name).toMatch(/^utun\d+$/);
      expect(readPacket(handle.fd, new Uint8Array(2000))).toBe(0); // nothing queued: EAGAIN, not a hang
      expect(waitReadable(handle.fd, 10)).toBe("timeout");
      expect(writePacket(handle.fd, new Uint8Array([0x10, 0, 0, 0]))).toBe(-22);
    } finally {
      closeUtun(handle.fd);
    }
  });

  test.skipIf(ON_MAC)("off macOS, opening says libSystem is macOS-only", () => {
    expect(() => openUtun()).toThrow(/native\/darwin is macOS-only/);
  });
});
