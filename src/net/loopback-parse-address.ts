/**
 * IP address text for the loopback aliases: a strict parser (IPv4, IPv6, optional "/prefix")
 * and the canonical form used to compare, log and pass addresses on.
 */
import { CredproxyError, ErrorCode } from "../errors.ts";
import { formatIpv6 } from "./ip-address.ts";

export interface ParsedAddress {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
  /** As written after "/", else the full length (32 or 128). */
  prefixLength: number;
}

/**
 * Parses "169.254.170.2", "fd00:ec2::23", "[fd00:ec2::23]" or either with "/<prefix>".
 * Strict: no leading zeros in IPv4 parts, no zone ids. Throws CredproxyError E_CONFIG_INVALID.
 */
export function parseAddress(text: string): ParsedAddress {
  const invalid = (why: string) =>
    new CredproxyError(ErrorCode.ConfigInvalid, `Cannot use "${text}" as an IP address as ${why}`, {
      hint: 'write an IPv4 or IPv6 address, optionally with a prefix length: "169.254.170.2", "fd00:ec2::23/128"',
    });
  const slash = text.indexOf("/");
  let host = slash === -1 ? text : text.slice(0, slash);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  const isV6 = host.includes(":");
  const bytes = isV6 ? parseIpv6(host) : parseIpv4(host);
  if (!bytes) throw invalid(isV6 ? "it is not a valid IPv6 address" : "it is not a valid IPv4 address");
  const family = isV6 ? 6 : 4;
  const max = bytes.byteLength * 8;
  let prefixLength = max;
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(digits) || Number(digits) > max) throw invalid(`the prefix length must be 0 to ${max}`);
    prefixLength = Number(digits);
  }
  return { family, bytes, prefixLength };
}

/** Canonical text of an address: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as "::"). */
export function formatAddress(family: 4 | 6, bytes: Uint8Array): string {
  if (family === 4) return Array.from(bytes).join(".");
  // ::ffff:a.b.c.d keeps its embedded IPv4 address (RFC 5952 §5).
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${Array.from(bytes.subarray(12)).join(".")}`;
  return formatIpv6(bytes);
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return Uint8Array.from(parts.map(Number));
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (!v4) return undefined;
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groupsOf(halves[0] ?? "");
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? "") : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}
