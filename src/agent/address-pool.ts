/**
 * The tunnel addresses `credproxy agent` hands out: one pair per client session, carved from
 * the pool (`--pool`, default 100.64.0.0/24) as aligned /31s, the even address for the agent's
 * end and the odd one for the client's. Each end is configured as a /32 with the other as its
 * peer, so the pair needs no network or broadcast address; the pool's first and last pair are
 * still left out, because 100.64.0.0 and 100.64.0.255 look like those to people and tools.
 * A pair returns to the pool when its session has removed its TUN.
 */
import { CredproxyError, ErrorCode } from "../errors.ts";
import { parseCidr } from "../net/cidr.ts";
import { ipv4FromBytes } from "../net/ip-address.ts";
import { checkIpv6Pool, ipv6InPool } from "./ipv6-pool.ts";

/** Inside 100.64.0.0/10 (shared address space, never routed on the internet); 126 clients. */
export const DEFAULT_POOL = "100.64.0.0/24";

export interface AddressPair {
  /** The client's TUN address (HELLO's clientAddress). */
  readonly clientAddress: string;
  /** The agent's TUN address, the client's peer. */
  readonly agentAddress: string;
  /** With an IPv6 prefix: the pair at the same index in it (ipv6-pool.ts). */
  readonly clientAddress6?: string | undefined;
  readonly agentAddress6?: string | undefined;
}

export interface AddressLease extends AddressPair {
  /** Gives the pair back; later calls do nothing. */
  release(): void;
}

export interface AddressPool {
  /** The pool's canonical CIDR text. */
  readonly cidr: string;
  /** The IPv6 prefix's canonical text, when leases carry IPv6 pairs. */
  readonly cidr6?: string | undefined;
  /** How many pairs the pool has in all. */
  readonly size: number;
  /** Pairs handed out now. */
  inUse(): number;
  /** The lowest free pair, or undefined when every pair is in use. */
  acquire(): AddressLease | undefined;
}

/**
 * Throws CredproxyError(Usage) when `cidr` is not an IPv4 range with room for one pair (or
 * `ipv6Pool`, when given, is not a unique local /48../96).
 */
export function createAddressPool(cidr: string, ipv6Pool?: string): AddressPool {
  const pool6 = ipv6Pool === undefined ? undefined : checkIpv6Pool(ipv6Pool);
  const parsed = parseCidr(cidr);
  if ("problem" in parsed) throw poolError(cidr, parsed.problem);
  if (parsed.family !== 4) throw poolError(cidr, "tunnel addresses are IPv4");
  if (parsed.prefix > 31) throw poolError(cidr, "a /32 holds no address pair; a /31 holds one");
  const base = new DataView(parsed.bytes.buffer, parsed.bytes.byteOffset, 4).getUint32(0);
  const pairs = 2 ** (31 - parsed.prefix);
  // Leave out the first and last pair when there are at least three (see above).
  const first = pairs >= 3 ? 1 : 0;
  const size = pairs >= 3 ? pairs - 2 : pairs;
  const taken = new Set<number>();
  return {
    cidr: parsed.text,
    cidr6: pool6?.text,
    size,
    inUse: () => taken.size,
    acquire() {
      for (let index = first; index < first + size; index++) {
        if (taken.has(index)) continue;
        taken.add(index);
        let released = false;
        const agent = base + 2 * index;
        return {
          agentAddress: dotted(agent),
          clientAddress: dotted(agent + 1),
          ...(pool6 === undefined ? {} : { agentAddress6: ipv6InPool(pool6, 2 * index), clientAddress6: ipv6InPool(pool6, 2 * index + 1) }),
          release() {
            if (released) return;
            released = true;
            taken.delete(index);
          },
        };
      }
      return undefined;
    },
  };
}

function dotted(value: number): string {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value >>> 0);
  return ipv4FromBytes(bytes).text;
}

function poolError(cidr: string, problem: string): CredproxyError {
  return new CredproxyError(ErrorCode.Usage, `agent: --pool "${cidr}": ${problem}`, {
    hint: `give an IPv4 range for the tunnel addresses, e.g. --pool ${DEFAULT_POOL} (the default)`,
  });
}
