/** The reader Worker's per-platform reads: which native module, and what a read becomes. */
import { describe, expect, test } from "bun:test";
import { tunPacketReads } from "./tun-packet-io.ts";

describe("tunPacketReads()", () => {
  test("on macOS a read loses its 4-byte address-family header; a non-IP family is dropped", async () => {
    const reads = await tunPacketReads("darwin");
    const buffer = new Uint8Array([0, 0, 0, 2, 0x45, 0, 0, 20, 0xee]);
    expect([...reads.packetOf(buffer, 8)!]).toEqual([0x45, 0, 0, 20]);
    expect([...reads.packetOf(new Uint8Array([0, 0, 0, 30, 0x60, 1]), 6)!]).toEqual([0x60, 1]);
    expect(reads.packetOf(new Uint8Array([0, 0, 0, 7, 0x45]), 5)).toBeUndefined();
  });

  test("on Linux a read is the bare packet already, copied out of the buffer", async () => {
    const reads = await tunPacketReads("linux");
    const buffer = new Uint8Array([0x45, 0, 0, 20, 0xee]);
    const packet = reads.packetOf(buffer, 4)!;
    expect([...packet]).toEqual([0x45, 0, 0, 20]);
    expect(packet.buffer).not.toBe(buffer.buffer);
  });
});
