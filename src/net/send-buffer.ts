/**
 * A small kernel send buffer for an accepted TCP socket, so data the peer has not read yet
 * stays in a queue we can see and bound (src/agent/backlog-writer.ts) instead of the kernel's
 * megabytes. Linux only; elsewhere the socket keeps its default and this says so.
 */
import { setSendBuffer } from "../../native/linux/send-buffer.ts";
import { socketFd } from "./peer-credentials.ts";

/** The send buffer the kernel set for `socket` (a Bun or node:net socket), or undefined where it cannot be set. */
export function limitSendBuffer(socket: object, bytes: number): number | undefined {
  if (process.platform !== "linux") return undefined;
  return setSendBuffer(socketFd(socket), bytes);
}
