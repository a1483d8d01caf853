/**
 * Whether this process may create a TUN device and routes: CAP_NET_ADMIN in its effective set
 * (root has it unless a bounding set took it away). Checked before any AWS call, so a missing
 * privilege is one clear line and not a session started for nothing.
 */
import { readFileSync } from "node:fs";
import { CredproxyError, ErrorCode } from "../errors.ts";

const CAP_NET_ADMIN = 12n;

/** From /proc/self/status CapEff; true off Linux (the TUN opener reports there). */
export function hasNetAdmin(statusText?: string): boolean {
  if (statusText === undefined && process.platform !== "linux") return true;
  let text = statusText;
  try {
    text ??= readFileSync("/proc/self/status", "utf8");
  } catch {
    return true;
  }
  const hex = /^CapEff:\s*([0-9a-f]+)$/im.exec(text)?.[1];
  if (hex === undefined) return true;
  return ((BigInt(`0x${hex}`) >> CAP_NET_ADMIN) & 1n) === 1n;
}

/**
 * Throws CredproxyError(Platform) with the platform's way to get the privilege: CAP_NET_ADMIN on
 * Linux; root on macOS, where only root may open a utun (its kernel control is privileged).
 */
export function requireNetAdmin(command: string, platform: NodeJS.Platform = process.platform, euid: number | undefined = process.geteuid?.()): void {
  if (platform === "darwin") {
    if (euid === 0) return;
    throw new CredproxyError(ErrorCode.Platform, `${command} needs root on macOS to create its utun device and routes`, {
      hint: `run it with sudo: sudo credproxy ${command} …`,
    });
  }
  if (hasNetAdmin()) return;
  throw new CredproxyError(ErrorCode.Platform, `${command} needs root or CAP_NET_ADMIN to create its TUN device and routes`, {
    hint: "run it with sudo, or grant the capability once: sudo setcap cap_net_admin+ep $(command -v credproxy)",
  });
}
