import { describe, expect, test } from "bun:test";
import type { Problem } from "../../config/problems.ts";
import type { CredentialSpec } from "../config/proxy-config.ts";
import { parseHostPattern, type HostPattern } from "../host-pattern.ts";
import { relaySpecs } from "./relay-config.ts";

const credential = (name: string, host: string, allowPlaintext = false): CredentialSpec => ({
  name,
  hosts: [parseHostPattern(host) as HostPattern],
  header: "Authorization",
  value: { kind: "template", template: "Bearer x", files: [] },
  allowPlaintext,
  placeholder: undefined,
  requirePlaceholder: false,
  placeholderInBody: false,
  env: undefined,
});

const credentials = [credential("api", "api.example.com"), credential("local", "127.0.0.1:4000", true), credential("tls-only", "127.0.0.1:4001")];

function check(entries: { name: string; url: string; credential: string }[]): { names: string[]; problems: Problem[] } {
  const problems: Problem[] = [];
  return { names: relaySpecs(entries, "relays", credentials, problems).map((s) => s.name), problems };
}

describe("relaySpecs", () => {
  test("accepts an https URL on the credential's host and an http one whose credential allows plaintext", () => {
    const { names, problems } = check([
      { name: "api", url: "https://api.example.com/v1", credential: "api" },
      { name: "local-llm", url: "http://127.0.0.1:4000", credential: "local" },
    ]);
    expect(problems).toEqual([]);
    expect(names).toEqual(["api", "local-llm"]);
  });

  test("refuses each bad entry with the key path of the bad value", () => {
    const { names, problems } = check([
      { name: "api", url: "ftp://api.example.com", credential: "api" },
      { name: "api", url: "https://user:pw@api.example.com", credential: "api" },
      { name: "q", url: "https://api.example.com/x?key=1", credential: "api" },
      { name: "elsewhere", url: "https://other.example.com", credential: "api" },
      { name: "plain", url: "http://127.0.0.1:4001", credential: "tls-only" },
      { name: "typo", url: "https://api.example.com", credential: "apii" },
    ]);
    expect(names).toEqual([]);
    const at = problems.map((p) => p.path.join("."));
    expect(at).toEqual(["relays.0.url", "relays.1.name", "relays.1.url", "relays.2.url", "relays.3.credential", "relays.4.credential", "relays.5.credential"]);
    expect(problems[0]!.message).toContain("only http and https");
    expect(problems[2]!.message).toContain("userinfo");
    expect(problems[4]!.message).toContain("not bound to other.example.com:443");
    expect(problems[5]!.message).toContain("allow_plaintext");
    expect(problems[6]!.message).toContain('did you mean "api"?');
  });
});
