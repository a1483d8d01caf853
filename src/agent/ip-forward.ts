import { readFileSync, writeFileSync } from "node:fs";
import { CredproxyError, ErrorCode } from "../errors.ts";

export const IP_FORWARD_FILE = "/proc/sys/net/ipv4/ip_forward";

/**
 * Turns IPv4 forwarding on and returns how to put back exactly the value found, so an
 * instance that had forwarding off gets it off again when the agent exits.
 */
export function enableIpForward(file = IP_FORWARD_FILE): { restore(): void; previous: string } {
  let previous: string;
  try {
    previous = readFileSync(file, "utf8").trim();
    if (previous !== "1") writeFileSync(file, "1\n");
  } catch (error) {
    throw new CredproxyError(ErrorCode.Platform, `cannot enable IPv4 forwarding through ${file}: ${(error as Error).message}`, {
      hint: "run the agent as root (it needs to write net.ipv4.ip_forward)",
      cause: error,
    });
  }
  return {
    previous,
    restore() {
      if (previous !== "1") writeFileSync(file, `${previous}\n`);
    },
  };
}
