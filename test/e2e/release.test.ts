/** `npm run release`: every target is built, the host one runs, SHA256SUMS verifies. */
import { describe, expect, test } from "bun:test";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { release, RELEASE_TARGETS, SBOM_FILE } from "../../build.ts";
import { tempDir } from "../helpers/binary.ts";

const ELF_MACHINE = { x64: 62, arm64: 183 } as const; // EM_X86_64, EM_AARCH64
const MACHO_CPU = { x64: 0x01000007, arm64: 0x0100000c } as const; // CPU_TYPE_X86_64, CPU_TYPE_ARM64

describe("npm run release", () => {
  let out: string;
  let scratch: string;

  test("builds one executable per target, the SBOM and a SHA256SUMS file", async () => {
    const dir = await tempDir("credproxy-release-");
    out = join(dir, "release");
    scratch = join(dir, "scratch");
    const names = await release(out, scratch);
    expect(names.sort()).toEqual(Object.values(RELEASE_TARGETS).map((s) => `credproxy-${s}`).sort());
    expect((await readdir(out)).sort()).toEqual([...names, SBOM_FILE, "SHA256SUMS"].sort());
  }, 180_000);

  test("each file is an executable for its own OS and CPU", async () => {
    for (const suffix of Object.values(RELEASE_TARGETS)) {
      const [os, arch] = suffix.split("-") as ["linux" | "darwin", "x64" | "arm64"];
      const head = new DataView((await Bun.file(join(out, `credproxy-${suffix}`)).slice(0, 64).arrayBuffer()));
      if (os === "linux") {
        expect(head.getUint32(0)).toBe(0x7f454c46); // "\x7fELF"
        expect(head.getUint16(18, true)).toBe(ELF_MACHINE[arch]);
      } else {
        expect(head.getUint32(0, true)).toBe(0xfeedfacf); // 64-bit Mach-O
        expect(head.getUint32(4, true)).toBe(MACHO_CPU[arch]);
      }
    }
  });

  test("the host's linux binary prints its version and git commit", async () => {
    const host = `credproxy-${process.platform}-${process.arch}`;
    const proc = Bun.spawn([join(out, host), "--version"], { stdout: "pipe" });
    const [text, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    const pkg = (await Bun.file(join(import.meta.dir, "../../package.json")).json()) as { version: string };
    expect(text).toMatch(new RegExp(`^credproxy ${pkg.version.replaceAll(".", "\\.")} \\(commit ([0-9a-f]{12}|unknown)\\)\\n$`));
  });

  test("SHA256SUMS covers every binary and the SBOM, and verifies with sha256sum -c", () => {
    const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: out });
    const lines = check.stdout.toString().trim().split("\n").map((l) => l.split(": "));
    expect(lines.map(([file]) => file).sort()).toEqual([...Object.values(RELEASE_TARGETS).map((s) => `credproxy-${s}`), SBOM_FILE].sort());
    expect(lines.map(([, result]) => result)).toEqual(["OK", "OK", "OK", "OK", "OK"]);
    expect(check.exitCode).toBe(0);
  });

  test("the SBOM is CycloneDX JSON listing the bundled dependencies with versions and no devDependency", async () => {
    const bom = (await Bun.file(join(out, SBOM_FILE)).json()) as { bomFormat: string; specVersion: string; metadata: { component: { name: string } }; components: { name: string; version: string }[] };
    expect(bom.bomFormat).toBe("CycloneDX");
    expect(bom.specVersion).toMatch(/^1\.\d+$/);
    expect(bom.metadata.component.name).toBe("credproxy");
    const pkg = (await Bun.file(join(import.meta.dir, "../../package.json")).json()) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    const listed = new Map(bom.components.map((c) => [c.name, c.version]));
    for (const name of ["@aws-sdk/client-sts", "yaml", "ajv", "node-forge"]) expect({ name, version: listed.get(name) }).toEqual({ name, version: pkg.dependencies[name] });
    for (const dev of Object.keys(pkg.devDependencies)) expect(listed.has(dev)).toBe(false);
  });

  test("on Linux it also lays out the scratch image context", async () => {
    const files = await readdir(scratch, { recursive: true });
    expect(files).toContain("usr/local/bin/credproxy");
    expect(files.some((f) => f.endsWith("libc.so.6"))).toBe(true);
  });
});
