/**
 * The one part of a DNS message the tunnel's resolvers read: the header and the question name
 * of a query (RFC 1035 §4.1), so a query can be forwarded or refused by its zone. Strict and
 * bounded on purpose, as the bytes come from anyone who can reach the listener: labels of at
 * most 63 bytes (a length byte above 63 is a label type the question cannot have), a name of at most 255, compression pointers only backwards (so a pointer can
 * never lead to itself or on into a loop) and at most 16 of them; anything else is a problem,
 * never an exception. Nothing past the question is read; answers are relayed as they come.
 */

export const DNS_HEADER_BYTES = 12;
const MAX_NAME_BYTES = 255;
const MAX_POINTERS = 16;

/** What a query asks, with where its question ends (for echoing it in a refusal). */
export interface DnsQuestion {
  readonly id: number;
  /** The header's second 16 bits (QR, opcode, AA, TC, RD, RA, Z, rcode). */
  readonly flags: number;
  /** Lower case, dot-separated, no trailing dot; "" for the root. */
  readonly name: string;
  readonly type: number;
  readonly class: number;
  /** The offset just past QTYPE and QCLASS. */
  readonly questionEnd: number;
}

export type DnsQuestionResult = DnsQuestion | { readonly problem: string };

/** Reads the header and the single question of a DNS query. */
export function parseDnsQuestion(message: Uint8Array): DnsQuestionResult {
  if (message.length < DNS_HEADER_BYTES) return { problem: `shorter than a DNS header (${message.length} bytes)` };
  const flags = u16(message, 2);
  if ((flags & 0x8000) !== 0) return { problem: "a response, not a query" };
  const questions = u16(message, 4);
  if (questions !== 1) return { problem: `${questions} questions (a query has exactly one)` };
  const name = readName(message, DNS_HEADER_BYTES);
  if ("problem" in name) return name;
  if (name.end + 4 > message.length) return { problem: "the question ends before its type and class" };
  return { id: u16(message, 0), flags, name: name.text, type: u16(message, name.end), class: u16(message, name.end + 2), questionEnd: name.end + 4 };
}

/** The opcode of a header's flags (0 = QUERY). */
export function dnsOpcode(flags: number): number {
  return (flags >>> 11) & 0x0f;
}

/** Reads a possibly compressed name at `start`; `end` is the offset after it in the message. */
function readName(message: Uint8Array, start: number): { text: string; end: number } | { problem: string } {
  const labels: string[] = [];
  let at = start;
  let end: number | undefined;
  let bytes = 1;
  let pointers = 0;
  // The lowest offset read so far: a pointer must go below it, so every jump is backwards.
  let floor = start;
  for (;;) {
    if (at >= message.length) return { problem: "the name runs past the end of the message" };
    const length = message[at]!;
    if (length === 0) break;
    const kind = length & 0xc0;
    if (kind === 0xc0) {
      if (at + 1 >= message.length) return { problem: "a compression pointer is cut off" };
      const target = ((length & 0x3f) << 8) | message[at + 1]!;
      if (++pointers > MAX_POINTERS) return { problem: `more than ${MAX_POINTERS} compression pointers` };
      if (target >= floor) return { problem: "a compression pointer that does not point backwards" };
      if (target < DNS_HEADER_BYTES) return { problem: "a compression pointer into the header" };
      end ??= at + 2;
      at = target;
      floor = target;
      continue;
    }
    if (kind !== 0) return { problem: `a label type the question cannot have (0x${length.toString(16)})` };
    if (at + 1 + length > message.length) return { problem: "a label runs past the end of the message" };
    bytes += length + 1;
    if (bytes > MAX_NAME_BYTES) return { problem: `a name longer than ${MAX_NAME_BYTES} bytes` };
    labels.push(labelText(message.subarray(at + 1, at + 1 + length)));
    at += 1 + length;
  }
  return { text: labels.join("."), end: end ?? at + 1 };
}

/** A label as text: ASCII letters lowered; bytes that could confuse a zone match escaped. */
function labelText(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) {
    if (b >= 0x41 && b <= 0x5a) text += String.fromCharCode(b + 0x20);
    else if (b > 0x20 && b < 0x7f && b !== 0x2e && b !== 0x5c) text += String.fromCharCode(b);
    else text += `\\${b.toString().padStart(3, "0")}`;
  }
  return text;
}

function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

export const DnsRcode = { FormErr: 1, ServFail: 2, NotImp: 4, Refused: 5 } as const;

/**
 * An answer with no records and `rcode` to `query`: its id, opcode and RD kept, QR set, and the
 * question echoed when it parsed (so stub resolvers match it to their query).
 */
export function dnsErrorResponse(query: Uint8Array, rcode: number, question?: DnsQuestion): Uint8Array {
  const echo = question === undefined ? new Uint8Array(0) : query.subarray(DNS_HEADER_BYTES, question.questionEnd);
  const out = new Uint8Array(DNS_HEADER_BYTES + echo.length);
  out[0] = query[0] ?? 0;
  out[1] = query[1] ?? 0;
  // QR=1, the query's opcode and RD; AA, TC, RA clear.
  out[2] = 0x80 | ((query[2] ?? 0) & 0x79);
  out[3] = rcode & 0x0f;
  out[5] = question === undefined ? 0 : 1;
  out.set(echo, DNS_HEADER_BYTES);
  return out;
}
