import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { createServer as createNetServer, type AddressInfo, type Server } from "node:net";
import { TLSSocket, createServer as createTlsServer } from "node:tls";
import { join } from "node:path";
import { tempDirSync } from "../../../test/helpers/cleanup.ts";
import { parseCidr, type Cidr } from "../../net/cidr.ts";
import { parseSni } from "../canonical-host.ts";
import { LeafCertificates } from "./leaf-certificates.ts";
import { loadOrCreateCa, type ProxyCa } from "./proxy-ca.ts";
import { opensslText, opensslVerify, run, writePem } from "./test-support.ts";

const DAY = 86_400_000;
const RESPONSE = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

let ca: ProxyCa;
let caFile: string;

beforeAll(async () => {
  const dir = tempDirSync("credproxy-leaf-");
  ca = await loadOrCreateCa({ dir: join(dir, "ca") });
  caFile = writePem(dir, "ca-only.pem", ca.certPem);
});

/** Closes a server after destroying what is still connected: Bun keeps a TLS socket's raw socket open after end(). */
function track(server: Server): () => Promise<void> {
  const open = new Set<{ destroy(): void }>();
  server.on("connection", (socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
  });
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of open) socket.destroy();
    });
}

function serial(pem: string): string {
  return new X509Certificate(pem).serialNumber;
}

describe("a minted leaf", () => {
  test("for a DNS name passes openssl verify -x509_strict with CN and a DNS SAN", async () => {
    const leaves = new LeafCertificates(ca);
    const pem = leaves.certificateFor({ host: "a.test.invalid", kind: "name" });
    const result = await opensslVerify(ca.certPem, pem);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const text = await opensslText(pem);
    expect(text).toContain("Subject: CN = a.test.invalid");
    expect(text).toMatch(/Subject Alternative Name: \s+DNS:a\.test\.invalid\n/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/Extended Key Usage: \s+TLS Web Server Authentication/);
    expect(text).toContain(`Authority Key Identifier: \n                ${ca.subjectKeyId.toString("hex").toUpperCase().match(/../g)!.join(":")}`);
  });

  test("for an IP literal carries an IP SAN (critical, no CN) and passes openssl verify -x509_strict", async () => {
    const leaves = new LeafCertificates(ca);
    for (const [host, kind, san] of [["127.0.0.1", "ipv4", "IP Address:127.0.0.1"], ["::1", "ipv6", "IP Address:0:0:0:0:0:0:0:1"]] as const) {
      const pem = leaves.certificateFor({ host, kind });
      const result = await opensslVerify(ca.certPem, pem);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const text = await opensslText(pem);
      expect(text).toMatch(new RegExp(`Subject Alternative Name: critical\\s+${san}\\n`));
      expect(text).toContain("Subject: \n");
    }
  });

  test("for a name longer than 64 characters puts it in the SAN only", async () => {
    const host = `${"a".repeat(60)}.test.invalid`;
    const pem = new LeafCertificates(ca).certificateFor({ host, kind: "name" });
    expect((await opensslVerify(ca.certPem, pem)).code).toBe(0);
    expect(new X509Certificate(pem).subjectAltName).toBe(`DNS:${host}`);
  });

  test("is valid from a day ago for validityDays, and never past the CA", () => {
    const now = new Date("2026-06-01T00:00:00Z");
    const pem = new LeafCertificates(ca, { validityDays: 10, now: () => now }).certificateFor({ host: "a.test.invalid", kind: "name" });
    const x509 = new X509Certificate(pem);
    expect(new Date(x509.validFrom).toISOString()).toBe("2026-05-31T00:00:00.000Z");
    expect(new Date(x509.validTo).toISOString()).toBe("2026-06-10T00:00:00.000Z");
    const late = new Date(ca.notAfter.getTime() - 5 * DAY);
    const clamped = new LeafCertificates(ca, { now: () => late }).certificateFor({ host: "a.test.invalid", kind: "name" });
    expect(new Date(new X509Certificate(clamped).validTo).getTime()).toBe(ca.notAfter.getTime());
  });

  test("validityDays outside 3–99 is refused", () => {
    expect(() => new LeafCertificates(ca, { validityDays: 100 })).toThrow("leaf certificate validityDays must be a whole number from 3 to 99, not 100");
    expect(() => new LeafCertificates(ca, { capacity: 0 })).toThrow("capacity must be a whole number");
  });
});

