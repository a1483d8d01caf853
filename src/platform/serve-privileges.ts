/**
 * serve's privilege drop on each platform: Linux carries out server.user (drop-privileges.ts);
 * elsewhere server.user is not implemented and says so.
 */
import type { ServerConfig } from "../config/types.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";
import { currentPrivileges, dropPrivileges, planPrivilegeDrop, type PrivilegePlan } from "./drop-privileges.ts";

export interface PrivilegeDrop {
  /** Gives up what the plan says; `addedAddresses`: keep CAP_NET_ADMIN to remove them on exit. */
  apply(addedAddresses: boolean): void;
}

/**
 * Reads what serve holds and decides what it gives up after binding. Throws E_PLATFORM now,
 * before anything is bound or added, when the drop could not work.
 */
export function privilegeDrop(server: Pick<ServerConfig, "user" | "ecsMetadata">, log: Logger, platform: string = process.platform): PrivilegeDrop {
  if (platform !== "linux") {
    if (server.user !== undefined) log.warn(`server.user is implemented on Linux only; serve keeps the user it started as on ${platform}`);
    return { apply: () => undefined };
  }
  let plan: PrivilegePlan;
  try {
    plan = planPrivilegeDrop(server.user, server.ecsMetadata !== undefined, currentPrivileges());
  } catch (error) {
    if (error instanceof CredproxyError) throw error;
    // libc cannot be opened (a musl system): fatal only where a drop was due.
    if (process.geteuid?.() !== 0 || server.user?.uid === 0 || (server.user === undefined && !server.ecsMetadata)) return { apply: () => undefined };
    throw new CredproxyError(ErrorCode.Platform, `Cannot drop root after binding as credproxy cannot read its capabilities: ${(error as Error).message}`, {
      cause: error,
      hint: "run the glibc build of credproxy (the release binaries and the scratch image are glibc), or set server.user: root to keep root",
    });
  }
  return { apply: (addedAddresses) => dropPrivileges(plan, addedAddresses, log) };
}
