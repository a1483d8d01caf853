import { describe, expect, test } from "bun:test";
import { X509Certificate, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDirSync } from "../../../test/helpers/cleanup.ts";
import { parseCidr, type Cidr } from "../../net/cidr.ts";
import {
  authorityKeyIdentifier,
  basicConstraints,
  buildCertificate,
  encodeName,
  extKeyUsageServerAuth,
  keyIdentifier,
  keyUsage,
  nameConstraints,
  randomSerial,
  subjectAltName,
  subjectKeyIdentifier,
  type Extension,
  type GeneralName,
} from "./certificate-builder.ts";
import { readCertificateFields } from "./certificate-fields.ts";
import { opensslText, opensslVerify, run } from "./test-support.ts";

const DAY = 86_400_000;
const CA_NAME = { organization: "credproxy", commonName: "builder test CA" };

function keyPair(kind: "rsa" | "ec" | "ed25519"): { privateKey: KeyObject; publicKey: KeyObject } {
  if (kind === "rsa") return generateKeyPairSync("rsa", { modulusLength: 2048 });
  if (kind === "ec") return generateKeyPairSync("ec", { namedCurve: "P-256" });
  return generateKeyPairSync("ed25519");
}

function makeCa(kind: "rsa" | "ec" | "ed25519", extra: Extension[] = []) {
  const keys = keyPair(kind);
  const keyId = keyIdentifier(keys.publicKey);
  const now = Date.now();
  const certificate = buildCertificate({
    subject: CA_NAME,
    issuer: CA_NAME,
    serial: randomSerial(),
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 365 * DAY),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions: [basicConstraints({ ca: true, pathLength: 0 }), keyUsage(["keyCertSign", "cRLSign"]), subjectKeyIdentifier(keyId), ...extra],
  });
  return { ...keys, keyId, certificate };
}

function makeLeaf(ca: ReturnType<typeof makeCa>, name: GeneralName) {
  const keys = keyPair("ec");
  const now = Date.now();
  const commonName = "dns" in name ? name.dns : undefined;
  return buildCertificate({
    subject: commonName === undefined ? {} : { commonName },
    issuer: encodeName(CA_NAME),
    serial: randomSerial(),
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 30 * DAY),
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    extensions: [
      basicConstraints({ ca: false }),
      keyUsage(["digitalSignature"]),
      extKeyUsageServerAuth(),
      subjectKeyIdentifier(keyIdentifier(keys.publicKey)),
      authorityKeyIdentifier(ca.keyId),
      subjectAltName([name], { critical: commonName === undefined }),
    ],
  });
}

const SIGNATURE_NAMES = { rsa: "sha256WithRSAEncryption", ec: "ecdsa-with-SHA256", ed25519: "ED25519" } as const;

