/**
 * The `relays:` and `mcp:` entries of a tenant: a name the sandbox asks for
 * (`/relay/NAME/…`, `/mcp/NAME`), the URL the proxy forwards to, and the credential (one of
 * the tenant's own value/command credentials) it injects there. Checked at load, with key
 * paths: names are `[a-z0-9-]+` and unique per list; URLs are http(s) with a host, no
 * userinfo, query or fragment; the credential exists, is bound to the URL's host and port
 * (relaying must not widen where a credential may go), and allows plaintext for an http:// URL.
 */
import type { Problem } from "../../config/problems.ts";
import { closest } from "../../config/problems.ts";
import type { KeyPath } from "../../config/key-path.ts";
import { parseAuthority, type CanonicalTarget } from "../canonical-host.ts";
import { hostPatternMatches } from "../host-pattern.ts";
import type { CredentialSpec, RelaySpec } from "../config/proxy-config.ts";

export interface RawRelay {
  readonly name: string;
  readonly url: string;
  readonly credential: string;
}

export const RELAY_NAME = /^[a-z0-9](?:[a-z0-9-]{0,62})$/;

/** The entries of one list (`relays` or `mcp`) that pass; problems are appended. */
export function relaySpecs(raw: readonly RawRelay[], key: "relays" | "mcp", credentials: readonly CredentialSpec[], problems: Problem[]): RelaySpec[] {
  const seen = new Set<string>();
  const out: RelaySpec[] = [];
  raw.forEach((entry, i) => {
    const path: KeyPath = [key, i];
    const before = problems.length;
    if (seen.has(entry.name)) problems.push({ path: [...path, "name"], at: "value", message: `another entry of ${key} is already named "${entry.name}"; names must be unique (they are the path the sandbox asks for)` });
    seen.add(entry.name);
    const target = relayUrl(entry.url, [...path, "url"], problems);
    const credential = credentials.find((c) => c.name === entry.credential);
    if (credential === undefined) {
      const near = closest(entry.credential, credentials.map((c) => c.name));
      problems.push({ path: [...path, "credential"], at: "value", message: `names no credential with value: or command: in this file${near ? `; did you mean "${near}"?` : ""} (an aws: credential re-signs and cannot be relayed)` });
    } else if (target !== undefined) {
      bindingProblems(credential, target, [...path, "credential"], problems);
    }
    if (problems.length === before) out.push({ name: entry.name, url: target!.url, target: target!.target, credential: credential! });
  });
  return out;
}

function relayUrl(text: string, path: KeyPath, problems: Problem[]): { url: URL; target: CanonicalTarget } | undefined {
  const fail = (why: string) => void problems.push({ path, at: "value", message: `${why}; write it as https://host[:port][/path]` });
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail("is not a URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return fail(`has scheme ${url.protocol.slice(0, -1)}, and only http and https can be relayed`);
  if (url.username !== "" || url.password !== "") return fail("holds userinfo (user:password@), which would be a secret in the config's URL; put the secret in a credential instead");
  if (url.search !== "" || url.hash !== "" || text.includes("?") || text.includes("#")) return fail("has a query or fragment; the sandbox's own query is appended to the URL");
  const target = parseAuthority(url.host, { defaultPort: url.protocol === "https:" ? 443 : 80 });
  if ("problem" in target) return fail(`has a host the proxy cannot use: ${target.problem}`);
  return { url, target };
}

function bindingProblems(credential: CredentialSpec, target: { url: URL; target: CanonicalTarget }, path: KeyPath, problems: Problem[]): void {
  if (!credential.hosts.some((p) => hostPatternMatches(p, target.target))) {
    problems.push({
      path,
      at: "value",
      message: `credential "${credential.name}" is not bound to ${target.target.authority} (its host: ${credential.hosts.map((h) => h.text).join(", ")}); add ${target.target.authority} to its host, since a relay never sends a credential where it is not bound`,
    });
  }
  if (target.url.protocol === "http:" && !credential.allowPlaintext) {
    problems.push({ path, at: "value", message: `credential "${credential.name}" would go over plain http:// to ${target.target.authority}; set allow_plaintext: true on it, or use an https:// URL` });
  }
}
