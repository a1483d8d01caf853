import type { NatPlan, NatSpec } from "./nat-plan.ts";

export const IPTABLES_FORWARD_CHAIN = "CREDPROXY-FWD";
export const IPTABLES_NAT_CHAIN = "CREDPROXY-NAT";

/**
 * The iptables plan: our rules live only in two chains of our own, reached by one jump each
 * from FORWARD and POSTROUTING, so removing them is deleting those jumps and chains and never
 * touches anybody else's rules. The jumps are inserted first so earlier rules cannot shadow them.
 */
export function iptablesPlan(spec: NatSpec, binary = "iptables"): NatPlan {
  const nat = (...args: string[]) => [binary, "-w", "5", "-t", "nat", ...args];
  const filter = (...args: string[]) => [binary, "-w", "5", "-t", "filter", ...args];
  const masquerade = ["-s", spec.pool, ...(spec.outInterface ? ["-o", spec.outInterface] : []), "-j", "MASQUERADE"];
  const allowed = spec.allowCidrs
    ? [...spec.allowCidrs.map((cidr) => ["-s", spec.pool, "-d", cidr, "-j", "ACCEPT"]), ["-s", spec.pool, "-j", "DROP"]]
    : [["-s", spec.pool, "-j", "ACCEPT"]];
  const established = ["-d", spec.pool, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"];
  return {
    steps: [
      { argv: nat("-N", IPTABLES_NAT_CHAIN), undo: [nat("-F", IPTABLES_NAT_CHAIN), nat("-X", IPTABLES_NAT_CHAIN)] },
      { argv: nat("-A", IPTABLES_NAT_CHAIN, ...masquerade), undo: [] },
      { argv: nat("-I", "POSTROUTING", "1", "-j", IPTABLES_NAT_CHAIN), undo: [nat("-D", "POSTROUTING", "-j", IPTABLES_NAT_CHAIN)] },
      { argv: filter("-N", IPTABLES_FORWARD_CHAIN), undo: [filter("-F", IPTABLES_FORWARD_CHAIN), filter("-X", IPTABLES_FORWARD_CHAIN)] },
      { argv: filter("-A", IPTABLES_FORWARD_CHAIN, ...established), undo: [] },
      ...allowed.map((rule) => ({ argv: filter("-A", IPTABLES_FORWARD_CHAIN, ...rule), undo: [] })),
      { argv: filter("-I", "FORWARD", "1", "-j", IPTABLES_FORWARD_CHAIN), undo: [filter("-D", "FORWARD", "-j", IPTABLES_FORWARD_CHAIN)] },
    ],
    leftovers: [
      leftover(nat, "POSTROUTING", IPTABLES_NAT_CHAIN),
      leftover(filter, "FORWARD", IPTABLES_FORWARD_CHAIN),
    ],
  };
}

/** A crashed run may have left a chain and up to a few jumps to it; -D removes one jump per call. */
function leftover(table: (...args: string[]) => string[], parent: string, chain: string) {
  return {
    what: `iptables chain ${chain}`,
    probe: table("-S", chain),
    clear: [...Array.from({ length: 4 }, () => table("-D", parent, "-j", chain)), table("-F", chain), table("-X", chain)],
  };
}
