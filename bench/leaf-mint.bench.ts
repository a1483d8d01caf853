/**
 * What the first connection to a new host pays for its leaf certificate, and what 1,000
 * cached hosts cost in memory.
 *
 *   node_modules/.bin/bun bench/leaf-mint.bench.ts [N]
 *
 * Per-mint time is LeafCertificates.contextFor() on a host not seen before: TBSCertificate
 * DER (forge ASN.1) + ECDSA P-256 signature (node:crypto) + tls.createSecureContext. The
 * sign-only row is buildCertificate() alone, to show how the time splits. Memory is the
 * process's anonymous memory (/proc/self/smaps_rollup) after a full GC, before and after
 * caching 1,000 hosts.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPairSync } from "node:crypto";
import {
  authorityKeyIdentifier,
  basicConstraints,
  buildCertificate,
  extKeyUsageServerAuth,
  keyIdentifier,
  keyUsage,
  randomSerial,
  subjectAltName,
  subjectKeyIdentifier,
} from "../src/proxy/tls/certificate-builder.ts";
import { LeafCertificates } from "../src/proxy/tls/leaf-certificates.ts";
import { loadOrCreateCa } from "../src/proxy/tls/proxy-ca.ts";

const N = Number(process.argv[2] ?? 500);
const CACHED = 1000;
const DAY = 86_400_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function anonymousKiB(): number {
  Bun.gc(true);
  const match = /^Anonymous:\s+(\d+) kB/m.exec(readFileSync("/proc/self/smaps_rollup", "utf8"));
  return match ? Number(match[1]) : NaN;
}

function timeEach(count: number, work: (i: number) => void): number[] {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    work(i);
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b);
}

const dir = mkdtempSync(join(tmpdir(), "credproxy-leaf-bench-"));
try {
  const ca = await loadOrCreateCa({ dir: join(dir, "ca") });

  // warm the JIT on hosts that are not measured
  const warm = new LeafCertificates(ca);
  for (let i = 0; i < 50; i++) warm.contextFor({ host: `warm${i}.bench.invalid`, kind: "name" });

  const leaves = new LeafCertificates(ca, { capacity: N + 10 });
  const mint = timeEach(N, (i) => leaves.contextFor({ host: `h${i}.bench.invalid`, kind: "name" }));
  const hit = timeEach(N, (i) => leaves.contextFor({ host: `h${i}.bench.invalid`, kind: "name" }));

  const leafKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
  const leafKeyId = keyIdentifier(leafKey);
  const signOnly = timeEach(N, (i) => {
    const now = Date.now();
    buildCertificate({
      subject: { commonName: `s${i}.bench.invalid` },
      issuer: ca.subject,
      serial: randomSerial(),
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + 29 * DAY),
      publicKey: leafKey,
      signingKey: ca.key,
      extensions: [
        basicConstraints({ ca: false }),
        keyUsage(["digitalSignature"]),
        extKeyUsageServerAuth(),
        subjectKeyIdentifier(leafKeyId),
        authorityKeyIdentifier(ca.subjectKeyId),
        subjectAltName([{ dns: `s${i}.bench.invalid` }]),
      ],
    });
  });

  const before = anonymousKiB();
  const cache = new LeafCertificates(ca, { capacity: CACHED });
  for (let i = 0; i < CACHED; i++) cache.contextFor({ host: `m${i}.bench.invalid`, kind: "name" });
  const after = anonymousKiB();

  const row = (name: string, t: number[]) => `| ${name} | ${N} | ${percentile(t, 50).toFixed(3)} | ${percentile(t, 99).toFixed(3)} |`;
  console.log(`## Leaf minting (Bun ${Bun.version}, EC P-256 CA and shared leaf key)\n`);
  console.log("| case | n | p50 ms | p99 ms |");
  console.log("|---|---|---|---|");
  console.log(row("cold mint: DER + sign + createSecureContext", mint));
  console.log(row("DER + sign only (buildCertificate)", signOnly));
  console.log(row("cached hit", hit));
  console.log(`\n| memory | KiB |\n|---|---|`);
  console.log(`| smaps Anonymous before | ${before} |`);
  console.log(`| smaps Anonymous after ${CACHED} hosts cached | ${after} |`);
  console.log(`| per cached host | ${((after - before) / CACHED).toFixed(1)} |`);
  if (cache.size !== CACHED) throw new Error(`expected ${CACHED} cached hosts, have ${cache.size}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
