/**
 * rtnetlink messages for interface addresses and route lookups, built and parsed with
 * DataView: pure functions with no system calls (netlink-messages.test.ts checks them byte for
 * byte). The socket side is netlink.ts.
 *
 * References: netlink(7), rtnetlink(7), include/uapi/linux/{netlink,rtnetlink,if_addr}.h.
 */
import { ErrnoError } from "../libc.ts";

export type AddressFamily = 4 | 6;

/** One address on one interface, as given to RTM_NEWADDR / RTM_DELADDR. */
export interface AddressRequest {
  ifindex: number;
  family: AddressFamily;
  /** 4 or 16 bytes, network order. */
  address: Uint8Array;
  prefixLength: number;
  /** ifa_scope (IPv4 only; the kernel derives IPv6 scope from the address). Default RT_SCOPE_UNIVERSE. */
  scope?: number;
  /**
   * The far end of a point-to-point link (`ip addr add A peer P`): sent as IFA_ADDRESS, with
   * `address` as IFA_LOCAL; the kernel then routes P through the interface. Same width as `address`.
   */
  peer?: Uint8Array;
}

/** What RTM_NEWLINK changes on an existing interface (`ip link set dev X mtu N up`). */
export interface LinkRequest {
  ifindex: number;
  mtu?: number;
  /** true: set IFF_UP; false: clear it; undefined: leave it. */
  up?: boolean;
}

/** A route to `destination/prefixLength` out of interface `ifindex`, no gateway (`ip route add D dev X`). */
export interface RouteRequest {
  ifindex: number;
  family: AddressFamily;
  /** 4 or 16 bytes, network order, host bits zero. */
  destination: Uint8Array;
  prefixLength: number;
}

/** One address the kernel reported in an RTM_GETADDR dump. */
export interface InterfaceAddress {
  ifindex: number;
  family: AddressFamily;
  address: Uint8Array;
  prefixLength: number;
  scope: number;
  /** IFA_F_* flags (the 32-bit IFA_FLAGS attribute when present). */
  flags: number;
  label: string | undefined;
}

/** A netlink message split from a datagram: the 16-byte header's fields and a view of the rest. */
export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Uint8Array;
}

// include/uapi/linux/netlink.h, rtnetlink.h, if_addr.h, socket.h (same values on x86-64 and arm64)
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_CAPPED = 0x100; // on NLMSG_ERROR: the request's payload was not echoed
export const NLM_F_ACK_TLVS = 0x200; // on NLMSG_ERROR: extended-ACK attributes follow
export const NLM_F_DUMP = 0x300;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x02;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_HOST = 254;
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const IFLA_MTU = 4;
export const IFF_UP = 0x1;
export const RT_TABLE_MAIN = 254;
/** iproute2's default protocol for `ip route add`: a route an administrator (here, credproxy) added. */
export const RTPROT_BOOT = 3;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_NOWHERE = 255;
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
const NLMSGERR_ATTR_MSG = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const EPROTO = 71;

const HEADER = 16; // struct nlmsghdr
const IFADDRMSG = 8; // struct ifaddrmsg
const IFINFOMSG = 16; // struct ifinfomsg
export const RTMSG = 12; // struct rtmsg
/** Netlink is host byte order; addresses inside attributes are network order (raw bytes). */
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * An RTM_NEWADDR or RTM_DELADDR request: nlmsghdr, ifaddrmsg, then IFA_LOCAL and IFA_ADDRESS
 * both set to the address (no peer). IPv6 addresses get IFA_F_NODAD (no duplicate-address
 * detection); they still become routable a moment after the ACK (see routeType in netlink.ts).
 */
export function encodeAddressMessage(type: number, flags: number, seq: number, request: AddressRequest): Uint8Array {
  const width = request.family === 4 ? 4 : 16;
  if (request.address.byteLength !== width) {
    throw new RangeError(`IPv${request.family} address must be ${width} bytes, got ${request.address.byteLength}`);
  }
  if (!Number.isInteger(request.prefixLength) || request.prefixLength < 0 || request.prefixLength > width * 8) {
    throw new RangeError(`prefix length ${request.prefixLength} is out of range for IPv${request.family}`);
  }
  const body = new Uint8Array(IFADDRMSG);
  const view = new DataView(body.buffer);
  view.setUint8(0, request.family === 4 ? AF_INET : AF_INET6);
  view.setUint8(1, request.prefixLength);
  view.setUint8(2, request.family === 6 ? IFA_F_NODAD : 0);
  view.setUint8(3, request.family === 4 ? (request.scope ?? RT_SCOPE_UNIVERSE) : RT_SCOPE_UNIVERSE);
  view.setInt32(4, request.ifindex, LE);
  const peer = request.peer ?? request.address;
  if (peer.byteLength !== width) throw new RangeError(`IPv${request.family} peer must be ${width} bytes, got ${peer.byteLength}`);
  return encodeMessage(type, flags, seq, body, [
    [IFA_LOCAL, request.address],
    [IFA_ADDRESS, peer],
  ]);
}

