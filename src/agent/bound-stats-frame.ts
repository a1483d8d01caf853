/** BOUND_STATS for a client: what the in-flight bound did, each field clamped to the frame's u32. */
import { encodeBoundStats } from "../tunnel/framing.ts";
import type { InFlightBoundStats } from "./in-flight-bound.ts";

export function boundStatsFrame(stats: InFlightBoundStats): Uint8Array {
  const u32 = (n: number | undefined) => Math.min(0xffffffff, Math.max(0, Math.round(n ?? 0)));
  return encodeBoundStats({
    drops: stats.drops,
    dropBytes: stats.dropBytes,
    limitBytes: u32(stats.limitBytes),
    inFlightBytes: u32(stats.inFlightBytes),
    rateBytesPerSecond: u32(stats.rateBytesPerSecond),
    minRttMicros: u32((stats.minRttMs ?? 0) * 1000),
  });
}
