import { describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDirSync } from "../../../test/helpers/cleanup.ts";
import { isCredproxyError, ErrorCode } from "../../errors.ts";
import { parseCidr, type Cidr } from "../../net/cidr.ts";
import { CA_CERT_FILE, CA_CONSTRAINTS_FILE, CA_KEY_FILE, loadOrCreateCa, type ProxyCaOptions } from "./proxy-ca.ts";
import { LeafCertificates } from "./leaf-certificates.ts";
import { opensslText, opensslVerify, run } from "./test-support.ts";

const DAY = 86_400_000;

function caDir(): string {
  return join(tempDirSync("credproxy-ca-"), "proxy-ca");
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

async function rejection(options: ProxyCaOptions): Promise<Error> {
  try {
    await loadOrCreateCa(options);
  } catch (error) {
    expect(isCredproxyError(error, ErrorCode.ConfigInvalid)).toBe(true);
    return error as Error;
  }
  throw new Error("loadOrCreateCa() did not fail");
}

describe("a generated CA", () => {
  test("is written to a 0700 directory: key 0600, certificate 0644", async () => {
    const dir = caDir();
    const ca = await loadOrCreateCa({ dir, hostname: "box1" });
    expect(ca.generated).toBe(true);
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, CA_KEY_FILE))).toBe(0o600);
    expect(mode(join(dir, CA_CERT_FILE))).toBe(0o644);
    expect(ca.certPath).toBe(join(dir, CA_CERT_FILE));
    expect(ca.keyPath).toBe(join(dir, CA_KEY_FILE));
    expect(readFileSync(ca.certPath, "utf8")).toBe(ca.certPem);
  });

  test("is an EC P-256 CA named after the host, valid 10 years from a day ago, pathlen 0", async () => {
    const now = new Date("2026-03-01T12:00:00Z");
    const ca = await loadOrCreateCa({ dir: caDir(), hostname: "box1", now: () => now });
    const x509 = new X509Certificate(ca.certPem);
    expect(ca.key.asymmetricKeyType).toBe("ec");
    expect(x509.subject).toBe("O=credproxy\nCN=credproxy proxy CA (box1)");
    expect(x509.issuer).toBe(x509.subject);
    expect(new Date(x509.validFrom).toISOString()).toBe("2026-02-28T12:00:00.000Z");
    expect(new Date(x509.validTo).toISOString()).toBe("2036-03-01T12:00:00.000Z");
    const text = await opensslText(ca.certPem);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    expect(text).toContain("Subject Key Identifier");
    expect(text).not.toContain("Name Constraints");
    expect(ca.permits({ host: "anything.example", kind: "name" })).toBe(true);
  });

  test("is loaded again, not regenerated, by the next call", async () => {
    const dir = caDir();
    const first = await loadOrCreateCa({ dir });
    const second = await loadOrCreateCa({ dir });
    expect(second.generated).toBe(false);
    expect(second.certPem).toBe(first.certPem);
    expect(second.subjectKeyId.equals(first.subjectKeyId)).toBe(true);
    expect(second.subject.equals(first.subject)).toBe(true);
  });

  test("is refused when its directory is readable by others", async () => {
    const dir = caDir();
    await loadOrCreateCa({ dir });
    chmodSync(dir, 0o755);
    const error = await rejection({ dir });
    expect(error.message).toContain(`the proxy CA directory ${dir} has mode 0755`);
    expect((error as { hint?: string }).hint).toBe(`chmod 700 ${dir}`);
  });

  test("is refused when its key is readable by others", async () => {
    const dir = caDir();
    await loadOrCreateCa({ dir });
    chmodSync(join(dir, CA_KEY_FILE), 0o640);
    const error = await rejection({ dir });
    expect(error.message).toContain(`key file ${join(dir, CA_KEY_FILE)} has mode 0640`);
  });

  test("whose key went missing is an error, not a silent new CA", async () => {
    const dir = caDir();
    await loadOrCreateCa({ dir });
    unlinkSync(join(dir, CA_KEY_FILE));
    const error = await rejection({ dir });
    expect(error.message).toContain("exists but its key");
  });
});

