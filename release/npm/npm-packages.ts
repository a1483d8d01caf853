/**
 * The npm packages, laid out and packed from the release binaries (esbuild's scheme, no
 * postinstall): `credproxy`, a POSIX sh launcher with one optional dependency per platform,
 * and `@credproxy/<os>-<cpu>`, each holding only its binary, with os and cpu set so npm
 * installs just the one for the machine. The launcher package also carries the man page.
 *
 *   <outDir>/credproxy/                       launcher package directory
 *   <outDir>/credproxy-linux-x64/ …           one per platform
 *   <outDir>/credproxy-0.1.0.tgz, credproxy-linux-x64-0.1.0.tgz …   what `npm publish` takes
 */
import { $ } from "bun";
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";

export interface NpmPackagesInput {
  /** Where the release binaries are: credproxy-<os>-<cpu> for each platform. */
  readonly releaseDir: string;
  readonly outDir: string;
  /** "linux-x64", … : the platforms to package (each needs its binary in releaseDir). */
  readonly platforms: readonly string[];
  readonly version: string;
  readonly description: string;
  readonly license: string;
  /** The roff page (credproxy man) the launcher package installs as credproxy(1). */
  readonly manPage: string;
  /** The repository root, for LICENSE and CHANGELOG.md. */
  readonly root: string;
}

export interface NpmPackage {
  readonly name: string;
  readonly dir: string;
  readonly tarball: string;
}

const OS_NAMES: Readonly<Record<string, string>> = { linux: "Linux", darwin: "macOS" };

export async function npmPackages(input: NpmPackagesInput): Promise<NpmPackage[]> {
  const out = resolve(input.outDir);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const license = join(input.root, "LICENSE");
  const packages: NpmPackage[] = [];

  for (const platform of input.platforms) {
    const [os, cpu] = platform.split("-") as [string, string];
    const name = `@credproxy/${platform}`;
    const dir = join(out, `credproxy-${platform}`);
    await mkdir(join(dir, "bin"), { recursive: true });
    // Copied byte for byte: stripping would delete the embedded program.
    await copyFile(join(input.releaseDir, `credproxy-${platform}`), join(dir, "bin", "credproxy"));
    await chmod(join(dir, "bin", "credproxy"), 0o755);
    await copyFile(license, join(dir, "LICENSE"));
    await writeJson(join(dir, "package.json"), {
      name,
      version: input.version,
      description: `The credproxy executable for ${OS_NAMES[os] ?? os} ${cpu}; install "credproxy", which picks it`,
      license: input.license,
      os: [os],
      cpu: [cpu],
      // The Linux binaries are linked against glibc (musl systems need a source build).
      ...(os === "linux" ? { libc: ["glibc"] } : {}),
      files: ["bin/credproxy"],
      preferUnplugged: true,
    });
    await writeFile(join(dir, "README.md"), `# ${name}\n\nThe credproxy executable for ${OS_NAMES[os] ?? os} ${cpu}. Install \`credproxy\` instead: it depends on this package on this platform only.\n`);
    packages.push({ name, dir, tarball: await pack(dir, out) });
  }

  const dir = join(out, "credproxy");
  await mkdir(join(dir, "bin"), { recursive: true });
  await mkdir(join(dir, "man"), { recursive: true });
  const launcher = (await readFile(join(import.meta.dir, "credproxy-launcher.sh"), "utf8"))
    .replaceAll("@@PLATFORMS@@", input.platforms.join(" "))
    .replaceAll("@@VERSION@@", input.version);
  await writeFile(join(dir, "bin", "credproxy"), launcher, { mode: 0o755 });
  await chmod(join(dir, "bin", "credproxy"), 0o755);
  await writeFile(join(dir, "man", "credproxy.1"), input.manPage);
  await copyFile(license, join(dir, "LICENSE"));
  await copyFile(join(input.root, "CHANGELOG.md"), join(dir, "CHANGELOG.md"));
  await writeJson(join(dir, "package.json"), {
    name: "credproxy",
    version: input.version,
    description: input.description,
    license: input.license,
    bin: { credproxy: "bin/credproxy" },
    man: ["man/credproxy.1"],
    // No build for Windows: npm says so at install time rather than the launcher failing later.
    os: [...new Set(input.platforms.map((p) => p.split("-")[0]!))],
    optionalDependencies: Object.fromEntries(input.platforms.map((p) => [`@credproxy/${p}`, input.version])),
    files: ["bin/credproxy", "man/credproxy.1", "CHANGELOG.md"],
  });
  await writeFile(
    join(dir, "README.md"),
    `# credproxy\n\nShort-lived AWS credentials for the programs that need them, in the shape each already understands.\n\n` +
      "```sh\nnpm install -g credproxy\ncredproxy help\nman credproxy\n```\n\n" +
      `Builds: ${input.platforms.join(", ")} (the one for this machine comes as the optional dependency @credproxy/<os>-<cpu>).\n`,
  );
  packages.unshift({ name: "credproxy", dir, tarball: await pack(dir, out) });
  return packages;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(value, null, 2) + "\n");
}

/** `npm pack` (fixed timestamps, sorted entries), returning the tarball's path. */
async function pack(dir: string, dest: string): Promise<string> {
  const out = await $`npm pack --json --pack-destination ${dest}`.cwd(dir).env({ ...process.env, npm_config_update_notifier: "false" }).quiet();
  const [info] = JSON.parse(out.stdout.toString()) as { filename: string }[];
  return join(dest, info!.filename);
}
