/** Latency helpers shared by the benchmarks. All times in milliseconds. */

export interface Quantiles {
  p50: number;
  p99: number;
  n: number;
}

export function quantiles(samples: readonly number[]): Quantiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const q = (p: number) => +sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!.toFixed(3);
  return { p50: q(0.5), p99: q(0.99), n: sorted.length };
}

/** Runs `once` `warmup` times unmeasured, then `n` times one after another, timing each. */
export async function timeLoop(n: number, once: () => Promise<unknown>, warmup = 20): Promise<Quantiles> {
  for (let i = 0; i < warmup; i++) await once();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await once();
    samples.push(performance.now() - t0);
  }
  return quantiles(samples);
}
