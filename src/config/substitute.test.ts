import { describe, expect, test } from "bun:test";
import { ErrorCode } from "../errors.ts";
import { MAX_SUBSTITUTION_DEPTH, substituteString, substituteTree, substitutionSyntax, type Env } from "./substitute.ts";
import { memoryFiles, thrown } from "./testing.ts";

const sub = (value: string, env: Env = {}, files: Record<string, string> = {}) =>
  substituteString(value, { env, readFile: memoryFiles(files) }, ["services", "app", "auth_token"]);

describe("${fromEnv:NAME}", () => {
  test("is replaced by the variable's value", () => {
    expect(sub("${fromEnv:TOKEN}", { TOKEN: "abc" })).toBe("abc");
  });

  test("works several times inside a larger string", () => {
    expect(sub("pre-${fromEnv:A}-${fromEnv:B}-post", { A: "1", B: "2" })).toBe("pre-1-2-post");
  });

  test("accepts an empty variable as an empty value", () => {
    expect(sub("x${fromEnv:EMPTY}y", { EMPTY: "" })).toBe("xy");
  });

  test("fails for a missing variable, naming the key path and the variable, with a hint", () => {
    const error = thrown(() => sub("${fromEnv:APP_TOKEN}"), ErrorCode.ConfigSubstitution);
    expect(error.message).toContain("services.app.auth_token");
    expect(error.message).toContain('environment variable "APP_TOKEN" is not set');
    expect(error.hint).toContain("Set APP_TOKEN");
  });

  test("does not treat $ sequences in the value as replacement patterns", () => {
    expect(sub("${fromEnv:V}", { V: "a$&b$1c" })).toBe("a$&b$1c");
  });
});

describe("${fromFile:/path}", () => {
  test("strips the single trailing newline of a one-line file", () => {
    expect(sub("${fromFile:/run/secrets/token}", {}, { "/run/secrets/token": "s3cret\n" })).toBe("s3cret");
  });

  test("keeps a one-line file without a newline as is", () => {
    expect(sub("${fromFile:/t}", {}, { "/t": "s3cret" })).toBe("s3cret");
  });

  test("keeps multi-line content as is, final newline included", () => {
    expect(sub("${fromFile:/pem}", {}, { "/pem": "line1\nline2\n" })).toBe("line1\nline2\n");
  });

  test("keeps both newlines of a line followed by an empty line", () => {
    expect(sub("${fromFile:/t}", {}, { "/t": "token\n\n" })).toBe("token\n\n");
  });

  test("gives an empty string for an empty file", () => {
    expect(sub("[${fromFile:/empty}]", {}, { "/empty": "" })).toBe("[]");
  });

  test("fails for a missing file, naming the key path and the file, with a hint", () => {
    const error = thrown(() => sub("${fromFile:/run/secrets/nope}"), ErrorCode.ConfigSubstitution);
    expect(error.message).toContain("services.app.auth_token");
    expect(error.message).toContain('file "/run/secrets/nope" does not exist');
    expect(error.hint).toContain("/run/secrets/nope");
  });

  test("says when a file cannot be read for another reason", () => {
    const readFile = () => {
      throw Object.assign(new Error("EACCES"), { code: "EACCES" });
    };
    const error = thrown(() => substituteString("${fromFile:/root/x}", { env: {}, readFile }), ErrorCode.ConfigSubstitution);
    expect(error.message).toContain("permission denied");
  });
});

describe("malformed references", () => {
  for (const text of ["${VAR}", "${fromEnv", "${fromEnv:}", "$fromEnv:X", "${fromenv:X}", "${fromEnv X}"]) {
    test(`${text} is left unchanged`, () => {
      expect(sub(text, { VAR: "v", X: "x" })).toBe(text);
    });
  }
});

