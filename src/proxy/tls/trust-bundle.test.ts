import { expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { join } from "node:path";
import { tempDirSync } from "../../../test/helpers/cleanup.ts";
import { loadOrCreateCa } from "./proxy-ca.ts";
import { trustBundleText, writeTrustBundle } from "./trust-bundle.ts";

const BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

async function testCa(): Promise<string> {
  return (await loadOrCreateCa({ dir: join(tempDirSync("credproxy-bundle-"), "ca") })).certPem;
}

function fingerprints(text: string): string[] {
  return (text.match(BLOCK) ?? []).map((block) => new X509Certificate(block).fingerprint256);
}

test("the bundle starts with our CA, then holds the runtime's roots", async () => {
  const caPem = await testCa();
  const bundle = fingerprints(trustBundleText(caPem, { systemBundlePath: "/nonexistent/bundle.crt" }));
  expect(bundle[0]).toBe(new X509Certificate(caPem).fingerprint256);
  expect(bundle.length).toBe(1 + new Set(rootCertificates.map((pem) => new X509Certificate(pem).fingerprint256)).size);
});

test("a certificate that appears in several sources, or twice in one, is written once", async () => {
  const caPem = await testCa();
  const dir = tempDirSync("credproxy-bundle-");
  const extra = await testCa();
  const system = join(dir, "system.crt");
  // CRLF line ends must not hide a duplicate
  const rewrapped = extra.replace(/\n/g, "\r\n");
  writeFileSync(system, [caPem, rootCertificates[0], extra, rewrapped].join("\n"));
  const bundle = fingerprints(trustBundleText(caPem, { systemBundlePath: system }));
  expect(new Set(bundle).size).toBe(bundle.length);
  expect(bundle).toContain(new X509Certificate(extra).fingerprint256);
});

test("the system bundle's certificates are included when it is readable", async () => {
  const caPem = await testCa();
  const dir = tempDirSync("credproxy-bundle-");
  const extra = await testCa();
  writeFileSync(join(dir, "system.crt"), extra);
  const withSystem = fingerprints(trustBundleText(caPem, { systemBundlePath: join(dir, "system.crt") }));
  const without = fingerprints(trustBundleText(caPem, { systemBundlePath: join(dir, "missing.crt") }));
  expect(withSystem.length).toBe(without.length + 1);
});

test("writeTrustBundle() writes the bundle with mode 0644 and returns its path", async () => {
  const caPem = await testCa();
  const path = join(tempDirSync("credproxy-bundle-"), "bundle.pem");
  expect(writeTrustBundle(path, caPem, { systemBundlePath: "/nonexistent" })).toBe(path);
  expect(statSync(path).mode & 0o777).toBe(0o644);
  expect(readFileSync(path, "utf8")).toBe(trustBundleText(caPem, { systemBundlePath: "/nonexistent" }));
});
