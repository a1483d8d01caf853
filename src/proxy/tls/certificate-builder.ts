/**
 * Builds X.509 v3 certificates: forge's ASN.1 module writes the TBSCertificate DER, and
 * node:crypto signs it. Neither Bun nor Node can issue certificates, and forge's own signer
 * knows only RSA, while the proxy CA and its leaves are EC P-256 (fast to mint: no RSA key
 * generation per host). Issuer keys may be RSA, EC (P-256/P-384) or Ed25519, because a user
 * may bring their own CA.
 *
 * Only the extensions the proxy needs are here, each as a helper returning an `Extension`.
 */
import { createHash, randomBytes, sign, type KeyObject } from "node:crypto";
import asn1, { type Asn1 } from "node-forge/lib/asn1.js";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import type { Cidr } from "../../net/cidr.ts";

const { Class, Type } = asn1;

/** A distinguished name: DER bytes as they stand in another certificate, or the two attributes we write. */
export type NameInput = Buffer | { readonly commonName?: string; readonly organization?: string };

export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  /** DER of the extension's value (what goes inside extnValue's OCTET STRING). */
  readonly value: Buffer;
}

export interface CertificateInput {
  readonly subject: NameInput;
  readonly issuer: NameInput;
  /** Big-endian unsigned serial number; see randomSerial(). */
  readonly serial: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: KeyObject;
  readonly signingKey: KeyObject;
  readonly extensions: readonly Extension[];
}

export interface BuiltCertificate {
  readonly der: Buffer;
  readonly pem: string;
}

export type GeneralName = { readonly dns: string } | { readonly ip: Uint8Array };

export type KeyUsage =
  | "digitalSignature"
  | "nonRepudiation"
  | "keyEncipherment"
  | "dataEncipherment"
  | "keyAgreement"
  | "keyCertSign"
  | "cRLSign";

const KEY_USAGE_BITS: Record<KeyUsage, number> = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
};

const OID = {
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  nameConstraints: "2.5.29.30",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  sha256WithRsa: "1.2.840.113549.1.1.11",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  ed25519: "1.3.101.112",
} as const;

/** Signs `tbs` and returns the certificate. Throws CredproxyError for an issuer key type we cannot sign with. */
export function buildCertificate(input: CertificateInput): BuiltCertificate {
  const algorithm = signatureAlgorithm(input.signingKey);
  const tbs = tbsCertificate(input, algorithm.identifier);
  const signature = sign(algorithm.digest, toBuffer(tbs), input.signingKey);
  const certificate = sequence([tbs, algorithm.identifier, bitString(signature)]);
  const der = toBuffer(certificate);
  return { der, pem: derToPem(der, "CERTIFICATE") };
}

/** A 16-byte positive serial (RFC 5280 allows up to 20): high bit clear, first byte non-zero so DER keeps all 16. */
export function randomSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f || 0x01;
  return serial;
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bits. */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = asn1.fromDer(publicKey.export({ type: "spki", format: "der" }).toString("latin1"), {
    decodeBitStrings: false,
  });
  const bits = (spki.value as Asn1[])[1]!.value as string;
  return createHash("sha1").update(Buffer.from(bits.slice(1), "latin1")).digest();
}

/** The DER of a name; a Buffer is returned as it is so an issuer matches its CA's subject byte for byte. */
export function encodeName(name: NameInput): Buffer {
  if (Buffer.isBuffer(name)) return name;
  const rdns: Asn1[] = [];
  if (name.organization !== undefined) rdns.push(attribute(OID.organization, name.organization));
  if (name.commonName !== undefined) rdns.push(attribute(OID.commonName, name.commonName));
  return toBuffer(sequence(rdns));
}

/** basicConstraints, critical. `pathLength` only for a CA. */
export function basicConstraints(options: { ca: boolean; pathLength?: number }): Extension {
  const fields: Asn1[] = [];
  if (options.ca) {
    fields.push(asn1.create(Class.UNIVERSAL, Type.BOOLEAN, false, "\xff"));
    if (options.pathLength !== undefined) fields.push(integer(unsignedBytes(options.pathLength)));
  }
  return extension(OID.basicConstraints, true, sequence(fields));
}