describe("the leaf cache", () => {
  test("shares one leaf key across hosts", () => {
    const leaves = new LeafCertificates(ca);
    const a = new X509Certificate(leaves.certificateFor({ host: "a.test.invalid", kind: "name" }));
    const b = new X509Certificate(leaves.certificateFor({ host: "b.test.invalid", kind: "name" }));
    expect(a.publicKey.equals(b.publicKey)).toBe(true);
    expect(a.publicKey.equals(leaves.publicKey)).toBe(true);
    expect(a.serialNumber).not.toBe(b.serialNumber);
  });

  test("returns the cached context on a hit and counts hits and misses", () => {
    const leaves = new LeafCertificates(ca);
    const first = leaves.contextFor({ host: "a.test.invalid", kind: "name" });
    expect(leaves.contextFor({ host: "a.test.invalid", kind: "name" })).toBe(first);
    expect([leaves.size, leaves.hits, leaves.misses]).toEqual([1, 1, 1]);
  });

  test("evicts the least recently used host past its capacity", () => {
    const leaves = new LeafCertificates(ca, { capacity: 2 });
    const a = leaves.contextFor({ host: "a.test.invalid", kind: "name" });
    const b = leaves.contextFor({ host: "b.test.invalid", kind: "name" });
    expect(leaves.contextFor({ host: "a.test.invalid", kind: "name" })).toBe(a); // a is now the most recent
    leaves.contextFor({ host: "c.test.invalid", kind: "name" }); // evicts b
    expect(leaves.size).toBe(2);
    expect(leaves.contextFor({ host: "a.test.invalid", kind: "name" })).toBe(a);
    expect(leaves.contextFor({ host: "b.test.invalid", kind: "name" })).not.toBe(b);
    expect(leaves.misses).toBe(4);
  });

  test("re-mints a leaf with less than a day left", () => {
    let now = new Date("2026-06-01T00:00:00Z");
    const leaves = new LeafCertificates(ca, { validityDays: 10, now: () => now });
    const first = leaves.certificateFor({ host: "a.test.invalid", kind: "name" });
    now = new Date("2026-06-08T23:00:00Z"); // 25 hours left
    expect(leaves.certificateFor({ host: "a.test.invalid", kind: "name" })).toBe(first);
    now = new Date("2026-06-09T01:00:00Z"); // 23 hours left
    const second = leaves.certificateFor({ host: "a.test.invalid", kind: "name" });
    expect(serial(second)).not.toBe(serial(first));
    expect(new Date(new X509Certificate(second).validTo).toISOString()).toBe("2026-06-18T01:00:00.000Z");
  });
});

describe("a leaf outside the CA's name constraints", () => {
  test("is rejected by openssl verify, and permits() says so first", async () => {
    const dir = tempDirSync("credproxy-leaf-nc-");
    const constrained = await loadOrCreateCa({
      dir: join(dir, "ca"),
      nameConstraints: { dns: ["test.invalid"], ips: [parseCidr("127.0.0.0/8") as Cidr] },
    });
    const leaves = new LeafCertificates(constrained);
    const inside = [{ host: "a.test.invalid", kind: "name" }, { host: "127.0.0.1", kind: "ipv4" }] as const;
    for (const target of inside) {
      expect(constrained.permits(target)).toBe(true);
      expect((await opensslVerify(constrained.certPem, leaves.certificateFor(target))).code).toBe(0);
    }
    const outside = [{ host: "a.other.invalid", kind: "name" }, { host: "10.0.0.1", kind: "ipv4" }, { host: "::1", kind: "ipv6" }] as const;
    for (const target of outside) {
      expect(constrained.permits(target)).toBe(false);
      const result = await opensslVerify(constrained.certPem, leaves.certificateFor(target));
      expect(result.code).not.toBe(0);
      expect(result.stdout + result.stderr).toMatch(/(permitted|excluded) subtree violation/);
    }
  });
});

