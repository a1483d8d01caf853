/**
 * A DNS-shaped UDP exchange for the tunnel tests: a real query packet for one A record and the
 * answer a tiny responder gives, so the datagrams have the size and layout of DNS traffic.
 */

/** A standard query (RD set) for `name` type A, class IN, with transaction id `id`. */
export function dnsQuery(id: number, name: string): Uint8Array {
  const labels = name.split(".").flatMap((label) => [label.length, ...new TextEncoder().encode(label)]);
  const header = [id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
  return new Uint8Array([...header, ...labels, 0, 0, 1, 0, 1]);
}

/** The answer to `query`: the question echoed and one A record `address` with TTL 60. */
export function dnsAnswer(query: Uint8Array, address: string): Uint8Array {
  const questionEnd = endOfQuestion(query);
  const header = [query[0]!, query[1]!, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
  const record = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...address.split(".").map(Number)];
  return new Uint8Array([...header, ...query.subarray(12, questionEnd), ...record]);
}

/** The transaction id and the A record's address in an answer, or undefined when it is not one. */
export function parseDnsAnswer(packet: Uint8Array): { id: number; address: string } | undefined {
  if (packet.length < 12 || (packet[2]! & 0x80) === 0 || ((packet[6]! << 8) | packet[7]!) !== 1) return undefined;
  const at = endOfQuestion(packet);
  const rdata = packet.subarray(at + 12, at + 16);
  if (rdata.length !== 4) return undefined;
  return { id: (packet[0]! << 8) | packet[1]!, address: [...rdata].join(".") };
}

function endOfQuestion(packet: Uint8Array): number {
  let at = 12;
  while (at < packet.length && packet[at] !== 0) at += packet[at]! + 1;
  return at + 5;
}
