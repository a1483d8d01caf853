/**
 * The live set of a striped tunnel: the slots that carry packets now, as a bit mask by stripe
 * index, which STRIPES_LIVE tells the agent so it answers each flow on the session we send it on.
 */
import { encodeStripesLive } from "./framing.ts";
import { slotLive, type StripeSlot } from "./stripe-slot.ts";

export interface StripesLive {
  readonly live: StripeSlot[];
  readonly mask: number;
}

/** Recomputes the live set; when its mask differs from `lastMask`, sends STRIPES_LIVE on every live striped session. */
export function updateStripesLive(slots: readonly StripeSlot[], lastMask: number): StripesLive {
  const live = slots.filter(slotLive);
  const mask = live.reduce((m, slot) => m | (1 << slot.index), 0);
  if (mask !== lastMask) for (const slot of live) if (slot.session!.striped) slot.session!.channel.write(encodeStripesLive(mask));
  return { live, mask };
}
