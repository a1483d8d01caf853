import type { NatPlan, NatSpec } from "./nat-plan.ts";

export const NFT_TABLE = "credproxy_agent";
/** The IPv6 rules (NAT66) live in a table of their own, so they come and go apart from the IPv4 ones. */
export const NFT_TABLE6 = "credproxy_agent6";

/**
 * The nftables plan: one table of our own, `inet credproxy_agent`, created atomically by one
 * `nft -f -` script and deleted whole, so nothing else in the ruleset is touched. (inet nat
 * chains need Linux 5.2+, which every current EC2 distribution has.)
 */
export function nftPlan(spec: NatSpec, binary = "nft", family: 4 | 6 = 4): NatPlan {
  const table = family === 4 ? NFT_TABLE : NFT_TABLE6;
  const deleteTable = [binary, "delete", "table", "inet", table];
  return {
    steps: [{ argv: [binary, "-f", "-"], stdin: nftScript(spec, family), undo: [deleteTable] }],
    leftovers: [{ what: `nft table inet ${table}`, probe: [binary, "list", "table", "inet", table], clear: [deleteTable] }],
  };
}

/** The ruleset text; interface names are quoted so nft reads them as strings. */
export function nftScript(spec: NatSpec, family: 4 | 6 = 4): string {
  const ip = family === 4 ? "ip" : "ip6";
  const out = spec.outInterface ? ` oifname ${JSON.stringify(spec.outInterface)}` : "";
  const forward = spec.allowCidrs
    ? [`${ip} saddr ${spec.pool} ${ip} daddr { ${spec.allowCidrs.join(", ")} } accept`, `${ip} saddr ${spec.pool} drop`]
    : [`${ip} saddr ${spec.pool} accept`];
  if (spec.allowCidrs?.length === 0) forward.shift();
  return [
    `table inet ${family === 4 ? NFT_TABLE : NFT_TABLE6} {`,
    `  chain forward {`,
    `    type filter hook forward priority 0; policy accept;`,
    `    ${ip} daddr ${spec.pool} ct state established,related accept`,
    ...forward.map((rule) => `    ${rule}`),
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority 100; policy accept;`,
    `    ${ip} saddr ${spec.pool}${out} masquerade`,
    `  }`,
    `}`,
    ``,
  ].join("\n");
}
