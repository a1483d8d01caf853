/**
 * Just enough IPv4 and UDP to test a TUN device: read the header of a packet the kernel sent
 * into the device, and build a UDP datagram (with correct IPv4 and UDP checksums) to write back.
 */
import { parseIp } from "../../src/net/ip-address.ts";

export interface Ipv4Packet {
  protocol: number;
  source: string;
  destination: string;
  /** The bytes after the IPv4 header. */
  payload: Uint8Array;
}

export interface UdpDatagram {
  sourcePort: number;
  destinationPort: number;
  data: Uint8Array;
}

export const IPPROTO_UDP = 17;

/** The IPv4 header of `packet`, or undefined when it is not IPv4 (an IPv6 router solicitation, say). */
export function parseIpv4(packet: Uint8Array): Ipv4Packet | undefined {
  if (packet.byteLength < 20 || packet[0]! >> 4 !== 4) return undefined;
  const headerLength = (packet[0]! & 0x0f) * 4;
  const totalLength = (packet[2]! << 8) | packet[3]!;
  return {
    protocol: packet[9]!,
    source: Array.from(packet.subarray(12, 16)).join("."),
    destination: Array.from(packet.subarray(16, 20)).join("."),
    payload: packet.subarray(headerLength, totalLength),
  };
}

/** The UDP header and data of an IPv4 packet's payload. */
export function parseUdp(payload: Uint8Array): UdpDatagram {
  return {
    sourcePort: (payload[0]! << 8) | payload[1]!,
    destinationPort: (payload[2]! << 8) | payload[3]!,
    data: payload.subarray(8, (payload[4]! << 8) | payload[5]!),
  };
}

/** An IPv4 packet carrying one UDP datagram, both checksums filled in. */
export function udpPacket(from: { address: string; port: number }, to: { address: string; port: number }, data: Uint8Array): Uint8Array {
  const source = addressBytes(from.address);
  const destination = addressBytes(to.address);
  const udpLength = 8 + data.byteLength;
  const packet = new Uint8Array(20 + udpLength);
  const view = new DataView(packet.buffer);
  view.setUint8(0, 0x45); // version 4, 5 words of header
  view.setUint16(2, packet.byteLength);
  view.setUint16(4, 0x1234); // identification
  view.setUint16(6, 0x4000); // don't fragment
  view.setUint8(8, 64); // TTL
  view.setUint8(9, IPPROTO_UDP);
  packet.set(source, 12);
  packet.set(destination, 16);
  view.setUint16(10, internetChecksum(packet.subarray(0, 20)));

  view.setUint16(20, from.port);
  view.setUint16(22, to.port);
  view.setUint16(24, udpLength);
  packet.set(data, 28);
  // The UDP checksum covers a pseudo-header: addresses, zero, protocol, UDP length.
  const pseudo = new Uint8Array(12 + udpLength);
  pseudo.set(source, 0);
  pseudo.set(destination, 4);
  pseudo[9] = IPPROTO_UDP;
  new DataView(pseudo.buffer).setUint16(10, udpLength);
  pseudo.set(packet.subarray(20), 12);
  view.setUint16(26, internetChecksum(pseudo) || 0xffff); // 0 means "no checksum" in UDP
  return packet;
}

/** RFC 1071: the ones' complement of the ones' complement sum of 16-bit words. */
export function internetChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.byteLength; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function addressBytes(text: string): Uint8Array {
  const parts = text.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${text}`);
  return Uint8Array.from(parts);
}

/** A bare IPv6 header (next header 59, "no next header") from `source` to `destination`, 8 bytes of payload. */
export function ipv6Header(source: string, destination: string): Uint8Array {
  const packet = new Uint8Array(48);
  packet[0] = 0x60;
  packet[5] = 8;
  packet[6] = 59;
  packet[7] = 64;
  packet.set(parseIp(source)!.bytes, 8);
  packet.set(parseIp(destination)!.bytes, 24);
  return packet;
}
