import { describe, expect, test } from "bun:test";
import { formatError } from "../../errors.ts";
import { parseProxyConfigText, parseRunText } from "./load-proxy-config.ts";

const env = { GITHUB_TOKEN: "ghp_realSecretValue9Qm4Xr7Lz2Wk8" };
const readFile = (path: string) => {
  if (path === "/run/secrets/gh") return "ghp_fileSecret9Qm4Xr7Lz2Wk8\n";
  throw Object.assign(new Error("missing"), { code: "ENOENT" });
};
const problemsOf = (text: string) => {
  try {
    parseProxyConfigText(text, "/etc/credproxy/proxy.yaml", { env, readFile });
  } catch (error) {
    return formatError(error);
  }
  throw new Error("accepted");
};

describe("loading proxy.yaml", () => {
  test("an empty file gives the documented defaults", () => {
    const config = parseProxyConfigText("", "/etc/credproxy/proxy.yaml", { env: { HOME: "/home/u" } });
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 3128 });
    expect(config.defaultTenant).toMatchObject({ policy: "strict", intercept: "credentialed", credentials: [] });
    expect(config.tls.caDir).toBe("/home/u/.config/credproxy/proxy-ca");
    expect(config.limits.responseHeadTimeoutMs).toBe(300_000);
  });
  test("a credential keeps its references unexpanded, so a rotated file is read again", () => {
    const config = parseProxyConfigText(
      'credentials:\n  - name: gh\n    host: [api.github.com, "*.githubusercontent.com"]\n    value: "Bearer ${fromFile:/run/secrets/gh}"\n',
      "/etc/credproxy/proxy.yaml",
      { env, readFile },
    );
    const [gh] = config.defaultTenant.credentials;
    expect(gh!.value).toEqual({ kind: "template", template: "Bearer ${fromFile:/run/secrets/gh}", files: ["/run/secrets/gh"] });
    expect(gh!.hosts.map((h) => h.text)).toEqual(["api.github.com", "*.githubusercontent.com"]);
    expect(gh!.header).toBe("Authorization");
  });
  test("every problem is reported at once, with its line, and no secret value is echoed", () => {
    const text = 'listen: {host: 0.0.0.0}\ngrants: [githb]\nallow: ["a.*.b"]\ncredentials:\n  - name: gh\n    host: api.github.com\n    header: Content-Length\n    value: "${fromEnv:GITHUB_TOKEN}"\n';
    const message = problemsOf(text);
    expect(message).toContain("4 problems");
    expect(message).toContain('proxy.yaml:1:16: listen.host');
    expect(message).toContain('did you mean "github"');
    expect(message).toContain("allow[0]");
    expect(message).toContain("credentials[0].header");
    expect(message).not.toContain(env.GITHUB_TOKEN);
  });
  test("a reference that cannot be resolved is an error at load, not at the first request", () => {
    expect(problemsOf('credentials:\n  - {name: gh, host: api.github.com, value: "${fromEnv:MISSING_TOKEN}"}\n')).toContain("MISSING_TOKEN");
  });
  test("a guessable token is refused", () => {
    expect(problemsOf("token: abcdefgh\n")).toContain("too easy to guess");
  });
});

describe("loading a run file", () => {
  test("a run has its own token and policy, named after its file", () => {
    const run = parseRunText("token: run-9Qm4Xr7Lz2Wk8Vn5Bq3Tz\npolicy: report\nallow: [api.example.invalid]\n", "/runs/ci-42.yaml", "ci-42", { env, readFile });
    expect(run).toMatchObject({ name: "ci-42", token: "run-9Qm4Xr7Lz2Wk8Vn5Bq3Tz", policy: "report", source: "/runs/ci-42.yaml" });
  });
  test("a run without a token is refused", () => {
    expect(() => parseRunText("allow: [a.invalid]\n", "/runs/x.yaml", "x", { env, readFile })).toThrow(/token/);
  });
});
