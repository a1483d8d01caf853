/**
 * The server side of a SOCKS5 handshake (RFC 1928), no authentication, CONNECT only, fed the
 * bytes as they arrive. IPv4, IPv6 and domain-name destinations; the name is resolved by the
 * agent, not here (what curl calls --socks5-hostname, or socks5h://).
 */
import { formatIpv6 } from "../../net/ip-address.ts";
import { OpenFailReason } from "../streams/stream-frames.ts";
import type { StreamTarget } from "../streams/stream-mux.ts";

export const SocksReply = {
  Succeeded: 0x00,
  GeneralFailure: 0x01,
  NotAllowed: 0x02,
  NetworkUnreachable: 0x03,
  HostUnreachable: 0x04,
  ConnectionRefused: 0x05,
  TtlExpired: 0x06,
  CommandNotSupported: 0x07,
  AddressTypeNotSupported: 0x08,
} as const;

export type Socks5Step =
  | { readonly kind: "more" }
  /** Send `reply`; then, if `close`, hang up. */
  | { readonly kind: "reply"; readonly reply: Uint8Array; readonly close: boolean }
  /** Dial; `rest` is what the client sent after the request. */
  | { readonly kind: "connect"; readonly target: StreamTarget; readonly rest: Uint8Array };

export class Socks5Handshake {
  private buffer = new Uint8Array(0);
  private greeted = false;

  push(chunk: Uint8Array): Socks5Step {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    this.buffer = joined;
    return this.greeted ? this.request() : this.greeting();
  }

  private greeting(): Socks5Step {
    const b = this.buffer;
    if (b.length < 2) return { kind: "more" };
    if (b[0] !== 5) return { kind: "reply", reply: Uint8Array.of(5, 0xff), close: true };
    const count = b[1]!;
    if (b.length < 2 + count) return { kind: "more" };
    const methods = b.subarray(2, 2 + count);
    if (!methods.includes(0)) return { kind: "reply", reply: Uint8Array.of(5, 0xff), close: true };
    this.greeted = true;
    // A request pipelined behind the greeting stays buffered: push(empty) after this reply reads it.
    this.buffer = b.slice(2 + count);
    return { kind: "reply", reply: Uint8Array.of(5, 0), close: false };
  }

  private request(): Socks5Step {
    const b = this.buffer;
    if (b.length < 5) return { kind: "more" };
    if (b[0] !== 5) return fail(SocksReply.GeneralFailure);
    if (b[1] !== 1) return fail(SocksReply.CommandNotSupported);
    const kind = b[3];
    let host: string;
    let at: number;
    if (kind === 1) {
      if (b.length < 10) return { kind: "more" };
      host = Array.from(b.subarray(4, 8)).join(".");
      at = 8;
    } else if (kind === 4) {
      if (b.length < 22) return { kind: "more" };
      host = formatIpv6(b.subarray(4, 20));
      at = 20;
    } else if (kind === 3) {
      const length = b[4]!;
      if (b.length < 5 + length + 2) return { kind: "more" };
      host = new TextDecoder().decode(b.subarray(5, 5 + length));
      at = 5 + length;
      if (length === 0 || !/^[A-Za-z0-9_.-]+$/.test(host)) return fail(SocksReply.AddressTypeNotSupported);
    } else return fail(SocksReply.AddressTypeNotSupported);
    const port = (b[at]! << 8) | b[at + 1]!;
    if (port === 0) return fail(SocksReply.GeneralFailure);
    const address = kind === 1 ? ({ kind: "ipv4", host } as const) : kind === 4 ? ({ kind: "ipv6", host } as const) : ({ kind: "name", host } as const);
    return { kind: "connect", target: { address, port }, rest: b.slice(at + 2) };
  }
}

/** The reply to a CONNECT: success, or the failure mapped from OPEN_FAIL's reason. */
export function socks5Reply(code: number): Uint8Array {
  return Uint8Array.of(5, code, 0, 1, 0, 0, 0, 0, 0, 0);
}

export function socksReplyFor(reason: number): number {
  switch (reason) {
    case OpenFailReason.NotAllowed:
      return SocksReply.NotAllowed;
    case OpenFailReason.Unreachable:
      return SocksReply.NetworkUnreachable;
    case OpenFailReason.NoSuchHost:
    case OpenFailReason.Timeout:
      return SocksReply.HostUnreachable;
    case OpenFailReason.Refused:
      return SocksReply.ConnectionRefused;
    default:
      return SocksReply.GeneralFailure;
  }
}

function fail(code: number): Socks5Step {
  return { kind: "reply", reply: socks5Reply(code), close: true };
}
