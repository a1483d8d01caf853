/**
 * The placeholder step of a forwarded request, before anything leaves the proxy. For each
 * placeholder of the tenant that the request carries (a header value, Basic credentials, the
 * path or the query, in any spelling):
 *
 * - at one of its credential's hosts (and inside TLS, unless allow_plaintext) the value takes
 *   its place;
 * - at any other host the request is refused, 403 placeholder-wrong-host: a placeholder is
 *   never forwarded where its value does not belong, so it cannot be bounced back from
 *   another credential's echo endpoint, nor a sandbox learn where the proxy would put it;
 * - over plain http:// to its own host without allow_plaintext: 403 placeholder-plaintext.
 *
 * And a credential with require_placeholder refuses (403 placeholder-missing) a request to its
 * hosts whose header is there without the placeholder: a key the sandbox should not have.
 * The request's own text is not changed: logs keep the placeholder.
 */
import type { CredentialSpec, Tenant } from "../config/proxy-config.ts";
import { hostPatternMatches, type HostTarget } from "../host-pattern.ts";
import type { Refusal } from "../refusal.ts";
import { containsPlaceholder } from "./placeholder-text.ts";
import { headerHasPlaceholder, substituteHeader } from "./substitute-header.ts";
import { substituteTarget } from "./substitute-target.ts";
import { tenantPlaceholders, type TenantPlaceholder } from "./tenant-placeholders.ts";

export interface PlaceholderRequest {
  readonly target: HostTarget & { readonly authority: string };
  readonly plaintext: boolean;
  /** Origin-form, as sent. */
  readonly path: string;
  /** Flat name/value list, as sent (node's rawHeaders). */
  readonly rawHeaders: readonly string[];
}

export type PlaceholderStep =
  /** Nothing to do: forward as sent. */
  | { readonly kind: "none" }
  | { readonly kind: "refused"; readonly refusal: Refusal; readonly credential: string }
  /** The credentials whose values are needed, and what the request becomes with them. */
  | { readonly kind: "substitute"; readonly credentials: readonly CredentialSpec[]; apply(values: readonly string[]): { path: string; rawHeaders: string[] } };

const NONE: PlaceholderStep = { kind: "none" };

export function placeholderStep(tenant: Pick<Tenant, "credentials">, request: PlaceholderRequest): PlaceholderStep {
  const placeholders = tenantPlaceholders(tenant);
  if (placeholders.length === 0) return NONE;
  const found: TenantPlaceholder[] = [];
  for (const entry of placeholders) {
    const bound = entry.credential.hosts.some((p) => hostPatternMatches(p, request.target));
    if (bound && entry.credential.requirePlaceholder && lacksPlaceholder(entry, request.rawHeaders)) return refused(entry, missing(entry.credential, request.target.authority));
    if (!carries(entry.placeholder, request)) continue;
    if (!bound) return refused(entry, wrongHost(entry.credential, request.target.authority));
    if (request.plaintext && !entry.credential.allowPlaintext) return refused(entry, plaintext(entry.credential));
    found.push(entry);
  }
  if (found.length === 0) return NONE;
  return {
    kind: "substitute",
    credentials: found.map((f) => f.credential),
    apply: (values) => substitute(found, values, request),
  };
}

function carries(placeholder: string, request: PlaceholderRequest): boolean {
  if (containsPlaceholder(request.path, placeholder)) return true;
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) if (scanned(raw[i]!) && headerHasPlaceholder(raw[i + 1]!, placeholder)) return true;
  return false;
}

/** The credential's header is present and one of its values lacks the placeholder. */
function lacksPlaceholder(entry: TenantPlaceholder, raw: readonly string[]): boolean {
  const header = entry.credential.header.toLowerCase();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.length === header.length && raw[i]!.toLowerCase() === header && !headerHasPlaceholder(raw[i + 1]!, entry.placeholder)) return true;
  }
  return false;
}

function substitute(found: readonly TenantPlaceholder[], values: readonly string[], request: PlaceholderRequest): { path: string; rawHeaders: string[] } {
  let path = request.path;
  const rawHeaders = [...request.rawHeaders];
  found.forEach(({ placeholder }, k) => {
    const real = values[k]!;
    path = substituteTarget(path, placeholder, real);
    for (let i = 1; i < rawHeaders.length; i += 2) if (scanned(rawHeaders[i - 1]!)) rawHeaders[i] = substituteHeader(rawHeaders[i]!, placeholder, real);
  });
  return { path, rawHeaders };
}

/** HTTP/2 pseudo-headers repeat the request line (the path is read as the target), and Proxy-Authorization never leaves. */
function scanned(name: string): boolean {
  return !name.startsWith(":") && name.toLowerCase() !== "proxy-authorization";
}

function refused(entry: TenantPlaceholder, refusal: Refusal): PlaceholderStep {
  return { kind: "refused", refusal, credential: entry.credential.name };
}

function wrongHost(credential: CredentialSpec, authority: string): Refusal {
  return {
    status: 403,
    code: "placeholder-wrong-host",
    message: `credproxy refused the request: it carries the placeholder of credential "${credential.name}", which stands for a secret of ${credential.hosts.map((h) => h.text).join(", ")}, not of ${authority}. A placeholder goes only to its credential's hosts.`,
  };
}

function plaintext(credential: CredentialSpec): Refusal {
  return {
    status: 403,
    code: "placeholder-plaintext",
    message: `credproxy refused the request: it carries the placeholder of credential "${credential.name}" over plain http://, and that credential is sent only inside TLS. Use https://, or set allow_plaintext: true on it.`,
  };
}

function missing(credential: CredentialSpec, authority: string): Refusal {
  return {
    status: 403,
    code: "placeholder-missing",
    message: `credproxy refused the request: its ${credential.header} header for ${authority} does not carry the placeholder of credential "${credential.name}" (require_placeholder). Use the placeholder \`credproxy proxy env\` prints, not a key of your own.`,
  };
}
