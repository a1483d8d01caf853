import { describe, expect, test } from "bun:test";
import {
  CloseReason,
  encodeClose,
  encodeFrame,
  encodeHello,
  encodeHelloAck,
  encodePacket,
  encodePing,
  encodePong,
  encodeRawFrame,
  FrameDecoder,
  FramingError,
  FrameType,
  MAX_CLOSE_TEXT_BYTES,
  negotiate,
  rttMicros,
  type Frame,
  type HelloAckFields,
  type HelloFields,
} from "./framing.ts";

const hello: HelloFields = {
  version: { major: 1, minor: 0 },
  capabilities: 0,
  mtu: 1400,
  clientAddress: "100.64.7.2",
  agentAddress: "100.64.7.1",
  sessionNonce: Uint8Array.from({ length: 16 }, (_, i) => i * 7),
  agentVersion: "0.1.0",
};

const helloAck: HelloAckFields = {
  version: { major: 1, minor: 0 },
  capabilities: 0,
  clientId: Uint8Array.from({ length: 16 }, (_, i) => 255 - i),
  stripeIndex: 1,
  stripeCount: 3,
  hostname: "laptöp.local",
  clientVersion: "0.1.0",
  cidrs: ["10.0.0.0/16", "fd00::/8"],
};

function ipv4Packet(length: number, fill = 0xab): Uint8Array {
  const packet = new Uint8Array(length).fill(fill);
  packet[0] = 0x45;
  return packet;
}

