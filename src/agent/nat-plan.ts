/**
 * What installNat() asks of a firewall back end: commands to apply in order, each with the
 * commands that take it back (run newest first on remove or on a failed install), plus how to
 * find and clear what a crashed earlier run left behind.
 */
export interface NatStep {
  readonly argv: readonly string[];
  readonly stdin?: string;
  /** Run in order to undo this step; their failures are ignored (best effort). */
  readonly undo: readonly (readonly string[])[];
}

export interface NatSpec {
  /** Canonical IPv4 CIDR of the client pool. */
  readonly pool: string;
  readonly outInterface?: string | undefined;
  /** Canonical IPv4 CIDRs the pool may reach; undefined means everywhere. */
  readonly allowCidrs?: readonly string[] | undefined;
}

export interface NatPlan {
  readonly steps: readonly NatStep[];
  /** Probes that exit 0 when a leftover of ours exists, each with the commands that clear it. */
  readonly leftovers: readonly { probe: readonly string[]; clear: readonly (readonly string[])[]; what: string }[];
}
