/**
 * A throwaway PKI for test origins: an EC P-256 CA and one leaf for the given DNS names and
 * IP literals, made with the `openssl` CLI. The leaf carries everything a strict verifier
 * (rustls/webpki, Go, OpenSSL with -x509_strict) insists on: SAN (and no reliance on CN),
 * CA:FALSE, EKU serverAuth, SKI/AKI, a random serial and a short validity.
 *
 * Nothing here is cached across calls: a fresh CA per call keeps tests from trusting each
 * other's origins by accident, and the five openssl runs take a few tens of milliseconds.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";

export interface TestCa {
  caFile: string;
  caKeyFile: string;
  caPem: string;
}

export interface TestPki extends TestCa {
  /** The leaf's certificate and key, as PEM text and as files in `dir`. */
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
  names: string[];
  ips: string[];
}

export interface LeafSubjects {
  names: string[];
  ips: string[];
}

/** DNS names that are safe inside an openssl config line (no commas, spaces or newlines). */
const DNS_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

function openssl(args: string[], cwd: string): void {
  const run = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  if (run.exitCode !== 0) {
    // openssl's stderr names files and options, never key material.
    throw new Error(`openssl ${args[0]} failed (exit ${run.exitCode}): ${run.stderr.toString().trim()}`);
  }
}

function sanLine({ names, ips }: LeafSubjects): string {
  for (const n of names) if (!DNS_NAME.test(n)) throw new Error(`not a DNS name for a test leaf: ${JSON.stringify(n)}`);
  for (const ip of ips) if (isIP(ip) === 0) throw new Error(`not an IP literal for a test leaf: ${JSON.stringify(ip)}`);
  const entries = [...names.map((n) => `DNS:${n}`), ...ips.map((ip) => `IP:${ip}`)];
  if (entries.length === 0) throw new Error("a test leaf needs at least one DNS name or IP");
  return entries.join(",");
}

function serial(): string {
  // 127 random bits, top bit clear so the DER integer stays positive.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return `0x${Buffer.from(bytes).toString("hex")}`;
}

const CA_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = credproxy test origin CA
[v3_ca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`;

/** A fresh CA in `dir` (ca.pem, ca.key). */
export async function makeTestCa(dir: string): Promise<TestCa> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "ca.cnf"), CA_CONFIG);
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key"], dir);
  openssl(["req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2", "-set_serial", serial(), "-config", "ca.cnf", "-extensions", "v3_ca", "-out", "ca.pem"], dir);
  return { caFile: join(dir, "ca.pem"), caKeyFile: join(dir, "ca.key"), caPem: await readFile(join(dir, "ca.pem"), "utf8") };
}

/**
 * A leaf signed by `ca`, written as `<basename>.pem` / `<basename>.key` next to the CA.
 * The CN is the first name (or IP) for humans reading logs; verifiers look at the SAN only.
 */
export async function issueLeaf(ca: TestCa, subjects: LeafSubjects, basename = "leaf"): Promise<TestPki> {
  const dir = join(ca.caFile, "..");
  const cn = subjects.names[0] ?? subjects.ips[0] ?? "test";
  const ext = `[v3_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = ${sanLine(subjects)}
`;
  await writeFile(join(dir, `${basename}.cnf`), ext);
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${basename}.key`], dir);
  openssl(["req", "-new", "-key", `${basename}.key`, "-subj", `/CN=${cn}`, "-out", `${basename}.csr`], dir);
  openssl(
    [
      "x509", "-req", "-in", `${basename}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", serial(),
      "-days", "2", "-sha256", "-extfile", `${basename}.cnf`, "-extensions", "v3_leaf", "-out", `${basename}.pem`,
    ],
    dir,
  );
  const certFile = join(dir, `${basename}.pem`);
  const keyFile = join(dir, `${basename}.key`);
  return {
    ...ca,
    certFile,
    keyFile,
    certPem: await readFile(certFile, "utf8"),
    keyPem: await readFile(keyFile, "utf8"),
    names: [...subjects.names],
    ips: [...subjects.ips],
  };
}

/** A fresh CA and one leaf for `names`/`ips`, all written into `dir`. */
export async function makeTestPki(dir: string, subjects: LeafSubjects): Promise<TestPki> {
  return issueLeaf(await makeTestCa(dir), subjects);
}
