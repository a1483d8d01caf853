import { parseIp } from "../../net/ip-address.ts";
import type { StreamAddress } from "../streams/stream-frames.ts";

/** A host as a client wrote it (IP literal or name) as a stream address; undefined if neither. */
export function streamAddressOf(host: string): StreamAddress | undefined {
  const ip = parseIp(host);
  if (ip !== undefined) return { kind: ip.family === 4 ? "ipv4" : "ipv6", host: ip.text };
  if (host.length === 0 || host.length > 255 || !/^[A-Za-z0-9_.-]+$/.test(host) || host.startsWith(".") || host.includes("..")) return undefined;
  return { kind: "name", host };
}
