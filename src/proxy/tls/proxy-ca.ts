/**
 * The proxy's certificate authority: the one the sandbox trusts so that the proxy may show
 * it a certificate for any host it intercepts. Either the user's own (`certPath`/`keyPath`)
 * or one credproxy generates once into a private directory and reuses.
 *
 * A generated CA may carry critical nameConstraints limited to the hosts the grants name,
 * so a leaked CA key cannot impersonate anything else to the sandbox. What was permitted is
 * kept in constraints.json beside it, and `permits()` answers from it, so the proxy can
 * refuse a host clearly instead of minting a leaf every client would reject.
 */
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import { join } from "node:path";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { cidrContains, parseCidr, type Cidr } from "../../net/cidr.ts";
import { parseIp } from "../../net/ip-address.ts";
import type { CanonicalTarget } from "../canonical-host.ts";
import { writeFileAtomic } from "./atomic-file.ts";
import {
  basicConstraints,
  buildCertificate,
  keyIdentifier,
  keyUsage,
  nameConstraints,
  randomSerial,
  subjectKeyIdentifier,
  type Extension,
} from "./certificate-builder.ts";
import { readCertificateFields } from "./certificate-fields.ts";
import { withDirectoryLock } from "./directory-lock.ts";

export const CA_CERT_FILE = "ca.pem";
export const CA_KEY_FILE = "ca-key.pem";
export const CA_CONSTRAINTS_FILE = "constraints.json";
const LOCK_FILE = "ca.lock";
const DAY_MS = 86_400_000;

/** Hosts a generated CA may issue for: DNS names (and their subdomains) and IP ranges. */
export interface CaNameConstraints {
  readonly dns: readonly string[];
  readonly ips: readonly Cidr[];
}

export interface ProxyCaOptions {
  /** Where a generated CA lives, e.g. $XDG_CONFIG_HOME/credproxy/proxy-ca. */
  readonly dir: string;
  /** The user's own CA: both or neither. */
  readonly certPath?: string | undefined;
  readonly keyPath?: string | undefined;
  /** Applied only when generating; a CA that exists keeps what it was made with. */
  readonly nameConstraints?: CaNameConstraints | undefined;
  /** For the generated CA's name; defaults to os.hostname(). */
  readonly hostname?: string | undefined;
  readonly now?: (() => Date) | undefined;
  /** How long to wait for another process generating the CA; default 10 s. */
  readonly lockTimeoutMs?: number | undefined;
}

export interface ProxyCa {
  readonly certPem: string;
  readonly certDer: Buffer;
  readonly key: KeyObject;
  readonly subjectKeyId: Buffer;
  /** DER of the CA's subject Name: the issuer of every leaf. */
  readonly subject: Buffer;
  readonly notAfter: Date;
  /** True when this call generated the CA (so the caller can say where to find it). */
  readonly generated: boolean;
  readonly certPath: string;
  readonly keyPath: string;
  /** What a generated CA was constrained to; undefined when unconstrained. */
  readonly constraints: CaNameConstraints | undefined;
  /** Whether a leaf for `target` would be accepted under the CA's name constraints. */
  permits(target: Pick<CanonicalTarget, "host" | "kind">): boolean;
}

/** Loads the user's CA, or the generated one in `dir`, generating it first when missing. */
export async function loadOrCreateCa(options: ProxyCaOptions): Promise<ProxyCa> {
  const now = options.now ?? (() => new Date());
  if (options.certPath !== undefined || options.keyPath !== undefined) return loadUserCa(options, now());
  const dir = options.dir;
  ensurePrivateDir(dir);
  const certPath = join(dir, CA_CERT_FILE);
  if (existsSync(certPath)) return loadDirCa(dir, now(), false);
  return withDirectoryLock(dir, LOCK_FILE, options.lockTimeoutMs ?? 10_000, () => {
    if (existsSync(certPath)) return loadDirCa(dir, now(), false);
    generateCa(dir, options, now());
    return loadDirCa(dir, now(), true);
  });
}