describe("served over real TLS chosen by SNI", () => {
  let leaves: LeafCertificates;
  let server: Server;
  let port: number;
  let close: () => Promise<void>;

  beforeAll(async () => {
    leaves = new LeafCertificates(ca);
    server = createTlsServer(
      {
        SNICallback: (name, callback) => {
          const host = parseSni(name);
          if (host === undefined) callback(new Error("bad SNI"), undefined);
          else callback(null, leaves.contextFor({ host, kind: "name" }));
        },
      },
      (socket) => socket.end(RESPONSE),
    );
    close = track(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => close());

  test("curl --cacert verifies it", async () => {
    const result = await run(["curl", "-sS", "--cacert", caFile, "--resolve", `a.test.invalid:${port}:127.0.0.1`, `https://a.test.invalid:${port}/`]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("ok");
  });

  test("the chain sent is the leaf and then the CA (Python needs the issuer in it)", async () => {
    const result = await run(["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", "chain.test.invalid", "-showcerts", "-CAfile", caFile], { stdin: "" });
    const sent = result.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    expect(sent.length).toBe(2);
    expect(new X509Certificate(sent[0]!).subjectAltName).toBe("DNS:chain.test.invalid");
    expect(new X509Certificate(sent[1]!).fingerprint256).toBe(new X509Certificate(ca.certPem).fingerprint256);
    expect(result.stdout).toContain("Verify return code: 0 (ok)");
  });

  test("Python ssl with VERIFY_X509_STRICT verifies it", async () => {
    const script = [
      "import socket, ssl, sys",
      "ctx = ssl.create_default_context(cafile=sys.argv[1])",
      "ctx.verify_flags |= ssl.VERIFY_X509_STRICT",
      "with socket.create_connection(('127.0.0.1', int(sys.argv[2]))) as raw:",
      "    with ctx.wrap_socket(raw, server_hostname='py.test.invalid') as tls:",
      "        print(tls.getpeercert()['subjectAltName'][0][1])",
    ].join("\n");
    const result = await run(["python3", "-c", script, caFile, String(port)]);
    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("py.test.invalid");
  });

  test("Node's tls.connect with ca verifies it", async () => {
    const script =
      "const tls = require('node:tls'); const fs = require('node:fs');" +
      "const s = tls.connect({ host: '127.0.0.1', port: Number(process.argv[2]), servername: 'node.test.invalid', ca: fs.readFileSync(process.argv[1]) }," +
      " () => { console.log(s.authorized, s.getPeerCertificate().subject.CN); s.destroy(); });" +
      "s.on('error', (e) => { console.error(e.message); process.exit(1); });";
    const result = await run(["/usr/bin/node", "-e", script, caFile, String(port)]);
    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("true node.test.invalid");
  });
});

describe("served for an IP literal, as the proxy does for a CONNECT to an address", () => {
  test("curl and Python verify the IP SAN", async () => {
    const leaves = new LeafCertificates(ca);
    const server = createNetServer((raw) => {
      const socket = new TLSSocket(raw, { isServer: true, secureContext: leaves.contextFor({ host: "127.0.0.1", kind: "ipv4" }) });
      socket.on("secure", () => socket.end(RESPONSE));
      socket.on("error", () => raw.destroy());
    });
    const close = track(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const curl = await run(["curl", "-sS", "--cacert", caFile, `https://127.0.0.1:${port}/`]);
      expect(curl.stderr).toBe("");
      expect(curl.stdout).toBe("ok");
      const script = [
        "import socket, ssl, sys",
        "ctx = ssl.create_default_context(cafile=sys.argv[1])",
        "ctx.verify_flags |= ssl.VERIFY_X509_STRICT",
        "with socket.create_connection(('127.0.0.1', int(sys.argv[2]))) as raw:",
        "    with ctx.wrap_socket(raw, server_hostname='127.0.0.1') as tls:",
        "        print(tls.getpeercert()['subjectAltName'][0][1])",
      ].join("\n");
      const python = await run(["python3", "-c", script, caFile, String(port)]);
      expect(python.stderr).toBe("");
      expect(python.stdout.trim()).toBe("127.0.0.1");
    } finally {
      await close();
    }
  });
});
