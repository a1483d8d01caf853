/**
 * What `addLoopbackAliases()` asks of a platform: list, add and delete addresses on its
 * loopback interface, and say when an added one is usable. One implementation per platform
 * (loopback-backend-linux.ts over rtnetlink, loopback-backend-darwin.ts over ifconfig).
 */
import type { ParsedAddress } from "./loopback-parse-address.ts";

/** One address to add or delete: parsed, plus its canonical text ("169.254.170.2", "fd00:ec2::23"). */
export interface LoopbackRequest extends ParsedAddress {
  text: string;
}

/** The hint texts a backend puts on its errors, already worded for the caller and platform. */
export interface LoopbackHintText {
  /** When more privilege would help: "<how to get it>, or <fallback>". */
  hint: string;
  /** When it would not (no ifconfig, no libc): the fallback alone. */
  fallback: string;
}

export interface LoopbackBackend {
  /** The loopback interface's name: "lo", "lo0". */
  readonly interfaceName: string;
  /** Addresses already present (these are left alone). Called once, before anything else. Throws CredproxyError. */
  list(): { family: 4 | 6; bytes: Uint8Array }[];
  /** Adds one; false when it turned out to be there already (then it is not ours). Throws CredproxyError. */
  add(request: LoopbackRequest): boolean;
  /** Deletes one that `add` added; one already gone is not an error. Synchronous; throws the system's error. */
  delete(request: LoopbackRequest): void;
  /** Whether an added address can be bound and reached yet. */
  routesLocally(request: LoopbackRequest): boolean;
}
