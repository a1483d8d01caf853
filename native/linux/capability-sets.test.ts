import { describe, expect, test } from "bun:test";
import {
  CAP_NET_ADMIN, CAP_SETUID, LINUX_CAPABILITY_VERSION_3, capHeader, capMask, capNames, decodeCapData, encodeCapData, parseProcStatus,
} from "./capability-sets.ts";

describe("capget/capset structures", () => {
  test("the header is version 3 then the pid, as two 32-bit words", () => {
    expect([...capHeader()]).toEqual([0x20080522, 0]);
    expect(LINUX_CAPABILITY_VERSION_3).toBe(0x20080522);
    expect(new Uint8Array(capHeader(4242).buffer)).toEqual(new Uint8Array([0x22, 0x05, 0x08, 0x20, 0x92, 0x10, 0, 0]));
  });

  test("data[0] holds effective, permitted, inheritable of capabilities 0..31 and data[1] those of 32..63", () => {
    // CAP_NET_ADMIN (12) effective+permitted; CAP_SYSLOG (34) inheritable; CAP_BPF (39) permitted.
    const data = encodeCapData({ effective: capMask([12]), permitted: capMask([12, 39]), inheritable: capMask([34]) });
    expect([...data]).toEqual([0x1000, 0x1000, 0, 0, 1 << 7, 1 << 2]);
  });

  test("decoding reverses encoding, including bit 31 and bit 63", () => {
    const sets = { effective: capMask([0, 31, 63]), permitted: (1n << 64n) - 1n, inheritable: 0n };
    expect(decodeCapData(encodeCapData(sets))).toEqual(sets);
  });

  test("a buffer of the wrong size is refused", () => {
    expect(() => decodeCapData(new Uint32Array(3))).toThrow("expected 6");
  });

  test("capabilities are named as capabilities(7) spells them", () => {
    expect(capNames(capMask([CAP_SETUID, CAP_NET_ADMIN, 45]))).toEqual(["CAP_SETUID", "CAP_NET_ADMIN", "CAP_45"]);
  });
});

describe("parseProcStatus", () => {
  test("reads ids, groups, the five capability masks and NoNewPrivs", () => {
    const text = "Name:\tcredproxy\nUid:\t65532\t65532\t65532\t65532\nGid:\t1\t2\t3\t4\nGroups:\t \nCapInh:\t0000000000000000\nCapPrm:\t0000000000001000\nCapEff:\t0000000000001000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n";
    expect(parseProcStatus(text)).toEqual({
      uid: [65532, 65532, 65532, 65532], gid: [1, 2, 3, 4], groups: [],
      inheritable: 0n, permitted: 0x1000n, effective: 0x1000n, bounding: 0x1ffffffffffn, ambient: 0n, noNewPrivs: 1,
    });
  });
});
