/** The test PKI: leaves that strict verifiers accept, for exactly the names they list. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { issueLeaf, makeTestPki, type TestPki } from "../helpers/test-ca.ts";

let pki: TestPki;

beforeAll(async () => {
  pki = await makeTestPki(await tempDir("credproxy-pki-"), { names: ["localhost", "api.example.invalid"], ips: ["127.0.0.1", "::1"] });
});

afterAll(cleanupAll);

function opensslVerify(args: string[]): { code: number; out: string } {
  const run = Bun.spawnSync(["openssl", "verify", "-x509_strict", "-CAfile", pki.caFile, ...args, pki.certFile], { stdout: "pipe", stderr: "pipe" });
  return { code: run.exitCode, out: run.stdout.toString() + run.stderr.toString() };
}

test("the leaf passes openssl's strict verification as a TLS server for each of its names and IPs", () => {
  for (const check of [["-verify_hostname", "localhost"], ["-verify_hostname", "api.example.invalid"], ["-verify_ip", "127.0.0.1"], ["-verify_ip", "::1"]]) {
    const r = opensslVerify(["-purpose", "sslserver", ...check]);
    expect(r.out).toContain(": OK");
    expect(r.code).toBe(0);
  }
});

test("the leaf does not verify for a name or IP it does not list", () => {
  expect(opensslVerify(["-verify_hostname", "other.example.invalid"]).code).not.toBe(0);
  expect(opensslVerify(["-verify_ip", "127.0.0.2"]).code).not.toBe(0);
});

test("a leaf for an IP literal carries an IP SAN, and the leaf is an EC P-256 non-CA server cert with SKI/AKI", () => {
  const leaf = new X509Certificate(pki.certPem);
  const ca = new X509Certificate(pki.caPem);
  expect(leaf.subjectAltName).toBe("DNS:localhost, DNS:api.example.invalid, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
  expect(leaf.ca).toBe(false);
  expect(ca.ca).toBe(true);
  expect(leaf.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]);
  expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
  expect(leaf.checkIssued(ca)).toBe(true);
  expect(leaf.verify(ca.publicKey)).toBe(true);
  const text = Bun.spawnSync(["openssl", "x509", "-noout", "-text", "-in", pki.certFile]).stdout.toString();
  expect(text).toContain("X509v3 Subject Key Identifier");
  expect(text).toContain("X509v3 Authority Key Identifier");
  expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
  expect(pki.keyPem).toContain("PRIVATE KEY");
});

test("each call makes a new CA, and a second leaf from the same CA verifies against it", async () => {
  const other = await makeTestPki(await tempDir("credproxy-pki-"), { names: ["localhost"], ips: [] });
  expect(other.caPem).not.toBe(pki.caPem);
  const second = await issueLeaf(pki, { names: ["second.example.invalid"], ips: [] }, "second");
  expect(new X509Certificate(second.certPem).checkIssued(new X509Certificate(pki.caPem))).toBe(true);
  expect(new X509Certificate(second.certPem).checkIssued(new X509Certificate(other.caPem))).toBe(false);
});

test("names that would not survive an openssl config line are refused", async () => {
  const dir = await tempDir("credproxy-pki-");
  await expect(makeTestPki(dir, { names: ["a,DNS:evil"], ips: [] })).rejects.toThrow("not a DNS name");
  await expect(makeTestPki(dir, { names: [], ips: ["1.2.3"] })).rejects.toThrow("not an IP literal");
  await expect(makeTestPki(dir, { names: [], ips: [] })).rejects.toThrow("at least one");
});
