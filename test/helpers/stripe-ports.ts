/**
 * Client ports that put TCP flows on chosen sessions of a striped tunnel: the e2e test and the
 * benchmark pick them with the tunnel's own hash, so which session carries which flow is known
 * instead of left to the luck of ephemeral ports.
 */
import { flowHash, pickStripe } from "../../src/tunnel/flow-hash.ts";

/** The first 20 bytes of an IPv4 header and 4 of TCP: enough for flowHash. */
export function tcpHeader(source: string, sourcePort: number, destination: string, destinationPort: number): Uint8Array {
  const packet = new Uint8Array(24);
  packet[0] = 0x45;
  packet[6] = 0x40; // don't fragment
  packet[9] = 6;
  packet.set(source.split(".").map(Number), 12);
  packet.set(destination.split(".").map(Number), 16);
  new DataView(packet.buffer).setUint16(20, sourcePort);
  new DataView(packet.buffer).setUint16(22, destinationPort);
  return packet;
}

/** The session index (of `count`, all live) that carries this TCP flow. */
export function stripeOf(count: number, source: string, sourcePort: number, destination: string, destinationPort: number): number {
  const live = Array.from({ length: count }, (_, i) => i);
  return pickStripe(flowHash(tcpHeader(source, sourcePort, destination, destinationPort))!, live)!;
}

/**
 * `perStripe` client ports for each of `count` sessions (ports from `from` up): result[i] holds
 * the ports whose flow to destination:destinationPort goes over session i.
 */
export function portsPerStripe(count: number, perStripe: number, source: string, destination: string, destinationPort: number, from = 41000): number[][] {
  const result: number[][] = Array.from({ length: count }, () => []);
  for (let port = from; result.some((ports) => ports.length < perStripe); port++) {
    if (port > 65535) throw new Error("ran out of ports");
    const ports = result[stripeOf(count, source, port, destination, destinationPort)]!;
    if (ports.length < perStripe) ports.push(port);
  }
  return result;
}
