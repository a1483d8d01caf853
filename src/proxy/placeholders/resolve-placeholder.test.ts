import { describe, expect, test } from "bun:test";
import { formatError } from "../../errors.ts";
import { parseProxyConfigText, parseRunText } from "../config/load-proxy-config.ts";
import { tenantPlaceholders } from "./tenant-placeholders.ts";

const env = { OPENAI: "sk-realOpenAiSecret9Qm4Xr7Lz2Wk8" };
const file = "/etc/credproxy/proxy.yaml";
const load = (credentials: string, top = "") => parseProxyConfigText(`${top}credentials:\n${credentials}`, file, { env });
const problemsOf = (credentials: string, top = "") => {
  try {
    load(credentials, top);
  } catch (error) {
    return formatError(error);
  }
  throw new Error("accepted");
};
const openai = (extra: string) => `  - {name: openai, host: api.openai.com, value: "\${fromEnv:OPENAI}", ${extra}}\n`;
const RUN_TOKEN = "run-token-Qm4Xr7Lz2Wk8Tn5Vb3Jc6Hd";

describe("placeholder: in the proxy config", () => {
  test("a literal placeholder, require_placeholder and env are resolved onto the credential; bodies stay out unless placeholder_in_body", () => {
    const [c] = load(openai('placeholder: "cpx_openai_placeholder_0001", require_placeholder: true, env: OPENAI_API_KEY')).defaultTenant.credentials;
    expect(c).toMatchObject({ placeholder: "cpx_openai_placeholder_0001", requirePlaceholder: true, placeholderInBody: false, env: "OPENAI_API_KEY" });
    const [inBody] = load(openai('placeholder: "cpx_openai_placeholder_0001", placeholder_in_body: true')).defaultTenant.credentials;
    expect(inBody?.placeholderInBody).toBe(true);
  });

  test("a credential without placeholder keeps whole-header injection", () => {
    const [c] = load(openai("header: Authorization")).defaultTenant.credentials;
    expect(c).toMatchObject({ placeholder: undefined, requirePlaceholder: false, env: undefined });
  });

  test("a prefixed shape gives its prefix and length in letters and digits, the same on every load", () => {
    const text = openai('placeholder: {prefix: "sk-ant-", length: 64}');
    const first = load(text).defaultTenant.credentials[0]!.placeholder!;
    expect(first).toMatch(/^sk-ant-[A-Za-z0-9]{57}$/);
    expect(load(text).defaultTenant.credentials[0]!.placeholder).toBe(first);
    expect(first).not.toContain(env.OPENAI.slice(3, 10));
  });

  test("placeholder: {} derives cpx_ and 36 characters", () => {
    expect(load(openai("placeholder: {}")).defaultTenant.credentials[0]!.placeholder).toMatch(/^cpx_[A-Za-z0-9]{36}$/);
  });

  test("a jwt shape is three base64url parts whose header and payload decode as JSON", () => {
    const jwt = load(openai("placeholder: {shape: jwt}")).defaultTenant.credentials[0]!.placeholder!;
    const [header, payload, signature] = jwt.split(".");
    expect(JSON.parse(Buffer.from(header!, "base64url").toString())).toEqual({ alg: "HS256", typ: "JWT" });
    expect(JSON.parse(Buffer.from(payload!, "base64url").toString())).toMatchObject({ iss: "credproxy", exp: 4_102_444_800 });
    expect(signature).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  test("derived placeholders differ between runs and with the proxy's token, and between credentials", () => {
    const run = (token: string) => parseRunText(`token: ${token}\ncredentials:\n${openai("placeholder: {}")}`, "/runs/a.yaml", "a", { env }).credentials[0]!.placeholder;
    expect(run(RUN_TOKEN)).not.toBe(run(RUN_TOKEN.replace("run", "two")));
    const withToken = load(openai("placeholder: {}"), `token: ${RUN_TOKEN}\n`).defaultTenant.credentials[0]!.placeholder;
    expect(withToken).not.toBe(load(openai("placeholder: {}")).defaultTenant.credentials[0]!.placeholder);
    const two = load(openai("placeholder: {}") + '  - {name: other, host: api.other.test, value: "x", placeholder: {}}\n').defaultTenant.credentials;
    expect(two[0]!.placeholder).not.toBe(two[1]!.placeholder);
  });

  test("a short literal names its key path and the minimum", () => {
    const message = problemsOf(openai('placeholder: "cpx_short"'));
    expect(message).toContain("credentials[0].placeholder");
    expect(message).toContain("is 9 characters; a placeholder needs 16");
  });

  test("a literal with URL-special characters is refused", () => {
    expect(problemsOf(openai('placeholder: "cpx+openai/placeholder=1"'))).toContain("may hold only letters, digits, - . _ ~");
  });

  test("a prefix that leaves fewer than 16 derived characters is refused at length", () => {
    expect(problemsOf(openai('placeholder: {prefix: "sk-ant-api03-", length: 20}'))).toContain("credentials[0].placeholder.length");
  });

  test("one placeholder inside another, or the same twice, is refused", () => {
    const message = problemsOf(openai('placeholder: "cpx_shared_placeholder_01"') + '  - {name: b, host: b.test, value: "x", placeholder: "cpx_shared_placeholder_01_longer"}\n');
    expect(message).toContain("credentials[1].placeholder");
    expect(message).toContain('overlaps the placeholder of credential "openai"');
  });

  test("a placeholder that is a real value is refused without echoing the value", () => {
    const message = problemsOf(openai(`placeholder: "${env.OPENAI}"`));
    expect(message).toContain('overlaps the real value of credential "openai"');
    expect(message.split(env.OPENAI).length).toBeLessThanOrEqual(2);
  });

  test('a value or format with "Bearer " in front is refused beside a placeholder, which the client keeps its scheme around', () => {
    expect(problemsOf('  - {name: a, host: a.test, value: "Bearer ${fromEnv:OPENAI}", placeholder: {}}\n')).toContain('credentials[0].value: starts with "Bearer "');
    expect(problemsOf('  - {name: a, host: a.test, command: [/bin/echo, x], format: "token {}", placeholder: {}}\n')).toContain('credentials[0].format: starts with "token "');
  });

  test("a placeholder that is the run token is refused", () => {
    const text = `token: ${RUN_TOKEN}\ncredentials:\n${openai(`placeholder: "${RUN_TOKEN}"`)}`;
    expect(() => parseRunText(text, "/runs/a.yaml", "a", { env })).toThrow("overlaps the run token");
  });

  test("env, require_placeholder and placeholder_in_body need a placeholder; env must be a new variable name, once per tenant", () => {
    expect(problemsOf(openai("env: OPENAI_API_KEY"))).toContain("credentials[0].env: needs placeholder:");
    expect(problemsOf(openai("require_placeholder: true"))).toContain("credentials[0].require_placeholder: needs placeholder:");
    expect(problemsOf(openai("placeholder_in_body: true"))).toContain("credentials[0].placeholder_in_body: needs placeholder:");
    expect(problemsOf(openai('placeholder: {}, env: "1BAD"'))).toContain("credentials[0].env");
    expect(problemsOf(openai("placeholder: {}, env: HTTPS_PROXY"))).toContain("is set by credproxy proxy env itself");
    const twice = openai("placeholder: {}, env: KEY") + '  - {name: b, host: b.test, value: "x", placeholder: {}, env: KEY}\n';
    expect(problemsOf(twice)).toContain('credential "openai" already prints its placeholder into KEY');
  });

  test("an aws: credential takes no placeholder (proxy env --aws prints its own)", () => {
    expect(problemsOf('  - {name: aws, host: "*.amazonaws.com", aws: {role_arn: "arn:aws:iam::123456789012:role/r"}, placeholder: {}}\n')).toContain("credentials[0].placeholder: does not go with aws");
  });

  test("tenantPlaceholders lists the credentials that have one, longest first", () => {
    const tenant = load(openai('placeholder: "cpx_openai_placeholder_0001"') + '  - {name: b, host: b.test, value: "x", placeholder: {length: 60}}\n  - {name: c, host: c.test, value: "y"}\n').defaultTenant;
    expect(tenantPlaceholders(tenant).map((p) => [p.credential.name, p.placeholder.length])).toEqual([["b", 60], ["openai", 27]]);
  });
});
