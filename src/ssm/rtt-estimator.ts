/**
 * The retransmission timeout the plugin and agent both use (ssm-tunnel.md §2.6, constants
 * confirmed in ssm-tunnel-2.md §1.6), TCP-style (RFC 6298 shape):
 *
 *   RTTVAR ← 0.75·RTTVAR + 0.25·|SRTT − R|
 *   SRTT   ← 0.875·SRTT + 0.125·R
 *   RTO    = min(maxRto, SRTT + max(clockGranularity, 4·RTTVAR))
 *
 * The "min clamp" of the note is the clock-granularity floor on the variance term (10 ms); there
 * is no separate minimum RTO. The 200 ms is only the starting value. R is measured from the
 * *last* send of a message, so Karn's rule is not applied, like the references.
 */
export interface RttSettings {
  readonly initialSrttMs: number;
  readonly initialRttVarMs: number;
  readonly initialRtoMs: number;
  readonly clockGranularityMs: number;
  readonly maxRtoMs: number;
}

export const DEFAULT_RTT_SETTINGS: RttSettings = {
  initialSrttMs: 100,
  initialRttVarMs: 0,
  initialRtoMs: 200,
  clockGranularityMs: 10,
  maxRtoMs: 1000,
};

export class RttEstimator {
  private readonly settings: RttSettings;
  private smoothed: number;
  private variance: number;
  private timeout: number;

  constructor(settings: Partial<RttSettings> = {}) {
    this.settings = { ...DEFAULT_RTT_SETTINGS, ...settings };
    this.smoothed = this.settings.initialSrttMs;
    this.variance = this.settings.initialRttVarMs;
    this.timeout = Math.min(this.settings.initialRtoMs, this.settings.maxRtoMs);
  }

  /** Smoothed round-trip time, ms. */
  get srttMs(): number {
    return this.smoothed;
  }

  /** Round-trip time variation, ms. */
  get rttVarMs(): number {
    return this.variance;
  }

  /** Current retransmission timeout, ms. */
  get rtoMs(): number {
    return this.timeout;
  }

  /** Folds in one measured round trip (negative values, from a clock step, count as 0). */
  sample(roundTripMs: number): void {
    const r = Math.max(0, roundTripMs);
    this.variance = 0.75 * this.variance + 0.25 * Math.abs(this.smoothed - r);
    this.smoothed = 0.875 * this.smoothed + 0.125 * r;
    const raw = this.smoothed + Math.max(this.settings.clockGranularityMs, 4 * this.variance);
    this.timeout = Math.min(this.settings.maxRtoMs, raw);
  }
}
