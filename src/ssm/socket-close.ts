/**
 * What to do when the data channel's WebSocket closes. The service drops the socket about every
 * 60 minutes with close 1000 "Bye" (session-manager-plugin#135); that is not the end of the
 * session. Only a channel_closed message ends it; every other close or error means ResumeSession
 * and reconnect (ssm-tunnel.md §2.8, with ssm-tunnel-2.md §1.4: to the StreamUrl it returns).
 */
import type { ChannelClosed } from "./channel-closed.ts";

export interface SocketClose {
  readonly code: number;
  readonly reason: string;
}

export type AfterSocketClose =
  | { readonly action: "resume"; readonly why: string }
  | { readonly action: "end"; readonly why: string };

/** Resume unless the service sent channel_closed before the socket went away. */
export function afterSocketClose(close: SocketClose, channelClosed: ChannelClosed | undefined): AfterSocketClose {
  if (channelClosed !== undefined) {
    return { action: "end", why: channelClosed.output === "" ? "the session was closed by the service" : channelClosed.output };
  }
  if (isHourlyBye(close)) return { action: "resume", why: "the service's hourly reconnect (1000 Bye)" };
  return { action: "resume", why: `the data channel closed (${close.code}${close.reason === "" ? "" : ` ${close.reason}`})` };
}

/** The service's routine hourly close. */
export function isHourlyBye(close: SocketClose): boolean {
  return close.code === 1000 && close.reason.trim().toLowerCase() === "bye";
}