/** keyUsage, critical; a named BIT STRING, so trailing zero bits are dropped as DER requires. */
export function keyUsage(usages: readonly KeyUsage[]): Extension {
  if (usages.length === 0) throw new Error("keyUsage needs at least one usage"); // a bug, not user input
  const bits = usages.map((usage) => KEY_USAGE_BITS[usage]);
  const last = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(last / 8) + 1);
  for (const bit of bits) bytes[bit >> 3] = bytes[bit >> 3]! | (0x80 >> (bit & 7));
  const unused = 7 - (last % 8);
  const value = String.fromCharCode(unused) + bytes.toString("latin1");
  return extension(OID.keyUsage, true, asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, value));
}

/** extKeyUsage serverAuth, not critical. */
export function extKeyUsageServerAuth(): Extension {
  return extension(OID.extKeyUsage, false, sequence([oid(OID.serverAuth)]));
}

export function subjectKeyIdentifier(keyId: Buffer): Extension {
  return extension(OID.subjectKeyIdentifier, false, octetString(keyId));
}

/** authorityKeyIdentifier with only keyIdentifier [0]: the issuer's SKI. */
export function authorityKeyIdentifier(issuerKeyId: Buffer): Extension {
  const keyId = asn1.create(Class.CONTEXT_SPECIFIC, 0, false, issuerKeyId.toString("latin1"));
  return extension(OID.authorityKeyIdentifier, false, sequence([keyId]));
}

/** subjectAltName; critical only when the subject is empty (RFC 5280 §4.2.1.6). */
export function subjectAltName(names: readonly GeneralName[], options: { critical?: boolean } = {}): Extension {
  return extension(OID.subjectAltName, options.critical ?? false, sequence(names.map(generalName)));
}

/**
 * nameConstraints, critical (RFC 5280 requires it). An IP subtree is the network address
 * followed by its mask, 8 octets for IPv4 and 32 for IPv6.
 */
export function nameConstraints(options: {
  permittedDns?: readonly string[];
  permittedIps?: readonly Cidr[];
  excludedDns?: readonly string[];
  excludedIps?: readonly Cidr[];
}): Extension {
  const permitted = subtrees(options.permittedDns ?? [], options.permittedIps ?? []);
  const excluded = subtrees(options.excludedDns ?? [], options.excludedIps ?? []);
  const fields: Asn1[] = [];
  if (permitted.length > 0) fields.push(asn1.create(Class.CONTEXT_SPECIFIC, 0, true, permitted));
  if (excluded.length > 0) fields.push(asn1.create(Class.CONTEXT_SPECIFIC, 1, true, excluded));
  return extension(OID.nameConstraints, true, sequence(fields));
}

/** PEM armour, 64 characters a line. */
export function derToPem(der: Buffer, label: string): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function tbsCertificate(input: CertificateInput, signatureId: Asn1): Asn1 {
  const version = asn1.create(Class.CONTEXT_SPECIFIC, 0, true, [integer(Buffer.from([2]))]);
  const extensions = input.extensions.map((ext) => {
    const fields: Asn1[] = [oid(ext.oid)];
    if (ext.critical) fields.push(asn1.create(Class.UNIVERSAL, Type.BOOLEAN, false, "\xff"));
    fields.push(octetString(ext.value));
    return sequence(fields);
  });
  const fields: Asn1[] = [
    version,
    integer(input.serial),
    signatureId,
    raw(encodeName(input.issuer)),
    sequence([time(input.notBefore), time(input.notAfter)]),
    raw(encodeName(input.subject)),
    raw(input.publicKey.export({ type: "spki", format: "der" })),
  ];
  if (extensions.length > 0) fields.push(asn1.create(Class.CONTEXT_SPECIFIC, 3, true, [sequence(extensions)]));
  return sequence(fields);
}