describe("two processes starting at once", () => {
  test("a second process racing the first ends up with the same CA", async () => {
    const dir = caDir();
    const script = join(tempDirSync("credproxy-ca-race-"), "race.ts");
    writeFileSync(
      script,
      `import { loadOrCreateCa } from ${JSON.stringify(join(import.meta.dir, "proxy-ca.ts"))};\n` +
        `const ca = await loadOrCreateCa({ dir: process.argv[2]! });\n` +
        `console.log(JSON.stringify({ ski: ca.subjectKeyId.toString("hex"), generated: ca.generated }));\n`,
    );
    const runs = await Promise.all([1, 2, 3].map(() => run([process.execPath, script, dir])));
    const results = runs.map((r) => {
      expect(r.stderr).toBe("");
      return JSON.parse(r.stdout) as { ski: string; generated: boolean };
    });
    expect(new Set(results.map((r) => r.ski)).size).toBe(1);
    expect(results.filter((r) => r.generated).length).toBe(1);
    expect(existsSync(join(dir, "ca.lock"))).toBe(false);
  });

  test("the loser waits for the lock holder and loads the winner's files", async () => {
    const winnerDir = caDir();
    const winner = await loadOrCreateCa({ dir: winnerDir });
    const dir = caDir();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "ca.lock"), `${process.pid}\n`); // a live holder: this process
    let settled = false;
    const loading = loadOrCreateCa({ dir }).finally(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    cpSync(join(winnerDir, CA_KEY_FILE), join(dir, CA_KEY_FILE));
    cpSync(join(winnerDir, CA_CERT_FILE), join(dir, CA_CERT_FILE));
    unlinkSync(join(dir, "ca.lock"));
    const loser = await loading;
    expect(loser.generated).toBe(false);
    expect(loser.certPem).toBe(winner.certPem);
  });

  test("a lock left by a process that died is taken over", async () => {
    const dir = caDir();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const dead = Bun.spawn(["true"]);
    await dead.exited;
    writeFileSync(join(dir, "ca.lock"), `${dead.pid}\n`);
    const ca = await loadOrCreateCa({ dir });
    expect(ca.generated).toBe(true);
    expect(existsSync(join(dir, "ca.lock"))).toBe(false);
  });

  test("a lock held past the timeout is reported with the file to delete", async () => {
    const dir = caDir();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "ca.lock"), `${process.pid}\n`);
    const error = await rejection({ dir, lockTimeoutMs: 50 });
    expect(error.message).toBe(`${join(dir, "ca.lock")} is held by another credproxy (pid ${process.pid})`);
  });
});

describe("name constraints", () => {
  const ips = [parseCidr("127.0.0.0/8") as Cidr, parseCidr("fd00::/8") as Cidr];

  test("are written into the CA and constraints.json, and permits() follows them", async () => {
    const dir = caDir();
    const ca = await loadOrCreateCa({ dir, nameConstraints: { dns: ["Test.Invalid."], ips } });
    const text = await opensslText(ca.certPem);
    expect(text).toMatch(/Name Constraints: critical\s+Permitted:\s+DNS:test\.invalid\s+IP:127\.0\.0\.0\/255\.0\.0\.0\s+IP:FD00:0:0:0:0:0:0:0\/FF00:0:0:0:0:0:0:0/);
    expect(JSON.parse(readFileSync(join(dir, CA_CONSTRAINTS_FILE), "utf8"))).toEqual({ dns: ["test.invalid"], ips: ["127.0.0.0/8", "fd00::/8"] });
    const reloaded = await loadOrCreateCa({ dir });
    for (const loaded of [ca, reloaded]) {
      expect(loaded.permits({ host: "test.invalid", kind: "name" })).toBe(true);
      expect(loaded.permits({ host: "a.b.test.invalid", kind: "name" })).toBe(true);
      expect(loaded.permits({ host: "nottest.invalid", kind: "name" })).toBe(false);
      expect(loaded.permits({ host: "127.1.2.3", kind: "ipv4" })).toBe(true);
      expect(loaded.permits({ host: "10.0.0.1", kind: "ipv4" })).toBe(false);
      expect(loaded.permits({ host: "fd12::1", kind: "ipv6" })).toBe(true);
      expect(loaded.permits({ host: "::1", kind: "ipv6" })).toBe(false);
    }
  });

  test("with no IP ranges exclude every address, so no IP is permitted", async () => {
    const ca = await loadOrCreateCa({ dir: caDir(), nameConstraints: { dns: ["test.invalid"], ips: [] } });
    const text = await opensslText(ca.certPem);
    expect(text).toMatch(/Excluded:\s+IP:0\.0\.0\.0\/0\.0\.0\.0\s+IP:0:0:0:0:0:0:0:0\/0:0:0:0:0:0:0:0/);
    expect(ca.permits({ host: "127.0.0.1", kind: "ipv4" })).toBe(false);
  });

  test("are ignored for a CA that already exists", async () => {
    const dir = caDir();
    await loadOrCreateCa({ dir });
    const ca = await loadOrCreateCa({ dir, nameConstraints: { dns: ["test.invalid"], ips: [] } });
    expect(ca.constraints).toBeUndefined();
    expect(ca.permits({ host: "other.invalid", kind: "name" })).toBe(true);
  });

  test("a broken constraints.json is reported by name", async () => {
    const dir = caDir();
    await loadOrCreateCa({ dir, nameConstraints: { dns: ["test.invalid"], ips: [] } });
    writeFileSync(join(dir, CA_CONSTRAINTS_FILE), `{"dns": ["x"], "ips": ["10.0.0.1/8"]}`);
    const error = await rejection({ dir });
    expect(error.message).toContain(`${join(dir, CA_CONSTRAINTS_FILE)} has a bad CIDR`);
  });
});

