/**
 * Which of a tunnel's striped sessions carries a packet (issue 13 point 2).
 *
 * `flowHash` names a flow the same way in both directions: TCP and UDP by protocol and the two
 * (address, port) endpoints, everything else (ICMP, fragments, IPv6 with extension headers) by
 * protocol and the two addresses. The endpoints are put in byte order before hashing, so a
 * packet and its answer hash alike, and the client and the agent, which see the two directions,
 * pick the same session without telling each other anything per flow.
 *
 * `pickStripe` is rendezvous hashing over the sessions that are live now: every live index gets
 * a score from the flow's hash and the index, the highest wins. While the live set stays the
 * same a flow never moves (so TCP sees no reordering); when a session drops only its own flows
 * move, each to the session with its next-highest score, and they come back when it returns.
 */

const TCP = 6;
const UDP = 17;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** A 32-bit hash of the packet's flow, equal for both directions; undefined for a non-IP packet. */
export function flowHash(packet: Uint8Array): number | undefined {
  const version = packet[0]! >>> 4;
  if (version === 4 && packet.length >= 20) {
    const headerBytes = (packet[0]! & 0x0f) * 4;
    const protocol = packet[9]!;
    const fragment = ((packet[6]! & 0x3f) << 8) | packet[7]!; // MF flag and fragment offset
    const ports = (protocol === TCP || protocol === UDP) && fragment === 0 && packet.length >= headerBytes + 4 ? headerBytes : -1;
    return endpointsHash(packet, protocol, 12, 16, 4, ports);
  }
  if (version === 6 && packet.length >= 40) {
    const next = packet[6]!;
    const ports = (next === TCP || next === UDP) && packet.length >= 44 ? 40 : -1;
    return endpointsHash(packet, next, 8, 24, 16, ports);
  }
  return undefined;
}

/**
 * The index among `live` (session indexes, any order) that carries the flow `hash`: the highest
 * rendezvous score. Undefined when no session is live.
 */
export function pickStripe(hash: number, live: readonly number[]): number | undefined {
  let best: number | undefined;
  let bestScore = -1;
  for (const index of live) {
    const score = mix32(hash ^ Math.imul(index + 1, 0x9e3779b1));
    if (score > bestScore || (score === bestScore && index < best!)) {
      best = index;
      bestScore = score;
    }
  }
  return best;
}

/** FNV-1a over protocol, then the lower endpoint, then the higher (address bytes, then port). */
function endpointsHash(packet: Uint8Array, protocol: number, srcAt: number, dstAt: number, addressBytes: number, portsAt: number): number {
  const order = compareEndpoints(packet, srcAt, dstAt, addressBytes, portsAt);
  const [low, lowPort, high, highPort] = order <= 0 ? [srcAt, portsAt, dstAt, portsAt + 2] : [dstAt, portsAt + 2, srcAt, portsAt];
  let h = fnv(FNV_OFFSET, protocol);
  for (let i = 0; i < addressBytes; i++) h = fnv(h, packet[low + i]!);
  if (portsAt >= 0) h = fnv(fnv(h, packet[lowPort]!), packet[lowPort + 1]!);
  for (let i = 0; i < addressBytes; i++) h = fnv(h, packet[high + i]!);
  if (portsAt >= 0) h = fnv(fnv(h, packet[highPort]!), packet[highPort + 1]!);
  return mix32(h);
}

/** Negative when the source endpoint sorts first, positive when the destination does. */
function compareEndpoints(packet: Uint8Array, srcAt: number, dstAt: number, addressBytes: number, portsAt: number): number {
  for (let i = 0; i < addressBytes; i++) {
    const d = packet[srcAt + i]! - packet[dstAt + i]!;
    if (d !== 0) return d;
  }
  if (portsAt < 0) return 0;
  return ((packet[portsAt]! << 8) | packet[portsAt + 1]!) - ((packet[portsAt + 2]! << 8) | packet[portsAt + 3]!);
}

function fnv(h: number, byte: number): number {
  return Math.imul(h ^ byte, FNV_PRIME) >>> 0;
}

/** A finaliser (murmur3's) so that nearby inputs give unrelated scores. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
