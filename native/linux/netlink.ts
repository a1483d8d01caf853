/**
 * Interfaces, addresses and routes over rtnetlink (a NETLINK_ROUTE socket): what `ip addr
 * add|del|show`, `ip link set|del`, `ip route add|del` and `ip route get` do, without an `ip` binary. The messages are built and parsed in
 * netlink-messages.ts; the socket calls go through native/libc.ts.
 *
 * Every call is synchronous: rtnetlink handles a request inside the sender's sendto(), so the
 * answer is already queued when recv() runs. Each call opens its own socket and closes it
 * before returning, so a call is safe from any point of a shutdown path (JS signal handlers
 * run on the event loop, never in the middle of another call).
 *
 * References: netlink(7), rtnetlink(7), include/uapi/linux/{netlink,rtnetlink,if_addr}.h.
 */
import { ErrnoError, check, errno, libc } from "../libc.ts";
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP_INTR,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  RTM_DELADDR,
  RTM_DELROUTE,
  RTM_NEWADDR,
  RTM_NEWROUTE,
  RTMSG,
  encodeAddressMessage,
  encodeDeleteLinkMessage,
  encodeLinkMessage,
  encodeRouteMessage,
  encodeGetAddressDump,
  encodeRouteGet,
  encodeSockaddrNl,
  parseAddressMessage,
  parseErrorMessage,
  parseMessages,
  type AddressFamily,
  type AddressRequest,
  type InterfaceAddress,
  type LinkRequest,
  type NetlinkMessage,
  type RouteRequest,
} from "./netlink-messages.ts";

export { RTN_LOCAL, RT_SCOPE_HOST, RT_SCOPE_UNIVERSE } from "./netlink-messages.ts";
export type { AddressFamily, AddressRequest, InterfaceAddress, LinkRequest, RouteRequest } from "./netlink-messages.ts";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_TRUNC = 0x20;
const EINTR = 4;
const EAGAIN = 11;
const EPROTO = 71;
const ENETUNREACH = 101;
const EHOSTUNREACH = 113;
const RECV_BUFFER = 64 * 1024;
const RECV_TIMEOUT_S = 5;

// ---- public calls ------------------------------------------------------------------------

/** Adds an address (RTM_NEWADDR, create-exclusive). Throws ErrnoError: EEXIST, EPERM, EACCES, ENODEV… */
export function addAddress(request: AddressRequest): void {
  const flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
  transact("RTM_NEWADDR", (seq) => encodeAddressMessage(RTM_NEWADDR, flags, seq, request));
}

/** Removes an address (RTM_DELADDR). Throws ErrnoError: EADDRNOTAVAIL when it is not there, EPERM… */
export function deleteAddress(request: AddressRequest): void {
  transact("RTM_DELADDR", (seq) => encodeAddressMessage(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, seq, request));
}

/** Changes an interface's MTU and/or up state (RTM_NEWLINK, like `ip link set dev X mtu N up`). Throws ErrnoError: EPERM, ENODEV, EINVAL… */
export function setLink(request: LinkRequest): void {
  transact("RTM_NEWLINK", (seq) => encodeLinkMessage(seq, request));
}

/** Deletes an interface (RTM_DELLINK). Throws ErrnoError: ENODEV when it is gone already, EPERM, EOPNOTSUPP… */
export function deleteLink(ifindex: number): void {
  transact("RTM_DELLINK", (seq) => encodeDeleteLinkMessage(seq, ifindex));
}

/** Adds a device route in the main table (RTM_NEWROUTE, create-exclusive). Throws ErrnoError: EEXIST, ENETDOWN, EPERM… */
export function addRoute(request: RouteRequest): void {
  const flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
  transact("RTM_NEWROUTE", (seq) => encodeRouteMessage(RTM_NEWROUTE, flags, seq, request));
}

/** Deletes a device route from the main table (RTM_DELROUTE). Throws ErrnoError: ESRCH when it is not there, EPERM… */
export function deleteRoute(request: RouteRequest): void {
  transact("RTM_DELROUTE", (seq) => encodeRouteMessage(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, seq, request));
}

/** Every address in this network namespace (RTM_GETADDR dump), or only those on `ifindex`. Needs no privilege. */
export function listAddresses(ifindex?: number): InterfaceAddress[] {
  // A dump that raced a change is flagged NLM_F_DUMP_INTR; run it again.
  for (let attempt = 1; ; attempt++) {
    const found: InterfaceAddress[] = [];
    let interrupted = false;
    transact("RTM_GETADDR", (seq) => encodeGetAddressDump(seq), (message) => {
      if (message.flags & NLM_F_DUMP_INTR) interrupted = true;
      if (message.type !== RTM_NEWADDR) return;
      const entry = parseAddressMessage(message.payload);
      if (entry && (ifindex === undefined || entry.ifindex === ifindex)) found.push(entry);
    });
    if (!interrupted || attempt >= 3) return found;
  }
}