/** The signature AlgorithmIdentifier and node:crypto digest for an issuer key. */
function signatureAlgorithm(key: KeyObject): { identifier: Asn1; digest: string | null } {
  const type = key.asymmetricKeyType;
  if (type === "rsa") {
    const nullParams = asn1.create(Class.UNIVERSAL, Type.NULL, false, "");
    return { identifier: sequence([oid(OID.sha256WithRsa), nullParams]), digest: "sha256" };
  }
  if (type === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1" || curve === "P-256") return { identifier: sequence([oid(OID.ecdsaWithSha256)]), digest: "sha256" };
    if (curve === "secp384r1" || curve === "P-384") return { identifier: sequence([oid(OID.ecdsaWithSha384)]), digest: "sha384" };
    throw unsupportedKey(`an EC key on curve ${curve ?? "unknown"}`);
  }
  if (type === "ed25519") return { identifier: sequence([oid(OID.ed25519)]), digest: null };
  throw unsupportedKey(`a key of type ${type ?? "unknown"}`);
}

function unsupportedKey(what: string): CredproxyError {
  return new CredproxyError(ErrorCode.ConfigInvalid, `the CA key is ${what}, which credproxy cannot sign certificates with`, {
    hint: "use an RSA, EC P-256/P-384 or Ed25519 CA key",
  });
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(date: Date): Asn1 {
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return asn1.create(Class.UNIVERSAL, Type.UTCTIME, false, asn1.dateToUtcTime(date));
  return asn1.create(Class.UNIVERSAL, Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

function subtrees(dns: readonly string[], ips: readonly Cidr[]): Asn1[] {
  const bases = [...dns.map((name) => generalName({ dns: name })), ...ips.map(ipSubtreeBase)];
  return bases.map((base) => sequence([base]));
}

function ipSubtreeBase(cidr: Cidr): Asn1 {
  const mask = Buffer.alloc(cidr.bytes.length);
  for (let bit = 0; bit < cidr.prefix; bit++) mask[bit >> 3] = mask[bit >> 3]! | (0x80 >> (bit & 7));
  return generalName({ ip: Buffer.concat([cidr.bytes, mask]) });
}

function generalName(name: GeneralName): Asn1 {
  if ("dns" in name) return asn1.create(Class.CONTEXT_SPECIFIC, 2, false, name.dns);
  return asn1.create(Class.CONTEXT_SPECIFIC, 7, false, Buffer.from(name.ip).toString("latin1"));
}

function attribute(type: string, value: string): Asn1 {
  const text = asn1.create(Class.UNIVERSAL, Type.UTF8, false, Buffer.from(value, "utf8").toString("latin1"));
  return asn1.create(Class.UNIVERSAL, Type.SET, true, [sequence([oid(type), text])]);
}

function extension(id: string, critical: boolean, value: Asn1): Extension {
  return { oid: id, critical, value: toBuffer(value) };
}

function sequence(items: Asn1[]): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, items);
}

function oid(id: string): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.OID, false, asn1.oidToDer(id).getBytes());
}

function octetString(bytes: Buffer): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, bytes.toString("latin1"));
}

/** A BIT STRING with no unused bits, written as bytes so forge does not try to read it as ASN.1. */
function bitString(bytes: Buffer): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, "\x00" + bytes.toString("latin1"));
}

/** A positive INTEGER from big-endian bytes, with the 0x00 DER needs when the high bit is set. */
function integer(bytes: Buffer): Asn1 {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  const value = (trimmed[0]! & 0x80 ? "\x00" : "") + trimmed.toString("latin1");
  return asn1.create(Class.UNIVERSAL, Type.INTEGER, false, value);
}

function unsignedBytes(n: number): Buffer {
  const bytes: number[] = [];
  do {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  } while (n > 0);
  return Buffer.from(bytes);
}

/** Already-encoded DER as a forge node; forge re-encodes what it parsed byte for byte. */
function raw(der: Buffer): Asn1 {
  return asn1.fromDer(der.toString("latin1"), { decodeBitStrings: false });
}

function toBuffer(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), "latin1");
}
