/** ChannelSender under Bun's fake timers, with a clock the tests move in step with them. */
import { afterEach, beforeEach, describe, expect, jest, test } from "bun:test";
import { ChannelSender } from "./channel-sender.ts";
import { CLIENT_MESSAGE_HEADER_BYTES, decodeClientMessage } from "./client-message.ts";
import { PayloadType } from "./message-types.ts";

let clock = 1_000_000;
let sent: number[] = [];
let buffered = 0;

function sender(maxInFlightBytes = 64 * 1024): ChannelSender {
  return new ChannelSender({
    maxInFlightBytes,
    now: () => clock,
    send: (frame) => void sent.push(decodeClientMessage(frame).sequenceNumber),
    bufferedAmount: () => buffered,
  });
}

/** A sender with its socket up and the handshake done, and nothing recorded yet. */
function liveSender(maxInFlightBytes?: number): ChannelSender {
  const s = sender(maxInFlightBytes);
  s.socketUp();
  s.handshakeComplete();
  sent = [];
  return s;
}

function advance(ms: number): void {
  clock += ms;
  jest.advanceTimersByTime(ms);
}

beforeEach(() => {
  jest.useFakeTimers();
  sent = [];
  buffered = 0;
});
afterEach(() => jest.useRealTimers());

describe("ChannelSender", () => {
  test("Output written before HandshakeComplete is held and goes out after the HandshakeResponse, in order", () => {
    const s = sender();
    s.socketUp();
    expect(s.write(new Uint8Array(1500))).toBe(true);
    expect(sent).toEqual([]);
    s.pushControl(PayloadType.HandshakeResponse, new Uint8Array([123]));
    s.handshakeComplete();
    expect(sent).toEqual([0, 1, 2]);
    expect(s.messagesOut).toBe(2);
    expect(s.bytesOut).toBe(1500);
  });

  test("one timer resends every unacked message together once the 200 ms initial RTO has passed", () => {
    const s = liveSender();
    s.write(new Uint8Array(3 * 1024));
    expect(jest.getTimerCount()).toBe(1);
    advance(199);
    expect(sent).toEqual([0, 1, 2]);
    advance(1);
    expect(sent).toEqual([0, 1, 2, 0, 1, 2]);
    expect(s.stats().resends).toBe(3);
    expect(jest.getTimerCount()).toBe(1);
  });

  test("while the socket is down nothing is written or resent, and on socketUp everything stored goes out", () => {
    const s = liveSender();
    s.write(new Uint8Array(1024));
    s.socketDown();
    expect(s.write(new Uint8Array(1024))).toBe(true);
    advance(5_000);
    expect(sent).toEqual([0]);
    expect(jest.getTimerCount()).toBe(0);
    s.socketUp();
    expect(sent).toEqual([0, 0, 1]);
  });

  test("pause_publication stops resends until start_publication, which writes everything unacked", () => {
    const s = liveSender();
    s.write(new Uint8Array(2048));
    s.pausePublication();
    advance(2_000);
    expect(sent).toEqual([0, 1]);
    s.startPublication();
    expect(sent).toEqual([0, 1, 0, 1]);
  });

  test("an ack re-arms the timer for the next due message only, and the last ack leaves none", () => {
    const s = liveSender();
    s.write(new Uint8Array(1024));
    advance(100);
    s.write(new Uint8Array(1024));
    s.acknowledged(0);
    // RTO after one 100 ms sample: SRTT 100, RTTVAR 0.75·0 + 0.25·0 = 0 → 100 + 10 = 110 ms after the second send.
    advance(109);
    expect(sent).toEqual([0, 1]);
    advance(1);
    expect(sent).toEqual([0, 1, 1]);
    s.acknowledged(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  test("a write that would pass the bound is refused whole, and onWritable fires once when half is free", () => {
    const perMessage = 1024 + CLIENT_MESSAGE_HEADER_BYTES;
    const s = liveSender(4 * perMessage);
    let writable = 0;
    s.onWritable(() => writable++);
    expect(s.write(new Uint8Array(4 * 1024))).toBe(true);
    expect(s.write(new Uint8Array(1))).toBe(false);
    expect(s.stats().nextSequenceNumber).toBe(4);
    s.acknowledged(0);
    expect(writable).toBe(0);
    s.acknowledged(1);
    expect(writable).toBe(1);
    s.acknowledged(2);
    expect(writable).toBe(1);
  });

  test("a WebSocket buffer over the bound refuses writes even with the window empty", () => {
    const s = liveSender(8 * 1024);
    buffered = 9 * 1024;
    expect(s.write(new Uint8Array(10))).toBe(false);
    buffered = 0;
    expect(s.write(new Uint8Array(10))).toBe(true);
  });

  test("after stop() nothing is taken and no timer is left", () => {
    const s = liveSender();
    s.write(new Uint8Array(10));
    s.stop();
    expect(s.write(new Uint8Array(10))).toBe(false);
    expect(jest.getTimerCount()).toBe(0);
  });
});
