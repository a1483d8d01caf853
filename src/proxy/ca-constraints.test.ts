import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { caConstraintsFor, hostsOutsideCa, loadCaFor } from "./ca-constraints.ts";
import { parseProxyConfigText } from "./config/load-proxy-config.ts";

const config = (yaml: string) => parseProxyConfigText(`tls: {ca_dir: ${mkdtempSync(join(tmpdir(), "ca-c-"))}/ca, name_constraints: auto}\n${yaml}`, "/tmp/proxy.yaml", { env: {} });
let named = 0;
const credential = (host: string) => `  - {name: c${++named}, host: "${host}", value: x}\n`;

describe("tls.name_constraints: auto", () => {
  test("a credentialed proxy's CA may sign only for its credentials' hosts (a wildcard by its suffix)", () => {
    const plan = caConstraintsFor(config(`credentials:\n${credential("api.github.com")}${credential("*.githubusercontent.com")}${credential("10.1.2.3:8443")}`));
    expect("constraints" in plan && plan.constraints.dns).toEqual(["api.github.com", "githubusercontent.com"]);
    expect("constraints" in plan && plan.constraints.ips.map((c) => c.text)).toEqual(["10.1.2.3/32"]);
  });

  test("intercept: all under a strict policy adds the allowed hosts", () => {
    const plan = caConstraintsFor(config(`intercept: all\nallow: ["registry.npmjs.org"]\ncredentials:\n${credential("api.github.com")}`));
    expect("constraints" in plan && plan.constraints.dns).toEqual(["api.github.com", "registry.npmjs.org"]);
  });

  test("what cannot be known when the CA is made leaves it unconstrained, and says why", () => {
    expect(caConstraintsFor(config("intercept: all\npolicy: permissive\n"))).toEqual({ unconstrained: "intercept: all with policy: permissive may intercept any host" });
    expect(caConstraintsFor(config("runs_dir: ./runs\n"))).toHaveProperty("unconstrained");
  });

  test("a CA made for one host does not cover a credential added later", async () => {
    const first = config(`credentials:\n${credential("api.github.com")}`);
    const ca = await loadCaFor(first);
    expect(ca.constraints?.dns).toEqual(["api.github.com"]);
    expect(hostsOutsideCa(ca, first)).toEqual([]);
    const later = parseProxyConfigText(`tls: {ca_dir: ${first.tls.caDir}, name_constraints: auto}\ncredentials:\n${credential("api.github.com")}${credential("api.openai.com")}`, "/tmp/proxy.yaml", { env: {} });
    expect(hostsOutsideCa(ca, later)).toEqual(["api.openai.com"]);
  });
});