/**
 * An RTM_NEWLINK request that changes an existing interface: ifinfomsg with IFF_UP in
 * ifi_change (and in ifi_flags when `up`), then IFLA_MTU when an MTU is given.
 */
export function encodeLinkMessage(seq: number, request: LinkRequest): Uint8Array {
  if (request.mtu !== undefined && (!Number.isInteger(request.mtu) || request.mtu < 68 || request.mtu > 65535)) {
    throw new RangeError(`MTU ${request.mtu} is out of range (68 to 65535)`);
  }
  const body = new Uint8Array(IFINFOMSG);
  const view = new DataView(body.buffer);
  // ifi_family AF_UNSPEC, ifi_type 0
  view.setInt32(4, request.ifindex, LE);
  view.setUint32(8, request.up ? IFF_UP : 0, LE); // ifi_flags
  view.setUint32(12, request.up === undefined ? 0 : IFF_UP, LE); // ifi_change: only the bits we mean to set
  const attributes: [number, Uint8Array][] = [];
  if (request.mtu !== undefined) attributes.push([IFLA_MTU, u32(request.mtu)]);
  return encodeMessage(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, body, attributes);
}

/** An RTM_DELLINK request for interface `ifindex` (`ip link del`). */
export function encodeDeleteLinkMessage(seq: number, ifindex: number): Uint8Array {
  const body = new Uint8Array(IFINFOMSG);
  new DataView(body.buffer).setInt32(4, ifindex, LE);
  return encodeMessage(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq, body, []);
}

/**
 * An RTM_NEWROUTE or RTM_DELROUTE request for a device route in the main table, byte for byte
 * what iproute2 sends for `ip route add|del D dev X`: on add, protocol boot, link scope,
 * unicast; on delete, protocol, scope and type left open (unspec, "nowhere", unspec) so the
 * kernel matches the route whatever added it. Then RTA_DST and RTA_OIF.
 */
export function encodeRouteMessage(type: number, flags: number, seq: number, request: RouteRequest): Uint8Array {
  const width = request.family === 4 ? 4 : 16;
  if (request.destination.byteLength !== width) {
    throw new RangeError(`IPv${request.family} destination must be ${width} bytes, got ${request.destination.byteLength}`);
  }
  if (!Number.isInteger(request.prefixLength) || request.prefixLength < 0 || request.prefixLength > width * 8) {
    throw new RangeError(`prefix length ${request.prefixLength} is out of range for IPv${request.family}`);
  }
  const adding = type !== RTM_DELROUTE;
  const body = new Uint8Array(RTMSG);
  body[0] = request.family === 4 ? AF_INET : AF_INET6;
  body[1] = request.prefixLength;
  body[4] = RT_TABLE_MAIN;
  body[5] = adding ? RTPROT_BOOT : 0;
  body[6] = adding ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE;
  body[7] = adding ? RTN_UNICAST : 0;
  return encodeMessage(type, flags, seq, body, [
    [RTA_DST, request.destination],
    [RTA_OIF, u32(request.ifindex)],
  ]);
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, LE);
  return out;
}

/** An RTM_GETADDR dump request for all families (ifaddrmsg family AF_UNSPEC). */
export function encodeGetAddressDump(seq: number): Uint8Array {
  return encodeMessage(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, new Uint8Array(IFADDRMSG), []);
}

/** An RTM_GETROUTE lookup of one destination (rtmsg with a full-length dst_len, then RTA_DST), answered and ACKed. */
export function encodeRouteGet(seq: number, family: AddressFamily, address: Uint8Array): Uint8Array {
  const body = new Uint8Array(RTMSG);
  body[0] = family === 4 ? AF_INET : AF_INET6;
  body[1] = address.byteLength * 8;
  return encodeMessage(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_ACK, seq, body, [[RTA_DST, address]]);
}

/** A netlink message: header, a fixed body (4-byte aligned), then 4-byte aligned rtattrs. */
export function encodeMessage(type: number, flags: number, seq: number, body: Uint8Array, attributes: [number, Uint8Array][]): Uint8Array {
  let length = HEADER + align(body.byteLength);
  for (const [, value] of attributes) length += align(4 + value.byteLength);
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint32(0, length, LE);
  view.setUint16(4, type, LE);
  view.setUint16(6, flags, LE);
  view.setUint32(8, seq, LE);
  view.setUint32(12, 0, LE); // nlmsg_pid 0: the kernel fills in our port id
  out.set(body, HEADER);
  let offset = HEADER + align(body.byteLength);
  for (const [attrType, value] of attributes) {
    view.setUint16(offset, 4 + value.byteLength, LE);
    view.setUint16(offset + 2, attrType, LE);
    out.set(value, offset + 4);
    offset += align(4 + value.byteLength);
  }
  return out;
}

