/**
 * The CA bundle handed to a sandbox (SSL_CERT_FILE, AWS_CA_BUNDLE, REQUESTS_CA_BUNDLE,
 * NODE_EXTRA_CA_CERTS): the proxy CA plus the usual public roots, because those variables
 * replace a client's trust store rather than add to it, and traffic the proxy does not
 * intercept must still verify. Each certificate appears once.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { rootCertificates } from "node:tls";
import { writeFileAtomic } from "./atomic-file.ts";

export interface TrustBundleOptions {
  /** A PEM bundle of the system's roots, added when readable. Default /etc/ssl/certs/ca-certificates.crt. */
  readonly systemBundlePath?: string | undefined;
}

const DEFAULT_SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Our CA first, then the runtime's roots, then the system bundle's, de-duplicated by content. */
export function trustBundleText(caPem: string, options: TrustBundleOptions = {}): string {
  const seen = new Set<string>();
  const blocks: string[] = [];
  for (const source of [caPem, ...rootCertificates, systemBundle(options.systemBundlePath ?? DEFAULT_SYSTEM_BUNDLE)]) {
    for (const block of source.match(PEM_BLOCK) ?? []) {
      const body = block.replace(/-----[^-]+-----|\s/g, "");
      if (seen.has(body)) continue;
      seen.add(body);
      blocks.push(normalize(body));
    }
  }
  return blocks.join("");
}

/** Writes the bundle atomically, mode 0644 (it holds no secret); returns `path`. */
export function writeTrustBundle(path: string, caPem: string, options: TrustBundleOptions = {}): string {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  writeFileAtomic(path, trustBundleText(caPem, options), 0o644);
  return path;
}

function systemBundle(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return ""; // no system bundle (a scratch image): the runtime's roots still cover the public CAs
  }
}

function normalize(base64: string): string {
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}
