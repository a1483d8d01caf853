/**
 * IP addresses as bytes plus one canonical text, so that every part of the proxy compares
 * and prints an address the same way however it was spelled.
 *
 * - `parseIpv4Legacy()` reads every IPv4 spelling the WHATWG URL host parser accepts
 *   (`127.1`, `0x7f.0.0.1`, `2130706433`, `0177.0.0.1`), because clients and URL libraries
 *   accept them and an allow-list that only knows dotted quads can be walked around.
 * - `parseIpv6()` reads RFC 4291 text (no brackets, no zone id).
 * - `parseIp()` is the strict form for resolver answers and config: dotted quad or IPv6.
 *
 * Canonical text: dotted quad; IPv6 per RFC 5952 (lower case, no leading zeros, the longest
 * run of two or more zero groups as `::`), written in hex throughout as the WHATWG URL
 * serializer does (`::ffff:7f00:1`, not `::ffff:127.0.0.1`).
 */
export interface IpAddress {
  readonly family: 4 | 6;
  /** 4 bytes for IPv4, 16 for IPv6, network order. */
  readonly bytes: Uint8Array;
  /** Canonical text: dotted quad, or RFC 5952 compressed lower-case IPv6. */
  readonly text: string;
}

/** An IPv4 address from its 4 bytes. */
export function ipv4FromBytes(bytes: Uint8Array): IpAddress {
  return { family: 4, bytes: Uint8Array.from(bytes), text: Array.from(bytes).join(".") };
}

/** An IPv6 address from its 16 bytes. */
export function ipv6FromBytes(bytes: Uint8Array): IpAddress {
  return { family: 6, bytes: Uint8Array.from(bytes), text: formatIpv6(bytes) };
}

/**
 * Reads one part of a legacy IPv4 spelling: `0x`-prefixed hex, `0`-prefixed octal, or
 * decimal. Undefined when the part is not a number in that radix.
 */
function parseIpv4Number(part: string): number | undefined {
  if (part === "") return undefined;
  let digits = part;
  let radix = 10;
  if (/^0x/i.test(part)) {
    digits = part.slice(2);
    radix = 16;
  } else if (part.length > 1 && part.startsWith("0")) {
    digits = part.slice(1);
    radix = 8;
  }
  if (digits === "") return 0;
  const pattern = radix === 16 ? /^[0-9a-f]+$/i : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!pattern.test(digits)) return undefined;
  return parseInt(digits, radix);
}

/**
 * True when a host's last dot-separated part is a number, which per WHATWG URL means the
 * whole host must be an IPv4 address or is malformed (`1.2.3.256`, `example.123`).
 */
export function endsInNumber(text: string): boolean {
  const parts = text.split(".");
  if (parts.at(-1) === "" && parts.length > 1) parts.pop();
  const last = parts.at(-1) ?? "";
  if (last !== "" && /^[0-9]+$/.test(last)) return true;
  return parseIpv4Number(last) !== undefined;
}

/**
 * Every WHATWG URL IPv4 spelling (one to four parts, each hex, octal or decimal, the last
 * filling the remaining bytes). Undefined when `text` is not an IPv4 spelling or a part is
 * out of range; callers use `endsInNumber()` to tell "malformed IPv4" from "a name".
 */
export function parseIpv4Legacy(text: string): IpAddress | undefined {
  const parts = text.split(".");
  if (parts.at(-1) === "" && parts.length > 1) parts.pop();
  if (parts.length === 0 || parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = parseIpv4Number(part);
    if (n === undefined) return undefined;
    numbers.push(n);
  }
  const last = numbers.pop() as number;
  if (numbers.some((n) => n > 255)) return undefined;
  if (last >= 256 ** (4 - numbers.length)) return undefined;
  let value = last;
  numbers.forEach((n, i) => {
    value += n * 256 ** (3 - i);
  });
  const bytes = Uint8Array.of((value >>> 24) & 255, (value >>> 16) & 255, (value >>> 8) & 255, value & 255);
  return ipv4FromBytes(bytes);
}

/** Strict dotted quad: four decimal parts 0–255 without leading zeros. */
function parseDottedQuad(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (const [i, part] of parts.entries()) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    bytes[i] = n;
  }
  return bytes;
}

/** Hex groups of one side of `::`, with an optional dotted-quad tail when `tailOk`. */
function parseGroups(text: string, tailOk: boolean): number[] | undefined {
  if (text === "") return [];
  const pieces = text.split(":");
  const groups: number[] = [];
  for (const [i, piece] of pieces.entries()) {
    if (tailOk && i === pieces.length - 1 && piece.includes(".")) {
      const quad = parseDottedQuad(piece);
      if (!quad) return undefined;
      groups.push((quad[0]! << 8) | quad[1]!, (quad[2]! << 8) | quad[3]!);
    } else {
      if (!/^[0-9a-f]{1,4}$/i.test(piece)) return undefined;
      groups.push(parseInt(piece, 16));
    }
  }
  return groups;
}

/**
 * RFC 4291 text without brackets: full form, `::` once, an embedded dotted IPv4 tail.
 * Zone ids (`fe80::1%eth0`) are refused: a zone names an interface of this machine.
 */
export function parseIpv6(text: string): IpAddress | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!, false);
    const tail = parseGroups(halves[1]!, true);
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(text, true);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 255;
  });
  return ipv6FromBytes(bytes);
}

/** Strict form for resolver answers and config: a dotted quad or IPv6 text. */
export function parseIp(text: string): IpAddress | undefined {
  if (text.includes(":")) return parseIpv6(text);
  const quad = parseDottedQuad(text);
  return quad ? ipv4FromBytes(quad) : undefined;
}

/** RFC 5952 text of 16 bytes, all hex (an IPv4-mapped address too, as WHATWG URLs write it). */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}

/** Same family and bytes. */
export function sameAddress(a: IpAddress, b: IpAddress): boolean {
  return a.family === b.family && a.bytes.every((byte, i) => byte === b.bytes[i]);
}
