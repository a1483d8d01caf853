import { describe, expect, test } from "bun:test";
import { parseHostPattern, type HostPattern } from "./host-pattern.ts";
import { hasCredentialFor, selectCredentials } from "./select-credentials.ts";

const pattern = (text: string): HostPattern => {
  const p = parseHostPattern(text);
  if ("problem" in p) throw new Error(p.problem);
  return p;
};
const cred = (name: string, hosts: string[], header = "Authorization", allowPlaintext = false) => ({ name, hosts: hosts.map(pattern), header, allowPlaintext });
const names = (list: { name: string }[]) => list.map((c) => c.name).sort();

describe("which credentials a request carries", () => {
  const github = cred("github", ["api.github.com"]);
  const content = cred("content", ["*.githubusercontent.com"]);
  test("a credential goes only to a host its own patterns match", () => {
    expect(names(selectCredentials([github, content], { host: "api.github.com", port: 443, plaintext: false }))).toEqual(["github"]);
    expect(names(selectCredentials([github, content], { host: "raw.githubusercontent.com", port: 443, plaintext: false }))).toEqual(["content"]);
    expect(selectCredentials([github, content], { host: "gist.github.com", port: 443, plaintext: false })).toEqual([]);
  });
  test("a wildcard binding never covers the apex, nor another name for the same address", () => {
    expect(selectCredentials([content], { host: "githubusercontent.com", port: 443, plaintext: false })).toEqual([]);
    expect(selectCredentials([github], { host: "api.github.com.nip.io", port: 443, plaintext: false })).toEqual([]);
    expect(selectCredentials([cred("local", ["127.0.0.1:8443"])], { host: "localhost", port: 8443, plaintext: false })).toEqual([]);
  });
  test("a binding without a port holds for 80 and 443 only", () => {
    expect(selectCredentials([github], { host: "api.github.com", port: 8443, plaintext: false })).toEqual([]);
  });
  test("plain http carries only credentials that allow it", () => {
    const plain = cred("plain", ["api.github.com"], "X-Token", true);
    expect(names(selectCredentials([github, plain], { host: "api.github.com", port: 80, plaintext: true }))).toEqual(["plain"]);
  });
  test("on a shared header the more specific binding wins, whatever the order", () => {
    const broad = cred("a-broad", ["*.example.invalid"]);
    const exact = cred("z-exact", ["api.example.invalid"]);
    const target = { host: "api.example.invalid", port: 443, plaintext: false };
    expect(names(selectCredentials([broad, exact], target))).toEqual(["z-exact"]);
    expect(names(selectCredentials([exact, broad], target))).toEqual(["z-exact"]);
    const deeper = cred("deeper", ["*.api.example.invalid"]);
    expect(names(selectCredentials([broad, deeper], { host: "v1.api.example.invalid", port: 443, plaintext: false }))).toEqual(["deeper"]);
  });
  test("equal bindings on one header go to the name that sorts first, in either order", () => {
    const one = cred("one", ["api.example.invalid"]);
    const two = cred("two", ["api.example.invalid"]);
    const target = { host: "api.example.invalid", port: 443, plaintext: false };
    expect(names(selectCredentials([two, one], target))).toEqual(["one"]);
    expect(names(selectCredentials([one, two], target))).toEqual(["one"]);
  });
  test("credentials on different headers are all sent", () => {
    const key = cred("key", ["api.example.invalid"], "x-api-key");
    const auth = cred("auth", ["api.example.invalid"]);
    expect(names(selectCredentials([key, auth], { host: "api.example.invalid", port: 443, plaintext: false }))).toEqual(["auth", "key"]);
  });
  test("a host is intercepted when some credential is bound to it", () => {
    expect(hasCredentialFor([github], { host: "api.github.com", port: 443 })).toBe(true);
    expect(hasCredentialFor([github], { host: "github.com", port: 443 })).toBe(false);
  });
});
