import { describe, expect, test } from "bun:test";
import { BacklogWriter, type ByteSink } from "./backlog-writer.ts";

/** A socket whose kernel buffer takes `room` bytes until the test drains it. */
class FakeSocket implements ByteSink {
  readonly received: number[] = [];
  closed = false;
  constructor(public room: number) {}
  write(data: Uint8Array): number {
    if (this.closed) return -1;
    const taken = Math.min(this.room, data.length);
    this.room -= taken;
    this.received.push(...data.subarray(0, taken));
    return taken;
  }
}

const frame = (byte: number, length: number) => new Uint8Array(length).fill(byte);

describe("the backlog writer toward the SSM agent", () => {
  test("with room in the socket, frames go straight through and nothing waits", () => {
    const socket = new FakeSocket(10_000);
    const writer = new BacklogWriter(socket);
    expect(writer.writePacket(frame(1, 1000))).toBe(true);
    writer.writeControl(frame(2, 20));
    expect(writer.backlogBytes).toBe(0);
    expect(socket.received.length).toBe(1020);
  });

  test("a frame the socket takes only part of is finished on drain, so the stream never holds half a frame", () => {
    const socket = new FakeSocket(300);
    const writer = new BacklogWriter(socket);
    writer.writePacket(frame(1, 1000));
    writer.writePacket(frame(2, 500));
    expect(writer.backlogBytes).toBe(1200);
    socket.room = 5000;
    writer.flush();
    expect(writer.backlogBytes).toBe(0);
    expect(socket.received).toEqual([...frame(1, 1000), ...frame(2, 500)]);
  });

  test("once the backlog is over the bound, PACKET frames are dropped and counted", () => {
    const socket = new FakeSocket(0);
    const writer = new BacklogWriter(socket, { maxBacklogBytes: 4000 });
    const kept = Array.from({ length: 10 }, () => writer.writePacket(frame(1, 1000)));
    expect(kept).toEqual([true, true, true, true, true, false, false, false, false, false]);
    expect(writer.stats()).toMatchObject({ packetsWritten: 5, packetsDropped: 5, bytesDropped: 5000, peakBacklogBytes: 5000 });
  });

  test("control frames are never dropped, however full the backlog, and arrive after what was queued", () => {
    const socket = new FakeSocket(0);
    const writer = new BacklogWriter(socket, { maxBacklogBytes: 1000 });
    writer.writePacket(frame(1, 2000));
    expect(writer.writePacket(frame(9, 100))).toBe(false);
    writer.writeControl(frame(2, 10));
    writer.writeControl(frame(3, 10));
    socket.room = 10_000;
    writer.flush();
    expect(socket.received).toEqual([...frame(1, 2000), ...frame(2, 10), ...frame(3, 10)]);
    expect(writer.stats()).toMatchObject({ controlFrames: 2, packetsDropped: 1 });
  });

  test("after the backlog drains, packets are kept again", () => {
    const socket = new FakeSocket(0);
    const writer = new BacklogWriter(socket, { maxBacklogBytes: 1000 });
    writer.writePacket(frame(1, 1500));
    expect(writer.writePacket(frame(1, 10))).toBe(false);
    socket.room = 2000;
    writer.flush();
    expect(writer.writePacket(frame(1, 10))).toBe(true);
  });

  test("a closed connection fails the writer and drops what waits; a long pile of control frames counts as stuck", () => {
    const socket = new FakeSocket(0);
    const writer = new BacklogWriter(socket, { stuckBytes: 50 });
    for (let i = 0; i < 6; i++) writer.writeControl(frame(2, 10));
    expect(writer.stuck).toBe(true);
    socket.closed = true;
    writer.flush();
    expect({ failed: writer.failed, backlog: writer.backlogBytes, kept: writer.writePacket(frame(1, 10)) }).toEqual({ failed: true, backlog: 0, kept: false });
  });
});