function loadUserCa(options: ProxyCaOptions, now: Date): ProxyCa {
  const { certPath, keyPath } = options;
  if (certPath === undefined || keyPath === undefined) {
    throw new CredproxyError(ErrorCode.ConfigInvalid, "a proxy CA needs both a certificate and a key file", {
      hint: "give both the CA certificate path and the CA key path, or neither to let credproxy generate one",
    });
  }
  return loadCa({ certPath, keyPath, now, generated: false, constraints: undefined });
}

function loadDirCa(dir: string, now: Date, generated: boolean): ProxyCa {
  const certPath = join(dir, CA_CERT_FILE);
  const keyPath = join(dir, CA_KEY_FILE);
  if (!existsSync(keyPath)) {
    throw new CredproxyError(ErrorCode.ConfigInvalid, `${certPath} exists but its key ${keyPath} does not`, {
      hint: `restore ${CA_KEY_FILE}, or delete ${certPath} to generate a new CA (sandboxes must then trust the new one)`,
    });
  }
  refuseLooseMode(keyPath, "key file", 0o600);
  return loadCa({ certPath, keyPath, now, generated, constraints: readConstraints(join(dir, CA_CONSTRAINTS_FILE)) });
}

interface LoadRequest {
  certPath: string;
  keyPath: string;
  now: Date;
  generated: boolean;
  constraints: CaNameConstraints | undefined;
}

function loadCa(request: LoadRequest): ProxyCa {
  const { certPath, keyPath, now } = request;
  const certificate = readCertificate(certPath);
  const key = readPrivateKey(keyPath);
  if (!certificate.checkPrivateKey(key)) {
    throw invalid(`${keyPath} is not the private key of the certificate in ${certPath}`, "give the key file that belongs to this CA certificate");
  }
  if (!certificate.ca) {
    throw invalid(`${certPath} is not a CA certificate (basicConstraints CA:TRUE is missing)`, "give a CA certificate, not a server certificate");
  }
  const notAfter = new Date(certificate.validTo);
  const notBefore = new Date(certificate.validFrom);
  if (notAfter.getTime() <= now.getTime()) {
    throw invalid(`the CA certificate in ${certPath} expired on ${notAfter.toISOString()}`, "renew the CA (or delete a generated one to get a new one)");
  }
  if (notBefore.getTime() > now.getTime()) {
    throw invalid(`the CA certificate in ${certPath} is not valid before ${notBefore.toISOString()}`, "check the system clock");
  }
  const der = Buffer.from(certificate.raw);
  const fields = readCertificateFields(der);
  const constraints = request.constraints;
  return {
    certPem: certificate.toString(),
    certDer: der,
    key,
    subjectKeyId: fields.subjectKeyId ?? keyIdentifier(createPublicKey(key)),
    subject: fields.subject,
    notAfter,
    generated: request.generated,
    certPath,
    keyPath,
    constraints,
    permits: (target) => constraints === undefined || permitted(constraints, target),
  };
}

function readCertificate(path: string): X509Certificate {
  const text = readText(path, "CA certificate");
  try {
    return new X509Certificate(text);
  } catch (cause) {
    throw new CredproxyError(ErrorCode.ConfigInvalid, `${path} does not hold a PEM certificate`, {
      hint: "give the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)",
      cause,
    });
  }
}

function readPrivateKey(path: string): KeyObject {
  const text = readText(path, "CA key");
  try {
    return createPrivateKey(text);
  } catch {
    // the cause is not attached: a key parser's message might quote the key
    throw new CredproxyError(ErrorCode.ConfigInvalid, `${path} does not hold a usable private key`, {
      hint: "give an unencrypted PEM key: PKCS#8 (BEGIN PRIVATE KEY), PKCS#1 (BEGIN RSA PRIVATE KEY) or SEC1 (BEGIN EC PRIVATE KEY)",
    });
  }
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (cause) {
    throw new CredproxyError(ErrorCode.ConfigInvalid, `cannot read the ${what} ${path}: ${(cause as Error).message}`, {
      hint: "check the path and that credproxy may read it",
      cause,
    });
  }
}

/** Creates `dir` 0700 when missing; refuses one that others may read, rather than widening trust silently. */
function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  refuseLooseMode(dir, "directory", 0o700);
}

function refuseLooseMode(path: string, what: string, wanted: number): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw invalid(
      `the proxy CA ${what} ${path} has mode ${mode.toString(8).padStart(4, "0")}; others could read the CA key`,
      `chmod ${wanted.toString(8)} ${path}`,
    );
  }
}

