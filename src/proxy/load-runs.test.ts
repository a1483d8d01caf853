import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadRuns } from "./load-runs.ts";

const TOKEN_A = "run-a-token-9Qm4Xr7Lz2Wk8Vn5B";
const TOKEN_B = "run-b-token-3Hc8Jd2Kf6Lm9Np4Q";

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "runs-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe("loadRuns", () => {
  test("each YAML or JSON file is a run named after the file; other names are ignored", () => {
    const dir = dirWith({ "ci-1.yaml": `token: ${TOKEN_A}\n`, "ci-2.json": JSON.stringify({ token: TOKEN_B }), "notes.txt": "x", ".hidden.yaml": "x" });
    mkdirSync(join(dir, "sub.yaml"));
    const loaded = loadRuns(dir, { env: {} });
    expect(loaded.runs.map((r) => r.name)).toEqual(["ci-1", "ci-2"]);
    expect([...loaded.problems.keys()].map((f) => f.split("/").pop())).toEqual(["sub.yaml"]);
  });

  test("a broken file is left out with its line, the others load", () => {
    const loaded = loadRuns(dirWith({ "good.yaml": `token: ${TOKEN_A}\n`, "bad.yaml": "token: [\n" }), { env: {} });
    expect(loaded.runs.map((r) => r.name)).toEqual(["good"]);
    expect([...loaded.problems.values()][0]).toMatch(/bad\.yaml:\d+:\d+/);
  });

  test("two runs with one token are both left out: a token must name one run", () => {
    const loaded = loadRuns(dirWith({ "a.yaml": `token: ${TOKEN_A}\n`, "b.yaml": `token: ${TOKEN_A}\n`, "c.yaml": `token: ${TOKEN_B}\n` }), { env: {} });
    expect(loaded.runs.map((r) => r.name)).toEqual(["c"]);
    expect([...loaded.problems.values()]).toEqual(["its token is also the token of b; every run needs its own", "its token is also the token of a; every run needs its own"]);
  });

  test("a.yaml and a.json name the same run: both are left out", () => {
    const loaded = loadRuns(dirWith({ "a.yaml": `token: ${TOKEN_A}\n`, "a.json": JSON.stringify({ token: TOKEN_B }) }), { env: {} });
    expect(loaded.runs).toEqual([]);
  });

  test("a missing directory is no runs, said as such", () => {
    expect(loadRuns(join(tmpdir(), "no-such-runs-dir-x"))).toMatchObject({ runs: [], missing: true });
  });
});