/** Splits a received datagram into messages. Throws on a length that runs past the data. */
export function parseMessages(data: Uint8Array): NetlinkMessage[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const messages: NetlinkMessage[] = [];
  let offset = 0;
  while (offset + HEADER <= data.byteLength) {
    const length = view.getUint32(offset, LE);
    if (length < HEADER || offset + length > data.byteLength) {
      throw new ErrnoError("netlink parse", EPROTO, `message at offset ${offset} claims ${length} bytes of ${data.byteLength - offset}`);
    }
    messages.push({
      type: view.getUint16(offset + 4, LE),
      flags: view.getUint16(offset + 6, LE),
      seq: view.getUint32(offset + 8, LE),
      pid: view.getUint32(offset + 12, LE),
      payload: data.subarray(offset + HEADER, offset + length),
    });
    offset += align(length);
  }
  return messages;
}

/**
 * Reads an NLMSG_ERROR (or the int at the start of NLMSG_DONE): `errno` 0 is an ACK, otherwise
 * the positive errno the kernel refused with; `message` is the extended-ACK text, if any.
 */
export function parseErrorMessage(message: NetlinkMessage): { errno: number; message: string | undefined } {
  const p = message.payload;
  if (p.byteLength < 4) throw new ErrnoError("netlink parse", EPROTO, "NLMSG_ERROR shorter than its error code");
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const code = 0 - view.getInt32(0, LE); // not -x: that makes an ACK -0
  let text: string | undefined;
  if (message.type === NLMSG_ERROR && message.flags & NLM_F_ACK_TLVS && p.byteLength >= 4 + HEADER) {
    // After the error: the request's header, its payload unless capped, then the TLVs.
    const echoed = message.flags & NLM_F_CAPPED ? HEADER : view.getUint32(4, LE);
    for (const [type, value] of parseAttributes(p.subarray(align(4 + echoed)))) {
      if (type === NLMSGERR_ATTR_MSG) text = cStringAt(value);
    }
  }
  return { errno: code, message: text };
}

/** Reads one RTM_NEWADDR from a dump; undefined for families other than IPv4 and IPv6. */
export function parseAddressMessage(payload: Uint8Array): InterfaceAddress | undefined {
  if (payload.byteLength < IFADDRMSG) throw new ErrnoError("netlink parse", EPROTO, "RTM_NEWADDR shorter than ifaddrmsg");
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const familyCode = view.getUint8(0);
  if (familyCode !== AF_INET && familyCode !== AF_INET6) return undefined;
  let local: Uint8Array | undefined;
  let address: Uint8Array | undefined;
  let label: string | undefined;
  let flags = view.getUint8(2);
  for (const [type, value] of parseAttributes(payload.subarray(IFADDRMSG))) {
    if (type === IFA_LOCAL) local = value.slice();
    else if (type === IFA_ADDRESS) address = value.slice();
    else if (type === IFA_LABEL) label = cStringAt(value);
    else if (type === IFA_FLAGS && value.byteLength >= 4) flags = new DataView(value.buffer, value.byteOffset, 4).getUint32(0, LE);
  }
  // IPv4 reports our own address as IFA_LOCAL (IFA_ADDRESS is the peer on point-to-point links);
  // IPv6 reports only IFA_ADDRESS unless a peer is set.
  const own = local ?? address;
  if (!own) return undefined;
  return {
    ifindex: view.getInt32(4, LE),
    family: familyCode === AF_INET ? 4 : 6,
    address: own,
    prefixLength: view.getUint8(1),
    scope: view.getUint8(3),
    flags,
    label,
  };
}

/** struct sockaddr_nl with port id 0 and no groups: "the kernel" as a destination, "assign me one" for bind. */
export function encodeSockaddrNl(): Uint8Array {
  const address = new Uint8Array(12);
  new DataView(address.buffer).setUint16(0, AF_NETLINK, LE);
  return address;
}

function parseAttributes(data: Uint8Array): [number, Uint8Array][] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const attributes: [number, Uint8Array][] = [];
  let offset = 0;
  while (offset + 4 <= data.byteLength) {
    const length = view.getUint16(offset, LE);
    if (length < 4 || offset + length > data.byteLength) break;
    // The top two bits of the type are NLA_F_NESTED and NLA_F_NET_BYTEORDER.
    attributes.push([view.getUint16(offset + 2, LE) & 0x3fff, data.subarray(offset + 4, offset + length)]);
    offset += align(length);
  }
  return attributes;
}

function cStringAt(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end === -1 ? bytes : bytes.subarray(0, end));
}

function align(n: number): number {
  return (n + 3) & ~3;
}
