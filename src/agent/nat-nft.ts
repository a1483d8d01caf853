import type { NatPlan, NatSpec } from "./nat-plan.ts";

export const NFT_TABLE = "credproxy_agent";

/**
 * The nftables plan: one table of our own, `inet credproxy_agent`, created atomically by one
 * `nft -f -` script and deleted whole, so nothing else in the ruleset is touched. (inet nat
 * chains need Linux 5.2+, which every current EC2 distribution has.)
 */
export function nftPlan(spec: NatSpec, binary = "nft"): NatPlan {
  const deleteTable = [binary, "delete", "table", "inet", NFT_TABLE];
  return {
    steps: [{ argv: [binary, "-f", "-"], stdin: nftScript(spec), undo: [deleteTable] }],
    leftovers: [{ what: `nft table inet ${NFT_TABLE}`, probe: [binary, "list", "table", "inet", NFT_TABLE], clear: [deleteTable] }],
  };
}

/** The ruleset text; interface names are quoted so nft reads them as strings. */
export function nftScript(spec: NatSpec): string {
  const out = spec.outInterface ? ` oifname ${JSON.stringify(spec.outInterface)}` : "";
  const forward = spec.allowCidrs
    ? [`ip saddr ${spec.pool} ip daddr { ${spec.allowCidrs.join(", ")} } accept`, `ip saddr ${spec.pool} drop`]
    : [`ip saddr ${spec.pool} accept`];
  if (spec.allowCidrs?.length === 0) forward.shift();
  return [
    `table inet ${NFT_TABLE} {`,
    `  chain forward {`,
    `    type filter hook forward priority 0; policy accept;`,
    `    ip daddr ${spec.pool} ct state established,related accept`,
    ...forward.map((rule) => `    ${rule}`),
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority 100; policy accept;`,
    `    ip saddr ${spec.pool}${out} masquerade`,
    `  }`,
    `}`,
    ``,
  ].join("\n");
}
