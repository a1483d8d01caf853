/**
 * Grants: named host sets a run can be given instead of spelling out hosts. In strict policy
 * a grant's hosts are allowed as if they were in the allow list. The sets are kept to what
 * the named tool needs (git + gh for github, the registry clients for npm, pypi, crates…)
 * so that a grant does not quietly open a whole provider.
 *
 * docs/proxy-grants.md lists the same table; grants.test.ts fails if the two drift apart.
 */
import { parseHostPattern, type HostPattern } from "./host-pattern.ts";

export const GRANTS: Readonly<Record<string, readonly string[]>> = {
  github: ["github.com", "api.github.com", "*.github.com", "*.githubusercontent.com"],
  gitlab: ["gitlab.com", "registry.gitlab.com"],
  anthropic: ["api.anthropic.com"],
  openai: ["api.openai.com"],
  "google-ai": ["generativelanguage.googleapis.com"],
  huggingface: ["huggingface.co", "*.huggingface.co", "*.hf.co"],
  npm: ["registry.npmjs.org"],
  pypi: ["pypi.org", "files.pythonhosted.org"],
  crates: ["crates.io", "index.crates.io", "static.crates.io"],
  go: ["proxy.golang.org", "sum.golang.org"],
  "docker-hub": ["registry-1.docker.io", "auth.docker.io", "index.docker.io", "production.cloudflare.docker.com"],
};

export const GRANT_DESCRIPTIONS: Readonly<Record<string, string>> = {
  github: "git over HTTPS, the gh CLI and the REST/GraphQL API, raw files, release and archive downloads",
  gitlab: "git over HTTPS, the GitLab API and the GitLab container registry",
  anthropic: "the Anthropic API",
  openai: "the OpenAI API",
  "google-ai": "the Gemini API (Google AI Studio)",
  huggingface: "the Hugging Face Hub API and its file and LFS/Xet download hosts",
  npm: "the public npm registry (metadata and tarballs)",
  pypi: "the Python Package Index (simple index, JSON API and package files)",
  crates: "crates.io: the sparse index, the API and crate downloads",
  go: "the Go module proxy and checksum database",
  "docker-hub": "pulling images from Docker Hub: registry, token service and blob CDN",
};

/** Every grant name, for did-you-mean suggestions when a config names an unknown one. */
export const GRANT_NAMES: readonly string[] = Object.keys(GRANTS);

const PARSED: ReadonlyMap<string, readonly HostPattern[]> = new Map(
  Object.entries(GRANTS).map(([name, hosts]) => [name, hosts.map((text) => parseGrantHost(name, text))]),
);

function parseGrantHost(name: string, text: string): HostPattern {
  const parsed = parseHostPattern(text);
  if ("problem" in parsed) throw new Error(`built-in grant ${name} has a bad host: ${parsed.problem}`);
  return parsed;
}

/** The hosts of a grant; `github:repo` (a scoped grant) looks up `github`. Unknown: undefined. */
export function grantHosts(name: string): readonly HostPattern[] | undefined {
  const colon = name.indexOf(":");
  return PARSED.get(colon < 0 ? name : name.slice(0, colon));
}
