/**
 * The IPv6 tunnel prefix of `credproxy agent` (`--pool6`): a unique local /64 (RFC 4193,
 * inside fd00::/8). By default its 40-bit global id is derived from the instance's machine id,
 * so it is stable across restarts of one instance and differs between instances (two clients
 * of two agents do not collide), and its 16-bit subnet id starts at 0 and moves on while a
 * route or an address of the instance already covers the prefix (an instance with a ULA VPC
 * range of its own). A client pair sits at the same index as its IPv4 /31: agent …:2i, client
 * …:2i+1 in the low 32 bits (address-pool.ts).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { ipv6FromBytes } from "../net/ip-address.ts";
import { overlaps } from "../tunnel/tunnel-cidrs.ts";

export const MACHINE_ID_FILE = "/etc/machine-id";
const ULA = parseCidr("fd00::/8") as Cidr;

/** The default /64 for `machineId`, skipping subnet ids that `inUse` covers or is covered by. */
export function derivedIpv6Pool(machineId: string, inUse: readonly Cidr[] = []): string {
  const digest = createHash("sha256").update(`credproxy agent ipv6 pool\n${machineId.trim()}`).digest();
  for (let subnet = 0; subnet <= 0xffff; subnet++) {
    const bytes = new Uint8Array(16);
    bytes[0] = 0xfd;
    bytes.set(digest.subarray(0, 5), 1);
    bytes[6] = subnet >>> 8;
    bytes[7] = subnet & 0xff;
    const cidr = parseCidr(`${ipv6FromBytes(bytes).text}/64`) as Cidr;
    if (!inUse.some((used) => overlaps(used, cidr))) return cidr.text;
  }
  throw new CredproxyError(ErrorCode.Usage, "agent: every subnet of the derived IPv6 prefix is in use on this instance", { hint: "give one with --pool6 fdXX:XXXX:XXXX:YYYY::/64" });
}

/** The machine id, or a fixed stand-in where there is none (containers). */
export function readMachineId(file = MACHINE_ID_FILE): string {
  try {
    return readFileSync(file, "utf8").trim() || "no machine id";
  } catch {
    return "no machine id";
  }
}

/** Checks `--pool6`: an IPv6 prefix inside fd00::/8 from /48 to /96. */
export function checkIpv6Pool(text: string): Cidr {
  const parsed = parseCidr(text);
  const fail = (problem: string) =>
    new CredproxyError(ErrorCode.Usage, `agent: --pool6 "${text}": ${problem}`, { hint: "give a unique local prefix such as fd63:7078:1234:1::/64, or leave --pool6 out for one derived from /etc/machine-id" });
  if ("problem" in parsed) throw fail(parsed.problem);
  if (parsed.family !== 6) throw fail("the IPv6 tunnel prefix must be IPv6");
  if (!overlaps(ULA, parsed) || parsed.prefix < 8) throw fail("must lie inside fd00::/8 (unique local addresses), so tunnel addresses are never routed beyond the instance");
  if (parsed.prefix < 48 || parsed.prefix > 96) throw fail(`a /${parsed.prefix}; give a /48 to /96 (the client index sits in the low 32 bits)`);
  return parsed;
}

/** The address `index` places into the low 32 bits of `pool`. */
export function ipv6InPool(pool: Cidr, index: number): string {
  const bytes = Uint8Array.from(pool.bytes);
  new DataView(bytes.buffer).setUint32(12, index >>> 0);
  return ipv6FromBytes(bytes).text;
}