describe.each(["rsa", "ec", "ed25519"] as const)("with an %s issuer key", (kind) => {
  const ca = makeCa(kind);

  test("the CA certificate is self-signed with the matching signature algorithm", async () => {
    expect(new X509Certificate(ca.certificate.pem).verify(ca.publicKey)).toBe(true);
    const text = await opensslText(ca.certificate.pem);
    expect(text).toContain(`Signature Algorithm: ${SIGNATURE_NAMES[kind]}`);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
  });

  test("openssl verify -x509_strict accepts a DNS leaf it signed", async () => {
    const result = await opensslVerify(ca.certificate.pem, makeLeaf(ca, { dns: "a.test.invalid" }).pem);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  test("openssl verify -x509_strict accepts an IPv4 and an IPv6 leaf it signed", async () => {
    for (const ip of [Buffer.from([127, 0, 0, 1]), Buffer.from("00000000000000000000000000000001", "hex")]) {
      const result = await opensslVerify(ca.certificate.pem, makeLeaf(ca, { ip }).pem);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
    }
  });
});

test("a leaf carries SAN, SKI, AKI, a critical CA:FALSE, digitalSignature only and serverAuth", async () => {
  const ca = makeCa("ec");
  const text = await opensslText(makeLeaf(ca, { dns: "a.test.invalid" }).pem);
  expect(text).toContain("Subject: CN = a.test.invalid");
  expect(text).toMatch(/Subject Alternative Name: \s+DNS:a\.test\.invalid\n/);
  expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
  expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
  expect(text).toMatch(/Extended Key Usage: \s+TLS Web Server Authentication\n/);
  expect(text).toContain("Subject Key Identifier");
  const aki = ca.keyId.toString("hex").toUpperCase().match(/../g)!.join(":");
  expect(text).toContain(aki);
});

test("an IP leaf without a subject marks its SAN critical", async () => {
  const text = await opensslText(makeLeaf(makeCa("ec"), { ip: Buffer.from([127, 0, 0, 1]) }).pem);
  expect(text).toMatch(/Subject Alternative Name: critical\s+IP Address:127\.0\.0\.1\n/);
});

test("openssl rejects a leaf outside the CA's permitted name constraints", async () => {
  const permittedIps = [parseCidr("127.0.0.0/8") as Cidr];
  const ca = makeCa("ec", [nameConstraints({ permittedDns: ["test.invalid"], permittedIps })]);
  const text = await opensslText(ca.certificate.pem);
  expect(text).toMatch(/Name Constraints: critical\s+Permitted:\s+DNS:test\.invalid\s+IP:127\.0\.0\.0\/255\.0\.0\.0/);
  expect((await opensslVerify(ca.certificate.pem, makeLeaf(ca, { dns: "a.test.invalid" }).pem)).code).toBe(0);
  expect((await opensslVerify(ca.certificate.pem, makeLeaf(ca, { ip: Buffer.from([127, 9, 9, 9]) }).pem)).code).toBe(0);
  const outsideName = await opensslVerify(ca.certificate.pem, makeLeaf(ca, { dns: "a.other.invalid" }).pem);
  expect(outsideName.code).not.toBe(0);
  expect(outsideName.stdout + outsideName.stderr).toContain("permitted subtree violation");
  const outsideIp = await opensslVerify(ca.certificate.pem, makeLeaf(ca, { ip: Buffer.from([10, 0, 0, 1]) }).pem);
  expect(outsideIp.stdout + outsideIp.stderr).toContain("permitted subtree violation");
});

test("excluded subtrees of every address and the root name shut out every IP and every name", async () => {
  const everywhere = [parseCidr("0.0.0.0/0"), parseCidr("::/0")] as Cidr[];
  const ca = makeCa("ec", [nameConstraints({ excludedDns: [""], excludedIps: everywhere })]);
  for (const name of [{ dns: "a.test.invalid" }, { ip: Buffer.from([127, 0, 0, 1]) }]) {
    const result = await opensslVerify(ca.certificate.pem, makeLeaf(ca, name).pem);
    expect(result.stdout + result.stderr).toContain("excluded subtree violation");
  }
});

test("randomSerial() is 16 bytes, positive, with a non-zero first byte", () => {
  for (let i = 0; i < 200; i++) {
    const serial = randomSerial();
    expect(serial.length).toBe(16);
    expect(serial[0]! & 0x80).toBe(0);
    expect(serial[0]).not.toBe(0);
  }
});

test("keyIdentifier() equals the subjectKeyIdentifier openssl computes (RFC 5280 method 1)", async () => {
  const dir = tempDirSync("credproxy-ski-");
  const key = join(dir, "k.pem");
  const cert = join(dir, "c.pem");
  const made = await run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=ski test"]);
  expect(made.code).toBe(0);
  const x509 = new X509Certificate(readFileSync(cert));
  const fields = readCertificateFields(Buffer.from(x509.raw));
  expect(fields.subjectKeyId?.toString("hex")).toBe(keyIdentifier(x509.publicKey).toString("hex"));
});

test("the subject is read back byte for byte, and a certificate without SKI reports none", () => {
  const keys = keyPair("ec");
  const subject = encodeName({ commonName: "no ski" });
  const { der } = buildCertificate({
    subject,
    issuer: subject,
    serial: randomSerial(),
    notBefore: new Date(),
    notAfter: new Date(Date.now() + DAY),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions: [],
  });
  const fields = readCertificateFields(der);
  expect(fields.subject.equals(subject)).toBe(true);
  expect(fields.subjectKeyId).toBeUndefined();
});

test("dates from 2050 on are written as GeneralizedTime", async () => {
  const keys = keyPair("ec");
  const { pem } = buildCertificate({
    subject: CA_NAME,
    issuer: CA_NAME,
    serial: randomSerial(),
    notBefore: new Date("2049-12-31T00:00:00Z"),
    notAfter: new Date("2051-06-01T12:00:00Z"),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions: [],
  });
  const x509 = new X509Certificate(pem);
  expect(new Date(x509.validFrom).toISOString()).toBe("2049-12-31T00:00:00.000Z");
  expect(new Date(x509.validTo).toISOString()).toBe("2051-06-01T12:00:00.000Z");
});

test("an issuer key of an unsupported type is refused with a clear error", () => {
  const keys = generateKeyPairSync("ec", { namedCurve: "P-521" });
  expect(() =>
    buildCertificate({
      subject: CA_NAME,
      issuer: CA_NAME,
      serial: randomSerial(),
      notBefore: new Date(),
      notAfter: new Date(Date.now() + DAY),
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
      extensions: [],
    }),
  ).toThrow("the CA key is an EC key on curve secp521r1, which credproxy cannot sign certificates with");
});
