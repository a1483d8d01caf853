/**
 * The CycloneDX SBOM of what the binary bundles: npm's own generator (`npm sbom`, npm ≥ 10)
 * over package-lock.json with the devDependencies left out (writeRuntimeLock), offline (the
 * lock file has names, versions, licences and integrity hashes, so no registry is asked).
 *
 * npm fills in three things that differ between two builds of one commit: a random
 * serialNumber, the current time and, reading only the lock file, the checkout directory's
 * name as the root component's name. They are replaced by values of the commit: the build date,
 * the package name and a serial number derived from the rest of the document (a name-based
 * UUID in the RFC 4122 layout), so the SBOM is as reproducible as the binaries.
 */
import { $ } from "bun";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

export interface SbomInput {
  /** The repository root: package.json and package-lock.json. */
  readonly root: string;
  readonly name: string;
  /** ISO 8601, the build date every artefact carries. */
  readonly date: string;
}

interface CycloneDx {
  serialNumber?: string;
  metadata?: { timestamp?: string; component?: { name?: string } };
  [key: string]: unknown;
}

export async function cycloneDxSbom(input: SbomInput): Promise<string> {
  const scratch = await mkdtemp(join(tmpdir(), "credproxy-sbom-"));
  // Named like the checkout: npm names the root component after its directory.
  const dir = join(scratch, basename(input.root));
  try {
    await mkdir(dir);
    await writeRuntimeLock(input.root, dir);
    const out = await $`npm sbom --sbom-format cyclonedx --sbom-type application --omit dev --package-lock-only --offline`
      .cwd(dir)
      .env({ ...process.env, npm_config_update_notifier: "false" })
      .quiet()
      .nothrow();
    if (out.exitCode !== 0) throw new Error(`npm sbom failed (exit ${out.exitCode}; it needs npm ≥ 10): ${out.stderr.toString().trim()}`);
    return normalised(JSON.parse(out.stdout.toString()) as CycloneDx, input);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * package.json and package-lock.json without the packages only development needs (`dev: true`
 * in the lock) and the devDependencies naming them. `npm sbom --omit dev` alone drops a
 * runtime package that a dev-only package also depends on (its query counts any edge from a
 * dev package as dev): with the MCP SDK, a test-only dependency, ajv left the SBOM.
 */
async function writeRuntimeLock(root: string, dir: string): Promise<void> {
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as Record<string, unknown>;
  const lock = JSON.parse(await readFile(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, Record<string, unknown>> };
  for (const [path, entry] of Object.entries(lock.packages)) if (entry.dev === true) delete lock.packages[path];
  // A devDependency also needed at run time (prom-client's @opentelemetry/api) keeps its dev edge, so npm leaves it out as before.
  for (const deps of [pkg.devDependencies, lock.packages[""]?.devDependencies] as (Record<string, string> | undefined)[]) {
    for (const name of Object.keys(deps ?? {})) if (!(`node_modules/${name}` in lock.packages)) delete deps![name];
  }
  await writeFile(join(dir, "package.json"), JSON.stringify(pkg, null, 2));
  await writeFile(join(dir, "package-lock.json"), JSON.stringify(lock, null, 2));
}

function normalised(bom: CycloneDx, input: SbomInput): string {
  bom.metadata = { ...bom.metadata, timestamp: input.date, component: { ...bom.metadata?.component, name: input.name } };
  delete bom.serialNumber;
  const hash = new Bun.CryptoHasher("sha256").update(JSON.stringify(bom)).digest("hex");
  // Version 5 and variant bits set as in a name-based UUID, from the document's own hash.
  const uuid = `${hash.slice(0, 8)}-${hash.slice(8, 12)}-5${hash.slice(13, 16)}-${((parseInt(hash[16]!, 16) & 0x3) | 0x8).toString(16)}${hash.slice(17, 20)}-${hash.slice(20, 32)}`;
  const { bomFormat, specVersion, ...rest } = bom;
  // serialNumber back in its usual place, after the format fields.
  return JSON.stringify({ ...(bom.$schema ? { $schema: bom.$schema } : {}), bomFormat, specVersion, serialNumber: `urn:uuid:${uuid}`, ...rest }, null, 2) + "\n";
}