describe("nesting", () => {
  test("a substituted value is itself expanded", () => {
    expect(sub("${fromEnv:OUTER}", { OUTER: "<${fromEnv:INNER}>", INNER: "deep" })).toBe("<deep>");
  });

  test("a file's content is expanded too", () => {
    expect(sub("${fromFile:/a}", { B: "b" }, { "/a": "a-${fromEnv:B}\n" })).toBe("a-b");
  });

  const chain = (levels: number): Env => {
    const env: Record<string, string> = {};
    for (let i = 1; i < levels; i++) env[`V${i}`] = `\${fromEnv:V${i + 1}}`;
    env[`V${levels}`] = "end";
    return env;
  };

  test(`${MAX_SUBSTITUTION_DEPTH} levels of references are expanded`, () => {
    expect(sub("${fromEnv:V1}", chain(MAX_SUBSTITUTION_DEPTH))).toBe("end");
  });

  test(`more than ${MAX_SUBSTITUTION_DEPTH} levels fail`, () => {
    const error = thrown(() => sub("${fromEnv:V1}", chain(MAX_SUBSTITUTION_DEPTH + 1)), ErrorCode.ConfigSubstitution);
    expect(error.message).toContain(`more than ${MAX_SUBSTITUTION_DEPTH} levels`);
  });

  test("a cycle fails with the references that form it", () => {
    const error = thrown(() => sub("${fromEnv:A}", { A: "${fromEnv:B}", B: "${fromEnv:A}" }), ErrorCode.ConfigSubstitution);
    expect(error.message).toContain("${fromEnv:A} → ${fromEnv:B} → ${fromEnv:A}");
  });
});

describe("custom syntax", () => {
  test("tags and separator come from CREDPROXY_FROM_ENV_TAG, _FROM_FILE_TAG and _TAG_SEPARATOR", () => {
    const env = { CREDPROXY_FROM_ENV_TAG: "env", CREDPROXY_FROM_FILE_TAG: "file", CREDPROXY_TAG_SEPARATOR: "|", VAR: "v" };
    expect(sub("${env|VAR}+${file|/f}", env, { "/f": "f\n" })).toBe("v+f");
  });

  test("the default tags stop working once custom ones are set", () => {
    expect(sub("${fromEnv:VAR}", { CREDPROXY_FROM_ENV_TAG: "env", VAR: "v" })).toBe("${fromEnv:VAR}");
  });

  test("CREDPROXY_NAMESPACE changes the prefix of those variables", () => {
    const env = { CREDPROXY_NAMESPACE: "MYAPP_", MYAPP_FROM_ENV_TAG: "e", CREDPROXY_FROM_ENV_TAG: "ignored", VAR: "v" };
    expect(substitutionSyntax(env).fromEnvTag).toBe("e");
    expect(sub("${e:VAR}", env)).toBe("v");
  });

  test("regex characters in a custom separator are taken literally", () => {
    expect(sub("${fromEnv.VAR}|${fromEnvxVAR}", { CREDPROXY_TAG_SEPARATOR: ".", VAR: "v" })).toBe("v|${fromEnvxVAR}");
  });
});

describe("substituteTree", () => {
  test("expands strings at any depth and leaves map keys alone", () => {
    const tree = { "${fromEnv:K}": { list: ["a", "${fromEnv:K}"] } };
    const { value } = substituteTree(tree, { env: { K: "k" }, readFile: memoryFiles({}) });
    expect(value).toEqual({ "${fromEnv:K}": { list: ["a", "k"] } });
  });

  test("remembers the template of each substituted value, so messages can show it instead of the value", () => {
    const { templates } = substituteTree({ server: { port: "${fromEnv:PORT}", host: "h" } }, { env: { PORT: "1" }, readFile: memoryFiles({}) });
    expect([...templates]).toEqual([["server.port", "${fromEnv:PORT}"]]);
  });

  test("keeps a __proto__ key as a plain key", () => {
    const tree = JSON.parse('{"__proto__": {"polluted": "yes"}}');
    const { value } = substituteTree(tree, { env: {}, readFile: memoryFiles({}) });
    expect(Object.keys(value as object)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("names the file position of a failing reference when given one", () => {
    const error = thrown(() => substituteTree({ a: "${fromEnv:NOPE}" }, { env: {}, readFile: memoryFiles({}), where: () => " (config.yaml:3:7)" }));
    expect(error.message).toContain("a (config.yaml:3:7)");
  });
});