function ipv6Packet(length: number): Uint8Array {
  const packet = new Uint8Array(length).fill(0x11);
  packet[0] = 0x60;
  return packet;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

/** Everything the agent says on a typical connection, as one buffer, and the frames in it. */
const agentFrames: Frame[] = [
  { type: "hello", ...hello },
  { type: "packet", packet: ipv4Packet(60) },
  { type: "ping", id: 1, sentAtMicros: 1_764_000_000_000_000 },
  { type: "packet", packet: ipv6Packet(1280) },
  { type: "pong", id: 9, sentAtMicros: 42 },
  { type: "packet", packet: ipv4Packet(20, 0) },
  { type: "close", reason: CloseReason.Normal, text: "agent shutting down" },
];
const agentStream = concat(...agentFrames.map(encodeFrame));

function decodeInChunks(stream: Uint8Array, cuts: number[], from: "agent" | "client" = "agent"): Frame[] {
  const decoder = new FrameDecoder({ from });
  const frames: Frame[] = [];
  let start = 0;
  for (const cut of [...cuts, stream.length]) {
    frames.push(...decoder.push(stream.subarray(start, cut)));
    start = cut;
  }
  return frames;
}

function framingError(run: () => unknown): FramingError {
  try {
    run();
  } catch (error) {
    if (error instanceof FramingError) return error;
    throw new Error(`expected a FramingError, got ${String(error)}`);
  }
  throw new Error("expected a FramingError, nothing was thrown");
}

describe("round trips", () => {
  test("every frame the agent sends decodes to what was encoded", () => {
    expect(new FrameDecoder({ from: "agent" }).push(agentStream)).toEqual(agentFrames);
  });

  test("HELLO_ACK with a non-ASCII hostname and IPv6 CIDR decodes to what the client sent", () => {
    const frames = new FrameDecoder({ from: "client" }).push(concat(encodeHelloAck(helloAck), encodePacket(ipv4Packet(40))));
    expect(frames).toEqual([{ type: "hello_ack", ...helloAck }, { type: "packet", packet: ipv4Packet(40) }]);
  });

  test("a PACKET costs three bytes of header: u16 big-endian body length, then the type", () => {
    const framed = encodePacket(ipv4Packet(1400));
    expect(framed.length).toBe(1403);
    expect(Array.from(framed.subarray(0, 3))).toEqual([0x05, 0x78, 0x10]);
  });

  test("a maximal 65535-byte IP packet fits in one frame and comes back whole", () => {
    const big = ipv4Packet(65535, 0x5a);
    const frames = new FrameDecoder({ from: "agent" }).push(concat(encodeHello(hello), encodePacket(big)));
    expect(frames[1]).toEqual({ type: "packet", packet: big });
  });

  test("a PONG echoes the PING's id and time, and gives the RTT against the same clock", () => {
    const [, pong] = new FrameDecoder({ from: "agent" }).push(concat(encodeHello(hello), encodePong({ id: 77, sentAtMicros: 5_000_000 })));
    expect(pong).toEqual({ type: "pong", id: 77, sentAtMicros: 5_000_000 });
    expect(rttMicros(pong as Extract<Frame, { type: "pong" }>, 5_083_000)).toBe(83_000);
  });

  test("CLOSE text longer than the limit is cut without splitting a character", () => {
    const [, close] = new FrameDecoder({ from: "agent" }).push(concat(encodeHello(hello), encodeClose(CloseReason.NotAllowed, "é".repeat(600))));
    expect(close).toEqual({ type: "close", reason: CloseReason.NotAllowed, text: "é".repeat(MAX_CLOSE_TEXT_BYTES / 2) });
  });

  test("a decoded packet is a copy: reusing the chunk afterwards does not change it", () => {
    const chunk = concat(encodeHello(hello), encodePacket(ipv4Packet(30)));
    const [, packet] = new FrameDecoder({ from: "agent" }).push(chunk);
    chunk.fill(0);
    expect(packet).toEqual({ type: "packet", packet: ipv4Packet(30) });
  });
});

describe("splits of the byte stream", () => {
  test("byte-at-a-time feeding yields the same frames", () => {
    expect(decodeInChunks(agentStream, Array.from({ length: agentStream.length - 1 }, (_, i) => i + 1))).toEqual(agentFrames);
  });

  test("a cut at every single position yields the same frames", () => {
    for (let cut = 0; cut <= agentStream.length; cut++) {
      expect(decodeInChunks(agentStream, [cut])).toEqual(agentFrames);
    }
  });

  test("SSM's 1024-byte messages and pseudo-random chunkings yield the same frames", () => {
    expect(decodeInChunks(agentStream, Array.from({ length: Math.floor(agentStream.length / 1024) }, (_, i) => (i + 1) * 1024))).toEqual(agentFrames);
    let seed = 12345;
    for (let round = 0; round < 50; round++) {
      const cuts: number[] = [];
      for (let at = 0; ; ) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        at += 1 + (seed % 300);
        if (at >= agentStream.length) break;
        cuts.push(at);
      }
      expect(decodeInChunks(agentStream, cuts)).toEqual(agentFrames);
    }
  });

  test("a maximal packet fed one byte at a time comes back whole", () => {
    const decoder = new FrameDecoder({ from: "agent" });
    decoder.push(encodeHello(hello));
    const big = ipv4Packet(65535, 0x3c);
    const framed = encodePacket(big);
    const frames: Frame[] = [];
    for (let at = 0; at < framed.length; at++) frames.push(...decoder.push(framed.subarray(at, at + 1)));
    expect(frames).toEqual([{ type: "packet", packet: big }]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  test("a partial frame stays buffered until its last byte arrives", () => {
    const decoder = new FrameDecoder({ from: "agent" });
    const framed = concat(encodeHello(hello), encodePacket(ipv4Packet(500)));
    expect(decoder.push(framed.subarray(0, framed.length - 1))).toHaveLength(1);
    expect(decoder.bufferedBytes).toBe(502);
    expect(decoder.push(framed.subarray(framed.length - 1))).toEqual([{ type: "packet", packet: ipv4Packet(500) }]);
    expect(decoder.bufferedBytes).toBe(0);
  });
});

describe("limits", () => {
  test("a PACKET header announcing more than maxPacket is refused from its three header bytes", () => {
    const decoder = new FrameDecoder({ from: "agent", maxPacket: 1500 });
    decoder.push(encodeHello(hello));
    const error = framingError(() => decoder.push(encodePacket(ipv4Packet(1501)).subarray(0, 3)));
    expect(error.kind).toBe("frame_too_large");
    expect(error.closeReason).toBe(CloseReason.ProtocolError);
  });

  test("a PACKET of exactly maxPacket bytes is accepted", () => {
    const decoder = new FrameDecoder({ from: "agent", maxPacket: 1500 });
    expect(decoder.push(concat(encodeHello(hello), encodePacket(ipv4Packet(1500))))).toHaveLength(2);
  });

  test("a control frame announcing more than 4096 bytes is refused before its body arrives", () => {
    const decoder = new FrameDecoder({ from: "agent" });
    decoder.push(encodeHello(hello));
    expect(framingError(() => decoder.push(Uint8Array.of(0x10, 0x01, 0x20))).kind).toBe("frame_too_large");
  });

  test("encoding a packet over 65535 bytes, an empty one or a non-IP one is a typed error", () => {
    expect(framingError(() => encodePacket(ipv4Packet(65536))).kind).toBe("frame_too_large");
    expect(framingError(() => encodePacket(new Uint8Array(0))).kind).toBe("bad_body");
    expect(framingError(() => encodePacket(Uint8Array.of(0x15, 0, 0))).kind).toBe("bad_body");
  });

  test("a received PACKET that is not IPv4 or IPv6 is a protocol error", () => {
    const decoder = new FrameDecoder({ from: "agent" });
    expect(framingError(() => decoder.push(concat(encodeHello(hello), encodeRawFrame(0x10, Uint8Array.of(0x25, 1, 2))))).kind).toBe("bad_body");
  });

  test("HELLO with bad addresses, MTU or nonce cannot be encoded", () => {
    expect(framingError(() => encodeHello({ ...hello, clientAddress: "100.64.7.256" })).kind).toBe("bad_body");
    expect(framingError(() => encodeHello({ ...hello, mtu: 40 })).kind).toBe("bad_body");
    expect(framingError(() => encodeHello({ ...hello, sessionNonce: new Uint8Array(8) })).kind).toBe("bad_body");
    expect(framingError(() => encodeHelloAck({ ...helloAck, stripeIndex: 3 })).kind).toBe("bad_body");
  });
});

describe("garbage and order", () => {
  test("an SSH banner on the agent port is refused from its first three bytes", () => {
    const error = framingError(() => new FrameDecoder({ from: "agent" }).push(new TextEncoder().encode("SSH")));
    expect(error.kind).toBe("unexpected_frame");
    expect(error.hint).toContain("credproxy agent");
  });

  test("a HELLO without the magic is refused as not a credproxy peer", () => {
    const body = encodeHello(hello).slice(3);
    body.set(new TextEncoder().encode("HTTP"), 0);
    expect(framingError(() => new FrameDecoder({ from: "agent" }).push(encodeRawFrame(0x01, body))).kind).toBe("bad_magic");
  });

  test("a PACKET before the HELLO is refused", () => {
    expect(framingError(() => new FrameDecoder({ from: "agent" }).push(encodePacket(ipv4Packet(20)))).kind).toBe("unexpected_frame");
  });

  test("the agent expects HELLO_ACK first, and refuses a HELLO from a client", () => {
    expect(framingError(() => new FrameDecoder({ from: "client" }).push(encodeHello(hello))).kind).toBe("unexpected_frame");
  });

  test("a second HELLO after the handshake is refused", () => {
    expect(framingError(() => new FrameDecoder({ from: "agent" }).push(concat(encodeHello(hello), encodeHello(hello)))).kind).toBe("unexpected_frame");
  });

  test("a truncated body inside a complete frame is bad_body", () => {
    const decoder = new FrameDecoder({ from: "agent" });
    decoder.push(encodeHello(hello));
    expect(framingError(() => decoder.push(encodeRawFrame(0x20, new Uint8Array(15)))).kind).toBe("bad_body");
  });

  test("a failed decoder keeps failing with the same error", () => {
    const decoder = new FrameDecoder({ from: "agent" });
    const first = framingError(() => decoder.push(Uint8Array.of(0, 1, 0x99)));
    expect(framingError(() => decoder.push(encodeHello(hello)))).toBe(first);
  });

  test("a CLOSE may come instead of a HELLO, and bytes after a CLOSE are discarded", () => {
    const decoder = new FrameDecoder({ from: "agent" });
    const frames = decoder.push(concat(encodeClose(CloseReason.NotAllowed, "peer is not ssm-session-worker"), new TextEncoder().encode("junk")));
    expect(frames).toEqual([{ type: "close", reason: CloseReason.NotAllowed, text: "peer is not ssm-session-worker" }]);
    expect(decoder.closed).toBe(true);
    expect(decoder.push(encodePacket(ipv4Packet(20)))).toEqual([]);
  });

  test("random bytes after a HELLO only ever raise FramingError and never buffer past one frame", () => {
    let seed = 99;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 0xff;
    const kinds = new Set<string>();
    for (let round = 0; round < 200; round++) {
      const decoder = new FrameDecoder({ from: "agent" });
      decoder.push(encodeHello(hello));
      const garbage = Uint8Array.from({ length: 4000 }, random);
      try {
        for (let at = 0; at < garbage.length; at += 97) {
          decoder.push(garbage.subarray(at, at + 97));
          expect(decoder.bufferedBytes).toBeLessThanOrEqual(3 + 65535);
        }
      } catch (error) {
        expect(error).toBeInstanceOf(FramingError);
        kinds.add((error as FramingError).kind);
      }
    }
    expect(kinds.size).toBeGreaterThan(0);
  });
});

describe("versions", () => {
  // A newer minor still sends the 1.2 fields (the IPv6 offer) before its own.
  const newerMinor: HelloFields = { ...hello, version: { major: 1, minor: 3 }, ipv6: { unavailable: "no IPv6 here" } };

  test("an unknown frame type from a peer with a newer minor is skipped and counted", () => {
    const decoder = new FrameDecoder({ from: "agent" });
    const frames = decoder.push(concat(encodeHello(newerMinor), encodeRawFrame(0x7e, new Uint8Array(2000)), encodePacket(ipv4Packet(20))));
    expect(frames.map((f) => f.type)).toEqual(["hello", "packet"]);
    expect(decoder.skipped).toBe(1);
  });

  test("an unknown frame type from a peer at our own minor is a protocol error", () => {
    const decoder = new FrameDecoder({ from: "agent" });
    expect(framingError(() => decoder.push(concat(encodeHello(hello), encodeRawFrame(0x7e, new Uint8Array(2))))).kind).toBe("unknown_type");
  });

  test("fields appended by a newer minor are ignored, but extra bytes from our own minor are garbage", () => {
    const withExtra = (h: HelloFields) => {
      const body = encodeHello(h).slice(3);
      return encodeRawFrame(0x01, concat(body, Uint8Array.of(1, 2, 3, 4)));
    };
    expect(new FrameDecoder({ from: "agent" }).push(withExtra(newerMinor))).toEqual([{ type: "hello", ...newerMinor }]);
    expect(framingError(() => new FrameDecoder({ from: "agent" }).push(withExtra(hello))).kind).toBe("bad_body");
  });

  test("a HELLO from a newer major is refused with a reason that says to upgrade this machine", () => {
    const error = framingError(() => new FrameDecoder({ from: "agent" }).push(encodeHello({ ...hello, version: { major: 2, minor: 0 } })));
    expect(error.kind).toBe("version_unsupported");
    expect(error.closeReason).toBe(CloseReason.VersionUnsupported);
    expect(error.message).toBe("the agent speaks tunnel protocol 2.0, newer than this credproxy's 1.2");
    expect(error.hint).toBe("upgrade credproxy on this machine");
  });

  test("a HELLO_ACK from an older major tells the agent to have the client upgraded", () => {
    const decoder = new FrameDecoder({ from: "client", ours: { major: 2, minor: 0 } });
    const error = framingError(() => decoder.push(encodeHelloAck(helloAck)));
    expect(error.kind).toBe("version_unsupported");
    expect(error.hint).toBe("upgrade credproxy on the client machine");
  });

  test("negotiation picks the lower minor and the capabilities both sides offer", () => {
    expect(negotiate({ major: 1, minor: 3 }, 0b1011, "agent", { major: 1, minor: 1 }, 0b0110)).toEqual({ version: { major: 1, minor: 1 }, capabilities: 0b0010 });
    expect(negotiate({ major: 1, minor: 0 }, 0, "client", { major: 1, minor: 2 }, 0b1)).toEqual({ version: { major: 1, minor: 0 }, capabilities: 0 });
    expect(framingError(() => negotiate({ major: 0, minor: 9 }, 0, "agent")).kind).toBe("version_unsupported");
  });

  test("the decoder remembers the peer's version from its HELLO", () => {
    const decoder = new FrameDecoder({ from: "agent" });
    expect(decoder.peerVersion).toBeUndefined();
    decoder.push(encodeHello(newerMinor));
    expect(decoder.peerVersion).toEqual({ major: 1, minor: 3 });
  });
});

test("PING ids and timestamps up to 2^53 survive; encoding a larger one is refused", () => {
  const decoder = new FrameDecoder({ from: "agent" });
  const [, ping] = decoder.push(concat(encodeHello(hello), encodePing(Number.MAX_SAFE_INTEGER, 0)));
  expect(ping).toEqual({ type: "ping", id: Number.MAX_SAFE_INTEGER, sentAtMicros: 0 });
  expect(framingError(() => encodePing(2 ** 53, 0)).kind).toBe("bad_body");
});

describe("the stripe frames of 1.1", () => {
  test("STRIPE_JOINED and STRIPES_LIVE round-trip after the handshake", () => {
    const fromAgent = new FrameDecoder({ from: "agent" });
    const joined: Frame = { type: "stripe_joined", clientAddress: "100.64.0.3", agentAddress: "100.64.0.2" };
    expect(fromAgent.push(concat(encodeHello({ ...hello, version: { major: 1, minor: 1 } }), encodeFrame(joined)))).toEqual([{ type: "hello", ...hello, version: { major: 1, minor: 1 } }, joined]);
    const fromClient = new FrameDecoder({ from: "client" });
    const live: Frame = { type: "stripes_live", mask: 0b1011 };
    expect(fromClient.push(concat(encodeHelloAck(helloAck), encodeFrame(live)))).toEqual([{ type: "hello_ack", ...helloAck }, live]);
  });
});

describe("the in-flight bound frames", () => {
  test("RX_REPORT and BOUND_STATS round-trip after the handshake; a short body is refused", () => {
    const fromClient = new FrameDecoder({ from: "client" });
    const report: Frame = { type: "rx_report", receivedBytes: 2 ** 40 + 7 };
    expect(fromClient.push(concat(encodeHelloAck(helloAck), encodeFrame(report)))).toEqual([{ type: "hello_ack", ...helloAck }, report]);
    const fromAgent = new FrameDecoder({ from: "agent" });
    const stats: Frame = { type: "bound_stats", drops: 12, dropBytes: 16_800, limitBytes: 16_384, inFlightBytes: 9_000, rateBytesPerSecond: 812_000, minRttMicros: 4_500 };
    expect(fromAgent.push(concat(encodeHello(hello), encodeFrame(stats)))).toEqual([{ type: "hello", ...hello }, stats]);
    const short = encodeRawFrame(FrameType.RxReport, new Uint8Array(4));
    expect(framingError(() => new FrameDecoder({ from: "client" }).push(concat(encodeHelloAck(helloAck), short))).kind).toBe("bad_body");
  });
});