/** Whether `address` is on `ifindex` (or, without one, on any interface), whatever its prefix length. */
export function hasAddress(query: { ifindex?: number; family: AddressFamily; address: Uint8Array }): boolean {
  return listAddresses(query.ifindex).some((a) => a.family === query.family && sameBytes(a.address, query.address));
}

/**
 * The type of route the kernel would use to reach `address` (RTM_GETROUTE, like `ip route get`):
 * RTN_LOCAL once the address is this host's own, undefined when there is no route at all.
 * IPv6 addresses become routable asynchronously (the kernel inserts their local route from a
 * workqueue after RTM_NEWADDR is acknowledged), so callers poll this before relying on them.
 */
export function routeType(family: AddressFamily, address: Uint8Array): number | undefined {
  let type: number | undefined;
  try {
    transact("RTM_GETROUTE", (seq) => encodeRouteGet(seq, family, address), (message) => {
      if (message.type === RTM_NEWROUTE && message.payload.byteLength >= RTMSG) type = message.payload[7];
    });
  } catch (error) {
    if (error instanceof ErrnoError && (error.errno === ENETUNREACH || error.errno === EHOSTUNREACH)) return undefined;
    throw error;
  }
  return type;
}

// ---- the socket -----------------------------------------------------------------------------

let lastSeq = Date.now() >>> 0;
/** Reused: calls are synchronous and never nested, and parsed results are copies. */
let receiveBuffer: Uint8Array | undefined;

/**
 * Opens a NETLINK_ROUTE socket, sends one request and reads until it is answered: an ACK for
 * plain requests, NLMSG_DONE for dumps. Every other message of ours goes to `onMessage`.
 */
function transact(operation: string, encode: (seq: number) => Uint8Array, onMessage?: (message: NetlinkMessage) => void): void {
  const lib = libc();
  const seq = (lastSeq = (lastSeq + 1) >>> 0);
  const request = encode(seq);
  const fd = check(`socket(AF_NETLINK)`, lib.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  try {
    // Best effort: ask for error text, and not to have our request echoed back in errors.
    setIntOption(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
    setIntOption(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
    // A safety net only: the answer should already be queued. Never block the event loop forever.
    const timeout = new BigInt64Array([BigInt(RECV_TIMEOUT_S), 0n]); // struct timeval (64-bit)
    lib.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, timeout.byteLength);
    const local = encodeSockaddrNl();
    check("bind(AF_NETLINK)", lib.bind(fd, local, local.byteLength));

    const kernel = encodeSockaddrNl();
    retryOnEintr("sendto(AF_NETLINK)", () => lib.sendto(fd, request, request.byteLength, 0, kernel, kernel.byteLength));

    receiveBuffer ??= new Uint8Array(RECV_BUFFER);
    const buffer = receiveBuffer;
    for (;;) {
      // MSG_TRUNC makes recv return the datagram's real length, so truncation is detectable.
      const received = Number(retryOnEintr(`${operation} recv`, () => lib.recv(fd, buffer, buffer.byteLength, MSG_TRUNC)));
      if (received > buffer.byteLength) {
        throw new ErrnoError(`netlink ${operation}`, EPROTO, `answer of ${received} bytes overflowed the ${buffer.byteLength}-byte buffer`);
      }
      for (const message of parseMessages(buffer.subarray(0, received))) {
        if (message.seq !== seq) continue; // belt and braces: a fresh socket only hears our answers
        if (message.type === NLMSG_DONE && message.payload.byteLength < 4) return; // pre-2.6 kernels: no error int
        if (message.type === NLMSG_ERROR || message.type === NLMSG_DONE) {
          const answer = parseErrorMessage(message);
          if (answer.errno !== 0) throw new ErrnoError(`netlink ${operation}`, answer.errno, answer.message);
          return;
        }
        onMessage?.(message);
      }
    }
  } finally {
    lib.close(fd);
  }
}

function retryOnEintr(syscall: string, call: () => number | bigint): number | bigint {
  for (;;) {
    const result = call();
    if (result >= 0) return result;
    const code = errno();
    if (code === EINTR) continue;
    if (code === EAGAIN) throw new ErrnoError(syscall, code, `no answer from the kernel within ${RECV_TIMEOUT_S} s`);
    throw new ErrnoError(syscall, code);
  }
}

function setIntOption(fd: number, level: number, name: number, value: number): void {
  const option = new Int32Array([value]);
  libc().setsockopt(fd, level, name, option, option.byteLength);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}