function generateCa(dir: string, options: ProxyCaOptions, now: Date): void {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const notAfter = new Date(now.getTime());
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + 10);
  const name = { organization: "credproxy", commonName: caCommonName(options.hostname ?? osHostname()) };
  const extensions: Extension[] = [
    basicConstraints({ ca: true, pathLength: 0 }),
    keyUsage(["keyCertSign", "cRLSign"]),
    subjectKeyIdentifier(keyIdentifier(publicKey)),
  ];
  const constraints = options.nameConstraints && normalizeConstraints(options.nameConstraints);
  if (constraints) extensions.push(constraintsExtension(constraints));
  const certificate = buildCertificate({
    subject: name,
    issuer: name,
    serial: randomSerial(),
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter,
    publicKey,
    signingKey: privateKey,
    extensions,
  });
  const constraintsPath = join(dir, CA_CONSTRAINTS_FILE);
  if (constraints) writeFileAtomic(constraintsPath, constraintsJson(constraints), 0o644);
  else removeIfPresent(constraintsPath);
  writeFileAtomic(join(dir, CA_KEY_FILE), privateKey.export({ type: "pkcs8", format: "pem" }), 0o600);
  // the certificate last: its presence is what tells another process the CA is complete
  writeFileAtomic(join(dir, CA_CERT_FILE), certificate.pem, 0o644);
}

/** CN is at most 64 characters (RFC 5280 ub-common-name). */
function caCommonName(host: string): string {
  const prefix = "credproxy proxy CA (";
  return `${prefix}${host.slice(0, 64 - prefix.length - 1)})`;
}

/**
 * An empty list of one kind would leave that kind unconstrained (RFC 5280 §4.2.1.10), so
 * "no IPs" is written as excluding every address, and "no names" as excluding the root.
 */
function constraintsExtension(constraints: CaNameConstraints): Extension {
  const everyAddress = [parseCidr("0.0.0.0/0"), parseCidr("::/0")] as Cidr[];
  return nameConstraints({
    permittedDns: constraints.dns,
    permittedIps: constraints.ips,
    excludedDns: constraints.dns.length === 0 ? [""] : [],
    excludedIps: constraints.ips.length === 0 ? everyAddress : [],
  });
}

function normalizeConstraints(constraints: CaNameConstraints): CaNameConstraints {
  const dns = constraints.dns.map((name) => name.toLowerCase().replace(/^\.+/, "").replace(/\.$/, "")).filter((name) => name !== "");
  return { dns: [...new Set(dns)], ips: constraints.ips };
}

function constraintsJson(constraints: CaNameConstraints): string {
  return `${JSON.stringify({ dns: constraints.dns, ips: constraints.ips.map((cidr) => cidr.text) }, null, 2)}\n`;
}

function readConstraints(path: string): CaNameConstraints | undefined {
  if (!existsSync(path)) return undefined;
  const problem = (what: string) =>
    invalid(`${path} ${what}`, `restore it, or delete the CA directory's ${CA_CERT_FILE} to generate a new CA`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    throw problem("is not valid JSON");
  }
  const { dns, ips } = (parsed ?? {}) as { dns?: unknown; ips?: unknown };
  if (!isStringList(dns) || !isStringList(ips)) throw problem(`must hold {"dns": [names], "ips": [CIDRs]}`);
  const cidrs = ips.map((text) => {
    const cidr = parseCidr(text);
    if ("problem" in cidr) throw problem(`has a bad CIDR: ${cidr.problem}`);
    return cidr;
  });
  return { dns, ips: cidrs };
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

/** RFC 5280 matching: a DNS constraint covers the name itself and every name below it. */
function permitted(constraints: CaNameConstraints, target: Pick<CanonicalTarget, "host" | "kind">): boolean {
  if (target.kind === "name") {
    return constraints.dns.some((base) => target.host === base || target.host.endsWith(`.${base}`));
  }
  const address = parseIp(target.host);
  return address !== undefined && constraints.ips.some((cidr) => cidrContains(cidr, address));
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

function invalid(message: string, hint: string): CredproxyError {
  return new CredproxyError(ErrorCode.ConfigInvalid, message, { hint });
}
