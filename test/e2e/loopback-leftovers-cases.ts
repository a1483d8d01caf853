/**
 * What loopback-leftovers.test.ts and its scenario (which runs inside the namespace) share.
 * Kept apart from the scenario: importing that would run it here, outside the namespace.
 */
import type { ExitStatus } from "../helpers/binary.ts";

export const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGIO"] as const;
export const ECS = "169.254.170.2";
export const IMDS = "169.254.169.254";
/** Added with `ip`, never by credproxy: cleanup must leave it. */
export const UNRECORDED = "169.254.170.23";
export const LEFTOVER_LOG = "removed a loopback address a previous credproxy run left behind";
export type Kind = "serve" | "imds";

export interface SignalCase {
  exit: ExitStatus;
  left: boolean;
}
export interface KillCase {
  leftAfterKill: boolean;
  leftoverLogs: string[];
  onLoAgain: boolean;
  served: number | string;
  exitAfter: ExitStatus;
  leftAtEnd: boolean;
}
