import { describe, expect, test } from "bun:test";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { parseIp } from "../net/ip-address.ts";
import { parseAuthority, type CanonicalTarget } from "./canonical-host.ts";
import { resolveDestination, type Lookup } from "./resolve-destination.ts";

function target(raw: string): CanonicalTarget {
  const parsed = parseAuthority(raw);
  if ("problem" in parsed) throw new Error(parsed.problem);
  return parsed;
}
const cidr = (text: string): Cidr => {
  const parsed = parseCidr(text);
  if ("problem" in parsed) throw new Error(parsed.problem);
  return parsed;
};

/** A lookup that answers from a table and records every name it was asked. */
function fakeLookup(table: Record<string, readonly string[]>): Lookup & { asked: string[] } {
  const asked: string[] = [];
  const lookup = async (host: string) => {
    asked.push(host);
    const answers = table[host];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return answers;
  };
  return Object.assign(lookup, { asked });
}

const texts = (result: Awaited<ReturnType<typeof resolveDestination>>) => (result.ok ? result.addresses.map((a) => a.text) : result);

describe("resolveDestination()", () => {
  test("public answers are returned in answer order, parsed", async () => {
    const lookup = fakeLookup({ "api.example.invalid": ["2606:4700::1", "8.8.8.8"] });
    const result = await resolveDestination(target("api.example.invalid:443"), { lookup, allow: [], self: [] });
    expect(texts(result)).toEqual(["2606:4700::1", "8.8.8.8"]);
  });

  test("a mix of allowed and refused answers keeps only the allowed ones", async () => {
    const lookup = fakeLookup({ "api.example.invalid": ["10.0.0.5", "8.8.4.4", "169.254.169.254", "1.1.1.1"] });
    const result = await resolveDestination(target("api.example.invalid:443"), { lookup, allow: [], self: [] });
    expect(texts(result)).toEqual(["8.8.4.4", "1.1.1.1"]);
  });

  test("only refused answers give address-refused naming each address and class", async () => {
    const lookup = fakeLookup({ "api.example.invalid": ["10.0.0.5", "::1", "64:ff9b::a9fe:a9fe"] });
    const result = await resolveDestination(target("api.example.invalid:443"), { lookup, allow: [], self: [] });
    expect(result).toEqual({
      ok: false,
      code: "address-refused",
      reason: "api.example.invalid resolves only to refused addresses: 10.0.0.5 (private), ::1 (loopback), 64:ff9b::a9fe:a9fe (metadata)",
    });
  });

  test("an allow range lets a private answer through", async () => {
    const lookup = fakeLookup({ "db.example.invalid": ["10.20.0.7", "10.30.0.7"] });
    const result = await resolveDestination(target("db.example.invalid:5432"), { lookup, allow: [cidr("10.20.0.0/16")], self: [] });
    expect(texts(result)).toEqual(["10.20.0.7"]);
  });

  test("a name resolving to the proxy itself on its port is refused even when allowed", async () => {
    const lookup = fakeLookup({ "loop.example.invalid": ["127.0.0.1"] });
    const self = [{ address: parseIp("127.0.0.1")!, port: 3128 }];
    const result = await resolveDestination(target("loop.example.invalid:3128"), { lookup, allow: [cidr("127.0.0.0/8")], self });
    expect(result).toEqual({
      ok: false,
      code: "address-refused",
      reason: "loop.example.invalid resolves only to refused addresses: 127.0.0.1 (self)",
    });
  });

  test("malformed and zone-scoped answers are refused, never dialled", async () => {
    const lookup = fakeLookup({ "odd.example.invalid": ["fe80::1%eth0", "not-an-ip"] });
    const result = await resolveDestination(target("odd.example.invalid:443"), { lookup, allow: [cidr("::/0")], self: [] });
    expect(result).toMatchObject({ ok: false, code: "address-refused" });
    expect((result as { reason: string }).reason).toContain('"fe80::1%eth0" (malformed)');
  });

  test("the name is resolved exactly once, so a rebinding resolver has no second answer to give", async () => {
    let calls = 0;
    const rebinding: Lookup = async () => (++calls === 1 ? ["8.8.8.8"] : ["127.0.0.1"]);
    const result = await resolveDestination(target("rebind.example.invalid:443"), { lookup: rebinding, allow: [], self: [] });
    expect(texts(result)).toEqual(["8.8.8.8"]);
    expect(calls).toBe(1);
  });

  test("IP literals are checked without any lookup", async () => {
    const lookup = fakeLookup({});
    expect(texts(await resolveDestination(target("8.8.8.8:443"), { lookup, allow: [], self: [] }))).toEqual(["8.8.8.8"]);
    expect(await resolveDestination(target("127.1:443"), { lookup, allow: [], self: [] })).toEqual({
      ok: false,
      code: "address-refused",
      reason: "127.0.0.1:443 is refused: 127.0.0.1 is a loopback address (loopback 127.0.0.0/8)",
    });
    expect(texts(await resolveDestination(target("[::1]:8080"), { lookup, allow: [cidr("::1")], self: [] }))).toEqual(["::1"]);
    expect(lookup.asked).toEqual([]);
  });

  test("a resolver failure is resolve-failed with its code", async () => {
    const result = await resolveDestination(target("notarealhost.invalid:443"), { lookup: fakeLookup({}), allow: [], self: [] });
    expect(result).toEqual({ ok: false, code: "resolve-failed", reason: "could not resolve notarealhost.invalid: ENOTFOUND" });
  });

  test("an empty answer is resolve-failed", async () => {
    const result = await resolveDestination(target("empty.example.invalid:443"), {
      lookup: fakeLookup({ "empty.example.invalid": [] }),
      allow: [],
      self: [],
    });
    expect(result).toMatchObject({ ok: false, code: "resolve-failed" });
  });

  test("a lookup that never answers is resolve-timeout", async () => {
    const never: Lookup = () => new Promise(() => {});
    const result = await resolveDestination(target("slow.example.invalid:443"), { lookup: never, allow: [], self: [], timeoutMs: 20 });
    expect(result).toEqual({ ok: false, code: "resolve-timeout", reason: "resolving slow.example.invalid took longer than 20 ms" });
  });

  test("a lookup that fails after the timeout does not surface as an unhandled rejection", async () => {
    let fail: (error: Error) => void = () => {};
    const late: Lookup = () => new Promise((_, reject) => (fail = reject));
    const result = await resolveDestination(target("late.example.invalid:443"), { lookup: late, allow: [], self: [], timeoutMs: 10 });
    expect(result).toMatchObject({ code: "resolve-timeout" });
    fail(new Error("too late"));
    await Promise.resolve();
  });

  test("the lookup is asked the canonical name", async () => {
    const lookup = fakeLookup({ "api.example.invalid": ["8.8.8.8"] });
    await resolveDestination(target("API.Example.INVALID.:443"), { lookup, allow: [], self: [] });
    expect(lookup.asked).toEqual(["api.example.invalid"]);
  });
});
