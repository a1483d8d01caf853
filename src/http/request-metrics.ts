import type { Registry } from "prom-client";

/** What prom-client's Registry reads from a metric: it does the text formatting and escaping. */
interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

interface Series {
  readonly labels: { service_name: string; result: string };
  count: number;
  sum: number;
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly buckets: Float64Array;
}

/**
 * credproxy_requests_total and credproxy_request_duration_seconds, recorded on the request hot
 * path. prom-client's own Counter/Histogram hash the label object on every call (about 12% of
 * CPU under load in bench/); here a request does one Map lookup and a few additions, and
 * prom-client still renders the exposition through the custom-metric `get()` interface.
 */
export class RequestMetrics {
  readonly #series = new Map<string, Series>();
  readonly #bounds: readonly number[];

  constructor(registry: Registry, bounds: readonly number[]) {
    this.#bounds = bounds;
    const counter = {
      name: "credproxy_requests_total",
      help: "Credential requests by service and result (success, denied_missing_token, denied_invalid_token, error).",
      get: () => ({
        name: counter.name,
        help: counter.help,
        type: "counter",
        aggregator: "sum",
        values: [...this.#series.values()].map((s): MetricValue => ({ labels: s.labels, value: s.count })),
      }),
    };
    const histogram = {
      name: "credproxy_request_duration_seconds",
      help: "Time to answer a credential request, in seconds.",
      get: () => ({ name: histogram.name, help: histogram.help, type: "histogram", aggregator: "sum", values: this.#histogramValues(histogram.name) }),
    };
    // Both objects satisfy what Registry needs (name + get()); its type wants a full Metric.
    registry.registerMetric(counter as never);
    registry.registerMetric(histogram as never);
  }

  record(service: string, result: string, seconds: number): void {
    const key = service + "\0" + result;
    let s = this.#series.get(key);
    if (!s) {
      s = { labels: { service_name: service, result }, count: 0, sum: 0, buckets: new Float64Array(this.#bounds.length + 1) };
      this.#series.set(key, s);
    }
    s.count++;
    s.sum += seconds;
    let i = 0;
    while (i < this.#bounds.length && seconds > this.#bounds[i]!) i++;
    s.buckets[i]!++;
  }

  #histogramValues(name: string): MetricValue[] {
    const out: MetricValue[] = [];
    for (const s of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.#bounds.length; i++) {
        cumulative += s.buckets[i]!;
        out.push({ metricName: `${name}_bucket`, labels: { ...s.labels, le: i < this.#bounds.length ? this.#bounds[i]! : "+Inf" }, value: cumulative });
      }
      out.push({ metricName: `${name}_sum`, labels: s.labels, value: s.sum });
      out.push({ metricName: `${name}_count`, labels: s.labels, value: s.count });
    }
    return out;
  }
}
