/**
 * IPv6 forwarding for the agent's NAT66: net.ipv6.conf.all.forwarding on, put back as found on
 * exit. Turning forwarding on makes the kernel ignore router advertisements on interfaces whose
 * accept_ra is 1, and on EC2 the IPv6 default route comes from those (unless a userspace
 * network manager handles them), so each such interface gets accept_ra 2 ("accept even when
 * forwarding") for as long as the agent runs. Everything is under /proc/sys of the agent's own
 * network namespace.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { CredproxyError, ErrorCode } from "../errors.ts";

export const IPV6_CONF_DIR = "/proc/sys/net/ipv6/conf";

/** Throws CredproxyError(Platform) when forwarding cannot be turned on; nothing is left changed then. */
export function enableIpv6Forward(confDir = IPV6_CONF_DIR): { restore(): void } {
  const undo: (() => void)[] = [];
  const restore = () => {
    for (const step of undo.reverse()) {
      try {
        step();
      } catch {
        // Best effort: the interface may be gone.
      }
    }
  };
  try {
    for (const name of readdirSync(confDir)) {
      if (name === "all" || name === "default" || name === "lo") continue;
      const file = `${confDir}/${name}/accept_ra`;
      if (readFileSync(file, "utf8").trim() !== "1") continue;
      writeFileSync(file, "2\n");
      undo.push(() => writeFileSync(file, "1\n"));
    }
    const file = `${confDir}/all/forwarding`;
    const previous = readFileSync(file, "utf8").trim();
    if (previous !== "1") {
      writeFileSync(file, "1\n");
      undo.push(() => writeFileSync(file, `${previous}\n`));
    }
  } catch (error) {
    restore();
    throw new CredproxyError(ErrorCode.Platform, `cannot enable IPv6 forwarding under ${confDir}: ${(error as Error).message}`, {
      hint: "run the agent as root (it writes net.ipv6.conf.all.forwarding)",
      cause: error,
    });
  }
  return { restore };
}
