import { describe, expect, test } from "bun:test";
import { dnsErrorResponse, dnsOpcode, DnsRcode, parseDnsQuestion, type DnsQuestion } from "./dns-question.ts";
import { parseDnsZone, zoneMatcher } from "./dns-zones.ts";

/** A query for `name` (type A, RD set) with id 0x1234, as a stub resolver sends it. */
function query(name: string, extra: number[] = []): Uint8Array {
  const labels = name === "" ? [] : name.split(".").flatMap((l) => [l.length, ...new TextEncoder().encode(l)]);
  return new Uint8Array([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1, ...extra]);
}

function header(rest: number[], questions = 1): Uint8Array {
  return new Uint8Array([0, 7, 0x01, 0x00, 0, questions, 0, 0, 0, 0, 0, 0, ...rest]);
}

const problem = (bytes: Uint8Array): string => {
  const result = parseDnsQuestion(bytes);
  if (!("problem" in result)) throw new Error(`parsed: ${JSON.stringify(result)}`);
  return result.problem;
};

describe("parseDnsQuestion()", () => {
  test("reads id, flags, the name in lower case, type and class", () => {
    const bytes = query("DB.Internal.corp");
    expect(parseDnsQuestion(bytes)).toEqual({ id: 0x1234, flags: 0x0100, name: "db.internal.corp", type: 1, class: 1, questionEnd: bytes.length });
  });

  test("the root name is the empty string; an EDNS record after the question is not read", () => {
    expect((parseDnsQuestion(query("")) as DnsQuestion).name).toBe("");
    const withOpt = query("a.b", [0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    expect((parseDnsQuestion(withOpt) as DnsQuestion).questionEnd).toBe(query("a.b").length);
  });

  test("a dot or a space inside a label is escaped, so it cannot fake a zone boundary", () => {
    const bytes = header([10, ...new TextEncoder().encode("evil.inter"), 4, ...new TextEncoder().encode("corp"), 0, 0, 1, 0, 1]);
    expect((parseDnsQuestion(bytes) as DnsQuestion).name).toBe("evil\\046inter.corp");
  });

  test("refuses short messages, responses and question counts other than one", () => {
    expect(problem(new Uint8Array(11))).toContain("shorter than a DNS header");
    const response = query("a.b");
    response[2] = 0x81;
    expect(problem(response)).toContain("a response");
    expect(problem(header([0, 0, 1, 0, 1], 0))).toContain("0 questions");
    expect(problem(header([0, 0, 1, 0, 1], 2))).toContain("2 questions");
  });

  test("refuses names cut off, labels too long, names too long, and bad label types", () => {
    expect(problem(header([3, 97, 98]))).toContain("past the end");
    expect(problem(header([5, 97]))).toContain("past the end");
    expect(problem(header([64, ...Array(64).fill(97), 0, 0, 1, 0, 1]))).toContain("label type");
    const long = Array.from({ length: 5 }, () => [63, ...Array(63).fill(97)]).flat();
    expect(problem(header([...long, 0, 0, 1, 0, 1]))).toContain("longer than 255");
    expect(problem(header([0x40, 0, 0, 1, 0, 1]))).toContain("label type");
    expect(problem(header([0x80, 0, 0, 1, 0, 1]))).toContain("label type");
    expect(problem(header([1, 97, 0, 0, 1]))).toContain("type and class");
  });

  test("compression pointers: to itself, forwards, into the header, or cut off are refused; loops are impossible", () => {
    // 12: a pointer to 12 (itself).
    expect(problem(header([0xc0, 12, 0, 1, 0, 1]))).toContain("backwards");
    // 12: "a" then a pointer to 12 (a loop back to the start).
    expect(problem(header([1, 97, 0xc0, 12, 0, 1, 0, 1]))).toContain("backwards");
    // A pointer forwards.
    expect(problem(header([0xc0, 20, 0, 1, 0, 1, 0, 0, 1, 97, 0]))).toContain("backwards");
    expect(problem(header([0xc0, 2, 0, 1, 0, 1]))).toContain("into the header");
    expect(problem(header([1, 97, 0xc0]))).toContain("cut off");
    // Every byte pattern of a 2-byte pointer ends, with an answer or a problem.
    for (let hi = 0xc0; hi <= 0xff; hi++) for (let lo = 0; lo <= 0xff; lo += 7) parseDnsQuestion(header([1, 97, hi, lo, 0, 1, 0, 1]));
  });

  test("random bytes never throw", () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 5000; i++) {
      const bytes = new Uint8Array(12 + (next() % 80)).map(() => next());
      bytes[2] = bytes[2]! & 0x7f;
      bytes[4] = 0;
      bytes[5] = 1;
      expect(() => parseDnsQuestion(bytes)).not.toThrow();
    }
  });

  test("dnsOpcode() reads the opcode bits", () => {
    expect(dnsOpcode(0x0100)).toBe(0);
    expect(dnsOpcode(0x2800)).toBe(5);
  });
});

describe("dnsErrorResponse()", () => {
  test("REFUSED keeps id, opcode and RD, sets QR and echoes the question", () => {
    const bytes = query("example.invalid");
    const question = parseDnsQuestion(bytes) as DnsQuestion;
    const out = dnsErrorResponse(bytes, DnsRcode.Refused, question);
    expect([...out.subarray(0, 12)]).toEqual([0x12, 0x34, 0x81, 0x05, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect([...out.subarray(12)]).toEqual([...bytes.subarray(12)]);
  });

  test("FORMERR for an unparsed query has no question", () => {
    const out = dnsErrorResponse(new Uint8Array([9, 9, 0x29, 0, 0, 3, 0, 0, 0, 0, 0, 0, 1]), DnsRcode.FormErr);
    expect([...out]).toEqual([9, 9, 0xa9, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe("parseDnsZone() and zoneMatcher()", () => {
  test("zones are lowered, a trailing dot dropped; bad ones say why", () => {
    expect(parseDnsZone("Internal.Corp.")).toEqual({ zone: "internal.corp" });
    expect(parseDnsZone("compute.internal")).toEqual({ zone: "compute.internal" });
    expect(parseDnsZone(".")).toEqual({ problem: expect.stringContaining("root zone") });
    expect(parseDnsZone("a..b")).toEqual({ problem: expect.stringContaining("empty label") });
    expect(parseDnsZone("-a.corp")).toEqual({ problem: expect.stringContaining('"-a"') });
    expect(parseDnsZone("a b.corp")).toEqual({ problem: expect.stringContaining("letters, digits") });
    expect(parseDnsZone(`${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}`)).toEqual({ problem: "longer than 253 characters" });
  });

  test("a zone matches itself and names below it, by whole labels", () => {
    const matches = zoneMatcher(["internal.corp", "compute.internal"]);
    expect(["internal.corp", "db.internal.corp", "ip-10-0-0-1.eu-west-1.compute.internal"].every(matches)).toBe(true);
    expect(["notinternal.corp", "corp", "example.invalid", "internal.corp.evil.example", "evil\\046internal.corp"].some(matches)).toBe(false);
  });
});