describe("a CA the user brings", () => {
  async function openssl(dir: string, keyArgs: string[], ext: string[], days = "30"): Promise<{ cert: string; key: string }> {
    const key = join(dir, `key-${Math.random().toString(36).slice(2)}.pem`);
    const cert = join(dir, `cert-${Math.random().toString(36).slice(2)}.pem`);
    expect((await run(["openssl", ...keyArgs.map((arg) => (arg === "KEY" ? key : arg))])).code).toBe(0);
    const args = ["openssl", "req", "-x509", "-key", key, "-out", cert, "-days", days, "-subj", "/CN=user CA", ...ext.flatMap((e) => ["-addext", e])];
    expect((await run(args)).code).toBe(0);
    return { cert, key };
  }
  const EC_KEY = ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "KEY"];
  const caExt = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"];

  test("loads RSA (PKCS#1), EC (SEC1) and Ed25519 (PKCS#8) CAs, and signs leaves that verify", async () => {
    const dir = tempDirSync("credproxy-userca-");
    const rsa = await openssl(dir, ["genrsa", "-traditional", "-out", "KEY", "2048"], caExt);
    expect(readFileSync(rsa.key, "utf8")).toContain("BEGIN RSA PRIVATE KEY");
    const ec = await openssl(dir, EC_KEY, caExt);
    expect(readFileSync(ec.key, "utf8")).toContain("BEGIN EC PRIVATE KEY");
    const ed25519 = await openssl(dir, ["genpkey", "-algorithm", "ed25519", "-out", "KEY"], caExt);
    expect(readFileSync(ed25519.key, "utf8")).toContain("BEGIN PRIVATE KEY");
    for (const files of [rsa, ec, ed25519]) {
      const ca = await loadOrCreateCa({ dir: caDir(), certPath: files.cert, keyPath: files.key });
      expect(ca.generated).toBe(false);
      expect(ca.certPath).toBe(files.cert);
      expect(new X509Certificate(ca.certPem).subject).toBe("CN=user CA");
      expect(ca.subjectKeyId.length).toBe(20);
      // the leaf's issuer is the CA's subject sliced from openssl's DER, so the chain must verify
      const leaf = new LeafCertificates(ca).certificateFor({ host: "user.test.invalid", kind: "name" });
      const verified = await opensslVerify(ca.certPem, leaf);
      expect(verified.stderr).toBe("");
      expect(verified.code).toBe(0);
    }
  });

  test("whose key does not match its certificate is refused, naming both files", async () => {
    const dir = tempDirSync("credproxy-userca-");
    const one = await openssl(dir, EC_KEY, caExt);
    const two = await openssl(dir, EC_KEY, caExt);
    const error = await rejection({ dir: caDir(), certPath: one.cert, keyPath: two.key });
    expect(error.message).toBe(`${two.key} is not the private key of the certificate in ${one.cert}`);
  });

  test("that is not a CA certificate is refused", async () => {
    const dir = tempDirSync("credproxy-userca-");
    const leaf = await openssl(dir, EC_KEY, ["basicConstraints=critical,CA:FALSE"]);
    const error = await rejection({ dir: caDir(), certPath: leaf.cert, keyPath: leaf.key });
    expect(error.message).toBe(`${leaf.cert} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  });

  test("that has expired is refused", async () => {
    const dir = tempDirSync("credproxy-userca-");
    const files = await openssl(dir, EC_KEY, caExt, "1");
    const later = new Date(Date.now() + 3 * DAY);
    const error = await rejection({ dir: caDir(), certPath: files.cert, keyPath: files.key, now: () => later });
    expect(error.message).toContain(`the CA certificate in ${files.cert} expired on`);
  });

  test("given without its key, or with a key file that is not a key, is refused", async () => {
    const dir = tempDirSync("credproxy-userca-");
    const files = await openssl(dir, EC_KEY, caExt);
    expect((await rejection({ dir: caDir(), certPath: files.cert })).message).toBe("a proxy CA needs both a certificate and a key file");
    const error = await rejection({ dir: caDir(), certPath: files.cert, keyPath: files.cert });
    expect(error.message).toBe(`${files.cert} does not hold a usable private key`);
  });
});
