// Deep imports on purpose: see prom-client-lib.d.ts.
import Counter from "prom-client/lib/counter.js";
import Gauge from "prom-client/lib/gauge.js";
import Registry from "prom-client/lib/registry.js";
import { RequestMetrics } from "./request-metrics.ts";

/** Outcome of one /v1/credentials request, as the `result` label (CredProxy's names). */
export type RequestResult = "success" | "denied_missing_token" | "denied_invalid_token" | "error";

/**
 * The Prometheus metrics of credproxy, in their own registry (no process/GC collectors), so
 * the output is exactly what is documented in the README. prom-client does the exposition
 * format; labels never carry tokens, only service names and closed result values.
 */
export class CredproxyMetrics {
  readonly registry = new Registry();
  readonly #requests: RequestMetrics;
  readonly #refreshes: Counter<"service_name" | "result">;
  readonly #expiry: Gauge<"service_name">;
  readonly #active: Gauge;
  #activeCount = 0;

  constructor(version: string) {
    const registers = [this.registry];
    this.#requests = new RequestMetrics(this.registry, [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
    this.#refreshes = new Counter({
      name: "credproxy_credential_refresh_total",
      help: "Credential refreshes (STS AssumeRole rounds) by service and result (success, failure).",
      labelNames: ["service_name", "result"],
      registers,
    });
    this.#expiry = new Gauge({
      name: "credproxy_credential_expiry_timestamp_seconds",
      help: "Unix time at which the credentials currently served for a service expire.",
      labelNames: ["service_name"],
      registers,
    });
    this.#active = new Gauge({
      name: "credproxy_active_services",
      help: "Services currently configured, static and dynamic.",
      registers,
    });
    new Gauge({
      name: "credproxy_info",
      help: "Build information; the value is always 1.",
      labelNames: ["version"],
      registers,
    }).set({ version }, 1);
    // What CredProxy really exposes (prometheus_client's Info adds the _info suffix), so its
    // dashboards keep working; a gauge, as prometheus_client itself types it.
    new Gauge({
      name: "credproxy_app_info_info",
      help: "Build information under CredProxy's name; the value is always 1.",
      labelNames: ["name", "version"],
      registers,
    }).set({ name: "credproxy", version }, 1);
  }

  recordRequest(service: string, result: RequestResult, seconds: number): void {
    this.#requests.record(service, result, seconds);
  }

  recordRefresh(service: string, result: "success" | "failure", expiresAt?: Date): void {
    this.#refreshes.inc({ service_name: service, result });
    if (expiresAt) this.#expiry.set({ service_name: service }, Math.floor(expiresAt.getTime() / 1000));
  }

  setActiveServices(count: number): void {
    this.#activeCount = count;
    this.#active.set(count);
  }

  /** A service went away: drop its expiry series so dashboards do not show a ghost. */
  forgetService(service: string): void {
    this.#expiry.remove({ service_name: service });
  }

  readonly contentType = "text/plain; version=0.0.4; charset=utf-8";

  async render(): Promise<string> {
    // CredProxy exposed the gauge as credproxy_active_services_total. A gauge may not end in
    // _total (promtool rejects it), so dashboards keep working through an untyped alias.
    const compat =
      "# HELP credproxy_active_services_total Alias of credproxy_active_services, kept for CredProxy dashboards.\n" +
      "# TYPE credproxy_active_services_total untyped\n" +
      `credproxy_active_services_total ${this.#activeCount}\n`;
    return (await this.registry.metrics()) + compat;
  }
}
