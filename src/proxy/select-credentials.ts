/**
 * Which credentials a request gets. A credential is bound to its own host patterns: it goes
 * only to a canonical host one of them matches, whatever the policy allows (the policy decides
 * whether a request may leave; this decides what it may carry). Over plain http:// only a
 * credential that says allow_plaintext is sent.
 *
 * When two credentials match and set the same header, the more specific binding wins, the same
 * way whatever order the config lists them in: an exact host beats a wildcard, a longer
 * wildcard suffix beats a shorter one, a pattern with a port beats one without; a tie goes to
 * the name that sorts first.
 *
 * A credential with a placeholder sets no header: its value replaces the placeholder where
 * the request carries it (placeholders/placeholder-step.ts), so it is never chosen here.
 */
import { hostPatternMatches, type HostPattern, type HostTarget } from "./host-pattern.ts";

export interface BoundCredential {
  readonly name: string;
  readonly hosts: readonly HostPattern[];
  /** Header name, any case. */
  readonly header: string;
  readonly allowPlaintext: boolean;
  readonly placeholder?: string | undefined;
}

export interface CredentialRequest extends HostTarget {
  /** True for a plain-HTTP request (absolute-form http://, or HTTP inside a CONNECT tunnel). */
  readonly plaintext: boolean;
}

/** One credential per header at most, each bound to the target. */
export function selectCredentials<C extends BoundCredential>(credentials: readonly C[], request: CredentialRequest): C[] {
  const best = new Map<string, { credential: C; rank: number }>();
  for (const credential of credentials) {
    if ((request.plaintext && !credential.allowPlaintext) || credential.placeholder !== undefined) continue;
    const rank = bindingRank(credential, request);
    if (rank === undefined) continue;
    const header = credential.header.toLowerCase();
    const current = best.get(header);
    if (!current || rank > current.rank || (rank === current.rank && credential.name < current.credential.name)) best.set(header, { credential, rank });
  }
  return [...best.values()].map((b) => b.credential);
}

/** Whether any credential is bound to this host on this port (decides interception). */
export function hasCredentialFor(credentials: readonly Pick<BoundCredential, "hosts">[], target: HostTarget): boolean {
  return credentials.some((c) => c.hosts.some((p) => hostPatternMatches(p, target)));
}

/** The best rank among the credential's patterns that match; undefined when none does. */
function bindingRank(credential: BoundCredential, target: HostTarget): number | undefined {
  let rank: number | undefined;
  for (const pattern of credential.hosts) {
    if (!hostPatternMatches(pattern, target)) continue;
    const r = (pattern.wildcard ? 0 : 1_000_000) + pattern.host.length * 2 + (pattern.port === undefined ? 0 : 1);
    rank = rank === undefined ? r : Math.max(rank, r);
  }
  return rank;
}
