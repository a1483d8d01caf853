import { CredproxyError, ErrorCode } from "../errors.ts";

/** Which firewall front end the agent drives. */
export type FirewallKind = "nft" | "iptables";

/**
 * Picks `nft` when its binary exists (native nftables, the modern default), else `iptables`
 * (either iptables-nft or legacy; the rules we add work with both). `which` is injectable so
 * tests can pretend a binary is missing.
 */
export function detectFirewall(which: (name: string) => string | null = defaultWhich): FirewallKind {
  if (which("nft")) return "nft";
  if (which("iptables")) return "iptables";
  throw new CredproxyError(ErrorCode.Platform, "neither nft nor iptables was found, so the agent cannot forward client packets", {
    hint: "install nftables (e.g. `dnf install nftables` or `apt-get install nftables`) or iptables",
  });
}

/** PATH plus the sbin directories, which a non-login root shell sometimes lacks. */
export function defaultWhich(name: string): string | null {
  const path = [process.env.PATH ?? "", "/usr/sbin", "/sbin", "/usr/local/sbin"].join(":");
  return Bun.which(name, { PATH: path });
}
