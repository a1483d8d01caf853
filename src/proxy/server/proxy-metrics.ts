/**
 * The proxy's Prometheus metrics, in their own registry. Labels take only closed sets and
 * names from the config (decisions, credential names, run names, error kinds), never a host:
 * a sandbox could otherwise grow the series without bound by asking for random names.
 */
import Counter from "prom-client/lib/counter.js";
import Gauge from "prom-client/lib/gauge.js";
import Registry from "prom-client/lib/registry.js";

export type RequestDecision = "allowed" | "denied" | "refused" | "would_deny";

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<"decision" | "credential">;
  readonly #upstreamErrors: Counter<"kind">;
  readonly #tunnels: Gauge<"mode">;
  readonly #leafHits: Counter<"result">;
  readonly contentType = "text/plain; version=0.0.4; charset=utf-8";

  constructor(version: string, leafCacheSize: () => number) {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: "credproxy_proxy_requests_total",
      help: "Requests and tunnels by decision (allowed, denied, refused, would_deny) and injected credential name (none when none).",
      labelNames: ["decision", "credential"],
      registers,
    });
    this.#upstreamErrors = new Counter({
      name: "credproxy_proxy_upstream_errors_total",
      help: "Upstream failures by kind (connect, timeout, tls, reset, credential).",
      labelNames: ["kind"],
      registers,
    });
    this.#tunnels = new Gauge({ name: "credproxy_proxy_tunnels_open", help: "Open client connections by mode (intercept, tunnel, plain).", labelNames: ["mode"], registers });
    this.#leafHits = new Counter({ name: "credproxy_proxy_leaf_cache_lookups_total", help: "Leaf certificate lookups by result (hit, miss).", labelNames: ["result"], registers });
    new Gauge({ name: "credproxy_proxy_leaf_cache_size", help: "Leaf certificates held.", registers, collect() { this.set(leafCacheSize()); } });
    new Gauge({ name: "credproxy_info", help: "Build information; the value is always 1.", labelNames: ["version"], registers }).set({ version }, 1);
  }

  request(decision: RequestDecision, credentials: readonly string[]): void {
    if (credentials.length === 0) this.#requests.inc({ decision, credential: "none" });
    for (const credential of credentials) this.#requests.inc({ decision, credential });
  }

  upstreamError(kind: "connect" | "timeout" | "tls" | "reset" | "credential"): void {
    this.#upstreamErrors.inc({ kind });
  }

  opened(mode: "intercept" | "tunnel" | "plain"): () => void {
    this.#tunnels.inc({ mode });
    let closed = false;
    return () => {
      if (!closed) this.#tunnels.dec({ mode });
      closed = true;
    };
  }

  leafLookup(hit: boolean): void {
    this.#leafHits.inc({ result: hit ? "hit" : "miss" });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
