import { FramingError } from "./framing-error.ts";

/**
 * The tunnel protocol version. The frame header (len, type) and the first fields of HELLO and
 * HELLO_ACK (magic, major, minor) never change, so any two versions can at least tell each
 * other apart. A newer *minor* may add frame types and append fields to existing frame bodies;
 * an older reader skips both. A different *major* may change anything else and is refused.
 */
export interface ProtocolVersion {
  readonly major: number;
  readonly minor: number;
}

/**
 * 1.1 added the stripes capability and its STRIPE_JOINED and STRIPES_LIVE frames; 1.2 the
 * IPv6 capability and the IPv6 fields appended to HELLO and STRIPE_JOINED (ipv6-offer.ts).
 */
export const PROTOCOL_VERSION: ProtocolVersion = { major: 1, minor: 2 };

/** Capability bits offered in HELLO and accepted in HELLO_ACK. None are defined in 1.0. */
export const NO_CAPABILITIES = 0;
/**
 * 1.1: several sessions of one client (the same client id in HELLO_ACK) share one TUN and
 * address pair at the agent, which answers each with STRIPE_JOINED and sends each packet on
 * the session its flow hashes to (flow-hash.ts).
 */
export const CAPABILITY_STRIPES = 0x1;
/**
 * The agent dials TCP streams for the client (OPEN, OPEN_OK, OPEN_FAIL, DATA, CREDIT,
 * STREAM_CLOSE: streams/stream-frames.ts), for `credproxy tunnel socks`. Offered by an agent in
 * socks mode, accepted by a socks client; older peers neither offer nor accept it, so they
 * never see a stream frame.
 */
export const CAPABILITY_STREAMS = 0x2;
/**
 * The in-flight bound: the client sends RX_REPORT, the agent bounds the bytes on the way to the
 * client by what the reports show and answers BOUND_STATS (docs/tunnel.md, "Queues"). Offered by
 * every agent, accepted by every client that knows it; either side without it gets neither frame.
 * (0x2 is the streams capability, 0x4 IPv6.)
 */
export const CAPABILITY_IN_FLIGHT_BOUND = 0x8;
/**
 * 1.2: IPv6 through the TUN. Offered by an agent that can forward IPv6 (its HELLO then carries
 * an IPv6 pair; one that cannot says why in HELLO and does not offer it), accepted by a client
 * that will put the pair on its TUN.
 */
export const CAPABILITY_IPV6 = 0x4;

export type TunnelRole = "agent" | "client";

export function formatVersion(version: ProtocolVersion): string {
  return `${version.major}.${version.minor}`;
}

/**
 * Refuses a peer whose major version differs from ours, saying which side to upgrade.
 * `peerRole` is who sent the version ("agent" when we are the client).
 */
export function checkPeerMajor(peer: ProtocolVersion, peerRole: TunnelRole, ours: ProtocolVersion = PROTOCOL_VERSION): void {
  if (peer.major === ours.major) return;
  const here = peerRole === "agent" ? "this machine" : "the instance";
  const there = peerRole === "agent" ? "the instance" : "the client machine";
  const peerNewer = peer.major > ours.major;
  throw new FramingError(
    "version_unsupported",
    `the ${peerRole} speaks tunnel protocol ${formatVersion(peer)}, ` +
      `${peerNewer ? "newer" : "older"} than this credproxy's ${formatVersion(ours)}`,
    {
      hint: peerNewer ? `upgrade credproxy on ${here}` : `upgrade credproxy on ${there}`,
      details: { peerVersion: formatVersion(peer), ourVersion: formatVersion(ours) },
    },
  );
}

export interface Negotiated {
  readonly version: ProtocolVersion;
  readonly capabilities: number;
}

/**
 * What both sides will speak: the shared major, the lower minor, and the capabilities both
 * offer. Throws FramingError("version_unsupported") if the majors differ.
 */
export function negotiate(
  peer: ProtocolVersion,
  peerCapabilities: number,
  peerRole: TunnelRole,
  ours: ProtocolVersion = PROTOCOL_VERSION,
  ourCapabilities: number = NO_CAPABILITIES,
): Negotiated {
  checkPeerMajor(peer, peerRole, ours);
  return {
    version: { major: ours.major, minor: Math.min(ours.minor, peer.minor) },
    capabilities: (peerCapabilities & ourCapabilities) >>> 0,
  };
}
