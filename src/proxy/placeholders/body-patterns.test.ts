import { describe, expect, test } from "bun:test";
import { bodyKind, formEncoded, headerScrubPatterns, requestPatterns, responsePatterns } from "./body-patterns.ts";
import { replaceAll } from "./window-matcher.ts";

const own = [{ placeholder: "cpx_own~1", real: 'se"cret +/=&' }];
const apply = (text: string, patterns: ReturnType<typeof requestPatterns>) => replaceAll(Buffer.from(text), patterns)?.toString();

describe("bodyKind", () => {
  test("names JSON, form and text types; everything else is binary; a content coding hides the body", () => {
    expect(bodyKind("application/json; charset=utf-8", undefined)).toBe("json");
    expect(bodyKind("application/vnd.api+json", "identity")).toBe("json");
    expect(bodyKind("Application/X-WWW-Form-Urlencoded", undefined)).toBe("form");
    expect(bodyKind("text/plain", "")).toBe("text");
    expect(bodyKind("application/octet-stream", undefined)).toBe("binary");
    expect(bodyKind(undefined, undefined)).toBe("binary");
    expect(bodyKind("application/json", "gzip")).toBe("encoded");
  });
});

describe("requestPatterns", () => {
  test("JSON: the real value goes in escaped, so the string still parses", () => {
    const body = apply(JSON.stringify({ key: "cpx_own~1" }), requestPatterns("json", own, []))!;
    expect(JSON.parse(body)).toEqual({ key: own[0]!.real });
  });

  test("form: the placeholder raw or percent-encoded in either case becomes the form-encoded real value", () => {
    const patterns = requestPatterns("form", own, []);
    for (const spelled of ["cpx_own~1", "cpx_own%7E1", "cpx_own%7e1"]) {
      expect(new URLSearchParams(apply(`a=1&key=${spelled}`, patterns)).get("key")).toBe(own[0]!.real);
    }
    expect(formEncoded("a b~!")).toBe("a+b%7E%21");
  });

  test("text: the real value as it is", () => {
    expect(apply("token cpx_own~1.", requestPatterns("text", own, []))).toBe(`token ${own[0]!.real}.`);
  });

  test("binary bodies are never rewritten, but another host's placeholder is still forbidden in them", () => {
    expect(requestPatterns("binary", own, [])).toEqual([]);
    expect(apply("x cpx_other%7E2 y", requestPatterns("binary", own, [{ placeholder: "cpx_other~2", reason: "placeholder-wrong-host" }]))).toBeUndefined();
  });

  test("an encoded body is not looked into", () => {
    expect(requestPatterns("encoded", own, [{ placeholder: "cpx_other", reason: "placeholder-wrong-host" }])).toEqual([]);
  });
});

describe("response scrubbing patterns", () => {
  test("the real value, raw, percent- or JSON-escaped, becomes its placeholder", () => {
    const json = responsePatterns("json", own);
    expect(apply(JSON.stringify({ echoed: own[0]!.real }), json)).toBe(JSON.stringify({ echoed: "cpx_own~1" }));
    expect(apply(`next=${encodeURIComponent(own[0]!.real)}`, json)).toBe(`next=${encodeURIComponent("cpx_own~1")}`);
    expect(apply(`raw ${own[0]!.real}`, responsePatterns("text", own))).toBe("raw cpx_own~1");
    expect(responsePatterns("binary", own)).toEqual([]);
  });

  test("header values: raw and percent-encoded", () => {
    const patterns = headerScrubPatterns(own);
    expect(apply(`https://x/cb?t=${encodeURIComponent(own[0]!.real)}`, patterns)).toBe(`https://x/cb?t=${encodeURIComponent("cpx_own~1")}`);
  });

  test("a real value too short to be told from ordinary text is not scrubbed", () => {
    expect(headerScrubPatterns([{ placeholder: "cpx_short", real: "abc" }])).toEqual([]);
  });
});
