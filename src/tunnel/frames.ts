import type { CloseReason } from "./framing-error.ts";
import type { Ipv6Offer, Ipv6Pair } from "./ipv6-offer.ts";
import type { ProtocolVersion } from "./protocol-version.ts";
import type { StreamFrame } from "./streams/stream-frames.ts";

/**
 * The frames spoken between `credproxy tunnel` and `credproxy agent` over the SSM byte stream.
 *
 * Wire format: `len:u16be type:u8 body[len]`. `len` counts the body only, so one frame can
 * carry a full 65535-byte IP packet; the header costs 3 bytes per packet.
 */
export const FrameType = {
  Hello: 0x01,
  HelloAck: 0x02,
  /** 1.1, with the stripes capability: agent → client after HELLO_ACK. */
  StripeJoined: 0x03,
  /** 1.1, with the stripes capability: client → agent, which sessions are live. */
  StripesLive: 0x04,
  Packet: 0x10,
  Ping: 0x20,
  Pong: 0x21,
  /** With the in-flight bound capability: client → agent, packet bytes received so far. */
  RxReport: 0x22,
  /** With the in-flight bound capability: agent → client, what the agent's bound did. */
  BoundStats: 0x23,
  Close: 0x30,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const FRAME_HEADER_BYTES = 3;
/** The largest body the u16 length can describe: one maximal IPv4 packet. */
export const MAX_FRAME_BODY = 0xffff;
/** Bodies of everything but PACKET (and unknown types) stay small; bigger is garbage. */
export const MAX_CONTROL_BODY = 4096;
/** Starts HELLO and HELLO_ACK bodies so a stray client or server is spotted at once. */
export const HELLO_MAGIC = "CPXT";

/** Agent → client, first frame on every connection: who we are and the addresses to use. */
export interface HelloFrame {
  readonly type: "hello";
  readonly version: ProtocolVersion;
  /** Capability bits the agent offers. */
  readonly capabilities: number;
  /** The tunnel MTU the agent will accept; larger packets are dropped. */
  readonly mtu: number;
  /** Dotted IPv4: the address the client puts on its TUN. */
  readonly clientAddress: string;
  /** Dotted IPv4: the agent's end of the pair. */
  readonly agentAddress: string;
  /** 16 random bytes naming this connection in logs on both ends. */
  readonly sessionNonce: Uint8Array;
  /** The agent's credproxy version, for logs. */
  readonly agentVersion: string;
  /** 1.2: the IPv6 pair, or why the agent cannot forward IPv6; absent from a 1.1 agent. */
  readonly ipv6?: Ipv6Offer | undefined;
}

/** Client → agent, first frame, sent only after HELLO: the client accepts and says who it is. */
export interface HelloAckFrame {
  readonly type: "hello_ack";
  readonly version: ProtocolVersion;
  /** Capability bits the client accepts: a subset of those offered. */
  readonly capabilities: number;
  /** 16-byte UUID shared by all of one client's striped sessions. */
  readonly clientId: Uint8Array;
  /** This session's place among the client's striped sessions (`index` < `count`). */
  readonly stripeIndex: number;
  readonly stripeCount: number;
  readonly hostname: string;
  /** The client's credproxy version, for logs. */
  readonly clientVersion: string;
  /** The CIDRs the client routes here, as text (for logs and the agent's allow-list). */
  readonly cidrs: readonly string[];
}

/**
 * Agent → client, once per session after HELLO_ACK when both offered the stripes capability:
 * the address pair of the client's tunnel. Every session with the same client id shares one
 * pair (and one TUN at the agent), so a session that joins a client already here gets that
 * client's pair, not the one its HELLO offered.
 */
export interface StripeJoinedFrame {
  readonly type: "stripe_joined";
  readonly clientAddress: string;
  readonly agentAddress: string;
  /** 1.2: the client's IPv6 pair, when it has one. */
  readonly ipv6?: Ipv6Pair | undefined;
}

/**
 * Client → agent, on every live session whenever the set changes: bit i set when session i
 * can carry packets now. The agent sends a flow's packets only on sessions in the latest set
 * that it also holds a connection for, so a session whose WebSocket is resuming is skipped in
 * both directions.
 */
export interface StripesLiveFrame {
  readonly type: "stripes_live";
  readonly mask: number;
}

/** One IP packet, v4 or v6 (told apart by the version nibble). */
export interface PacketFrame {
  readonly type: "packet";
  readonly packet: Uint8Array;
}

/** Sent every 15 s by the caller; the PONG echo gives the end-to-end tunnel RTT. */
export interface PingFrame {
  readonly type: "ping";
  readonly id: number;
  /** The sender's clock in microseconds when sent. */
  readonly sentAtMicros: number;
}

/** The echo of a PING: the same id and time. */
export interface PongFrame {
  readonly type: "pong";
  readonly id: number;
  readonly sentAtMicros: number;
}

/**
 * Client → agent, when both accepted the in-flight bound capability: the bytes of IP packets
 * received in PACKET frames on this session so far (all of them, not since the last report),
 * sent every 16 KiB or 10 ms while packets arrive. The agent's bound (agent/in-flight-bound.ts)
 * learns from it how much is on the way, the delivery rate and the round trip.
 */
export interface RxReportFrame {
  readonly type: "rx_report";
  readonly receivedBytes: number;
}

/**
 * Agent → client, with the same capability, at most once a second while reports arrive: what
 * its in-flight bound did on this session, for `tunnel status`.
 */
export interface BoundStatsFrame {
  readonly type: "bound_stats";
  /** Packets toward the client dropped by the bound, and their bytes, so far. */
  readonly drops: number;
  readonly dropBytes: number;
  readonly limitBytes: number;
  readonly inFlightBytes: number;
  readonly rateBytesPerSecond: number;
  readonly minRttMicros: number;
}

/** The last frame either side sends. `reason` may be a code newer than ours. */
export interface CloseFrame {
  readonly type: "close";
  readonly reason: CloseReason | number;
  readonly text: string;
}

export type Frame = HelloFrame | HelloAckFrame | StripeJoinedFrame | StripesLiveFrame | PacketFrame | PingFrame | PongFrame | RxReportFrame | BoundStatsFrame | CloseFrame | StreamFrame;

/** How often the caller sends a PING (it also keeps the SSM session from going idle). */
export const PING_INTERVAL_MS = 15_000;
/** The client gives up on a connection whose HELLO has not arrived by then. */
export const HELLO_TIMEOUT_MS = 10_000;
