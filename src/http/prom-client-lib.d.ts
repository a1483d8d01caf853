// prom-client's index also loads its default process collectors and the cluster aggregator,
// which credproxy never uses and which cost ~12 MiB of resident memory at start-up (measured
// in bench/). metrics.ts imports the three modules it needs directly; these declarations
// give them the package's own types.
declare module "prom-client/lib/registry.js" {
  import { Registry } from "prom-client";
  export default Registry;
}
declare module "prom-client/lib/counter.js" {
  import { Counter } from "prom-client";
  export default Counter;
}
declare module "prom-client/lib/gauge.js" {
  import { Gauge } from "prom-client";
  export default Gauge;
}
