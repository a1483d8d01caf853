import { describe, expect, test } from "bun:test";
import { parseProxyConfigText } from "../config/load-proxy-config.ts";
import { containsPlaceholder, replacePlaceholder } from "./placeholder-text.ts";
import { headerHasPlaceholder, substituteHeader } from "./substitute-header.ts";
import { substituteTarget } from "./substitute-target.ts";
import { placeholderStep, type PlaceholderRequest } from "./placeholder-step.ts";

const P = "cpx_placeholder_Ab12Cd34";
const REAL = "real/Key+with=odd&chars";
const basic = (userinfo: string) => `Basic ${Buffer.from(userinfo).toString("base64")}`;
/** Every character of the placeholder percent-encoded, hex in lower case. */
const allEncoded = [...P].map((c) => `%${c.charCodeAt(0).toString(16)}`).join("");

describe("finding a placeholder", () => {
  test("matches raw, fully and partly percent-encoded spellings, hex in either case", () => {
    expect(containsPlaceholder(`/v1/${P}/x`, P)).toBe(true);
    expect(containsPlaceholder(`/v1/${allEncoded}`, P)).toBe(true);
    expect(containsPlaceholder(`/v1/%63px_placeholder_%41b12Cd34`, P)).toBe(true);
    expect(containsPlaceholder(`/v1/%63PX_placeholder_Ab12Cd34`, P)).toBe(false);
    expect(containsPlaceholder(`/v1/cpx_placeholder_Ab12Cd3`, P)).toBe(false);
  });

  test("replaces a raw spelling with the raw text and an encoded one with the encoded text", () => {
    expect(replacePlaceholder(`a ${P} b %63px_placeholder_Ab12Cd34`, P, "RAW", "ENC")).toBe("a RAW b ENC");
  });
});

describe("a placeholder in a header value", () => {
  test("a bearer token and a custom header get the value raw", () => {
    expect(substituteHeader(`Bearer ${P}`, P, REAL)).toBe(`Bearer ${REAL}`);
    expect(substituteHeader(P, P, REAL)).toBe(REAL);
    expect(substituteHeader("Bearer other", P, REAL)).toBe("Bearer other");
  });

  test("Basic credentials are decoded, the password or the user replaced, and encoded again", () => {
    expect(substituteHeader(basic(`x-access-token:${P}`), P, REAL)).toBe(basic(`x-access-token:${REAL}`));
    expect(substituteHeader(basic(`${P}:`), P, REAL)).toBe(basic(`${REAL}:`));
    expect(substituteHeader(`basic  ${Buffer.from(`u:${P}`).toString("base64")}`, P, REAL)).toBe(`basic  ${Buffer.from(`u:${REAL}`).toString("base64")}`);
    expect(headerHasPlaceholder(basic(`u:${P}`), P)).toBe(true);
    expect(headerHasPlaceholder(basic("u:ghp_realLookingKey"), P)).toBe(false);
  });

  test("a percent-encoded placeholder kept inside Basic credentials gets the value percent-encoded", () => {
    expect(substituteHeader(basic(`u:%63px_placeholder_Ab12Cd34`), P, REAL)).toBe(basic(`u:${encodeURIComponent(REAL)}`));
  });
});

describe("a placeholder in the path and query", () => {
  test("in the path the value is percent-encoded, so it cannot add a segment", () => {
    expect(substituteTarget(`/bot${P}/getMe`, P, "123:abc/def")).toBe("/bot123:abc%2Fdef/getMe");
  });

  test("in the query every character that would split a parameter is encoded", () => {
    expect(substituteTarget(`/v1/models?key=${P}&x=1`, P, REAL)).toBe("/v1/models?key=real%2FKey%2Bwith%3Dodd%26chars&x=1");
  });

  test("percent-encoded spellings in path and query are replaced too", () => {
    expect(substituteTarget(`/a/%63px_placeholder_Ab12Cd34?k=${allEncoded}`, P, "v")).toBe("/a/v?k=v");
  });

  test("a target without the placeholder is the same string", () => {
    const target = "/v1/%7Euser?q=%2Bplus";
    expect(substituteTarget(target, P, REAL)).toBe(target);
  });
});

describe("placeholderStep", () => {
  const tenant = parseProxyConfigText(
    [
      "credentials:",
      `  - {name: openai, host: api.openai.test, value: "${REAL}", placeholder: "${P}", require_placeholder: true}`,
      '  - {name: gh, host: github.test, value: "ghp_real", placeholder: "cpx_github_placeholder_9", header: X-Api-Key}',
      '  - {name: plain, host: api.openai.test, header: X-Other, value: "whole"}',
    ].join("\n"),
    "/t/proxy.yaml",
  ).defaultTenant;
  const request = (host: string, rawHeaders: string[], path = "/", plaintext = false): PlaceholderRequest => ({ target: { host, port: 443, authority: host }, plaintext, path, rawHeaders });

  test("a tenant without placeholders has nothing to do", () => {
    const none = parseProxyConfigText('credentials:\n  - {name: a, host: a.test, value: "v"}\n', "/t/proxy.yaml").defaultTenant;
    expect(placeholderStep(none, request("a.test", ["Authorization", `Bearer ${P}`])).kind).toBe("none");
  });

  test("at its own host the value replaces it in headers, path and query; other headers are untouched", () => {
    const step = placeholderStep(tenant, request("api.openai.test", ["Authorization", `Bearer ${P}`, "Host", "api.openai.test"], `/k/${P}?key=${P}`));
    if (step.kind !== "substitute") throw new Error(step.kind);
    expect(step.credentials.map((c) => c.name)).toEqual(["openai"]);
    const applied = step.apply([REAL]);
    expect(applied.rawHeaders).toEqual(["Authorization", `Bearer ${REAL}`, "Host", "api.openai.test"]);
    expect(applied.path).toBe(`/k/${encodeURIComponent(REAL)}?key=${encodeURIComponent(REAL)}`);
  });

  test("another credential's host, or an unbound host, is refused as placeholder-wrong-host", () => {
    for (const host of ["github.test", "echo.test"]) {
      const step = placeholderStep(tenant, request(host, ["X-Anything", P]));
      expect(step).toMatchObject({ kind: "refused", credential: "openai", refusal: { status: 403, code: "placeholder-wrong-host" } });
    }
    expect(placeholderStep(tenant, request("echo.test", [], `/?q=${allEncoded}`))).toMatchObject({ refusal: { code: "placeholder-wrong-host" } });
    expect(placeholderStep(tenant, request("echo.test", ["Authorization", basic(`u:${P}`)]))).toMatchObject({ refusal: { code: "placeholder-wrong-host" } });
  });

  test("require_placeholder refuses the header without it, and lets a request without the header pass", () => {
    expect(placeholderStep(tenant, request("api.openai.test", ["Authorization", "Bearer sk-smuggledRealKey"]))).toMatchObject({ refusal: { status: 403, code: "placeholder-missing" } });
    expect(placeholderStep(tenant, request("api.openai.test", ["Accept", "*/*"])).kind).toBe("none");
  });

  test("over plain http:// without allow_plaintext the placeholder is refused", () => {
    expect(placeholderStep(tenant, request("github.test", ["X-Api-Key", "cpx_github_placeholder_9"], "/", true))).toMatchObject({ refusal: { code: "placeholder-plaintext" } });
  });
});
