/**
 * Per-host server certificates for interception, minted on first use and kept in an LRU.
 *
 * One EC P-256 leaf key serves every host: generating a key per host (RSA-2048 in Moat)
 * costs tens of milliseconds on the first connection to each host, while signing with the
 * CA key and building the secure context is well under that. The key never leaves memory.
 *
 * The chain served is leaf + CA: Python's ssl needs the issuer in the chain even when it
 * trusts the CA. Leaves are short-lived (30 days by default, at most 99) and re-minted
 * when less than a day is left, so a long-running proxy never serves an expired one.
 */
import { createSecureContext, type SecureContext } from "node:tls";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { parseIp } from "../../net/ip-address.ts";
import type { CanonicalTarget } from "../canonical-host.ts";
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
  type GeneralName,
} from "./certificate-builder.ts";
import type { ProxyCa } from "./proxy-ca.ts";

export interface LeafCertificatesOptions {
  /** Hosts kept; the least recently used is dropped past it. Default 1000. */
  readonly capacity?: number | undefined;
  /** Lifetime of a leaf in days, counted from its backdated start. Default 30, at most 99. */
  readonly validityDays?: number | undefined;
  readonly now?: (() => Date) | undefined;
}

export type LeafTarget = Pick<CanonicalTarget, "host" | "kind">;

interface Leaf {
  readonly context: SecureContext;
  readonly pem: string;
  readonly notAfter: number;
}

const DAY_MS = 86_400_000;
/** CN is at most 64 characters (RFC 5280 ub-common-name); longer names go in the SAN only. */
const MAX_COMMON_NAME = 64;

export class LeafCertificates {
  readonly #ca: ProxyCa;
  readonly #capacity: number;
  readonly #validityMs: number;
  readonly #now: () => Date;
  readonly #keyPem: string;
  readonly #publicKey: KeyObject;
  readonly #keyId: Buffer;
  readonly #leaves = new Map<string, Leaf>();
  #hits = 0;
  #misses = 0;

  constructor(ca: ProxyCa, options: LeafCertificatesOptions = {}) {
    this.#ca = ca;
    this.#capacity = checkedInteger("capacity", options.capacity ?? 1000, 1, Number.MAX_SAFE_INTEGER);
    this.#validityMs = checkedInteger("validityDays", options.validityDays ?? 30, 3, 99) * DAY_MS;
    this.#now = options.now ?? (() => new Date());
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.#keyPem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    this.#publicKey = publicKey;
    this.#keyId = keyIdentifier(publicKey);
  }

  /** The secure context to serve for `target.host`, minting its certificate when missing or nearly expired. */
  contextFor(target: LeafTarget): SecureContext {
    return this.#leafFor(target).context;
  }

  /** The PEM certificate served for `target.host` (for tests and diagnostics). */
  certificateFor(target: LeafTarget): string {
    return this.#leafFor(target).pem;
  }

  /** The shared leaf public key. */
  get publicKey(): KeyObject {
    return this.#publicKey;
  }

  get size(): number {
    return this.#leaves.size;
  }

  get hits(): number {
    return this.#hits;
  }

  get misses(): number {
    return this.#misses;
  }

  #leafFor(target: LeafTarget): Leaf {
    const now = this.#now().getTime();
    const cached = this.#leaves.get(target.host);
    this.#leaves.delete(target.host); // re-inserted below, so Map order is recency order
    if (cached && cached.notAfter - now >= DAY_MS) {
      this.#hits++;
      this.#leaves.set(target.host, cached);
      return cached;
    }
    this.#misses++;
    const leaf = this.#mint(target, now);
    this.#leaves.set(target.host, leaf);
    if (this.#leaves.size > this.#capacity) this.#leaves.delete(this.#leaves.keys().next().value!);
    return leaf;
  }

  #mint(target: LeafTarget, now: number): Leaf {
    const notBefore = now - DAY_MS;
    const notAfter = Math.min(notBefore + this.#validityMs, this.#ca.notAfter.getTime());
    // An IP literal gets no CN: OpenSSL checks a CN that looks like a DNS name against the
    // CA's DNS name constraints, and "127.0.0.1" does. The SAN is then critical (RFC 5280).
    const commonName = target.kind === "name" && target.host.length <= MAX_COMMON_NAME ? target.host : undefined;
    const certificate = buildCertificate({
      subject: commonName === undefined ? {} : { commonName },
      issuer: this.#ca.subject,
      serial: randomSerial(),
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      publicKey: this.#publicKey,
      signingKey: this.#ca.key,
      extensions: [
        basicConstraints({ ca: false }),
        keyUsage(["digitalSignature"]),
        extKeyUsageServerAuth(),
        subjectKeyIdentifier(this.#keyId),
        authorityKeyIdentifier(this.#ca.subjectKeyId),
        subjectAltName([generalName(target)], { critical: commonName === undefined }),
      ],
    });
    const context = createSecureContext({ key: this.#keyPem, cert: certificate.pem + this.#ca.certPem });
    return { context, pem: certificate.pem, notAfter };
  }
}

function generalName(target: LeafTarget): GeneralName {
  if (target.kind === "name") return { dns: target.host };
  const address = parseIp(target.host);
  if (!address) {
    throw new CredproxyError(ErrorCode.ConfigInvalid, `"${target.host}" is not an IP address, yet it is marked ${target.kind}`);
  }
  return { ip: address.bytes };
}

function checkedInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new CredproxyError(ErrorCode.ConfigInvalid, `leaf certificate ${name} must be a whole number from ${min} to ${max}, not ${value}`);
  }
  return value;
}
