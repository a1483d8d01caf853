/**
 * The one date a release carries: SOURCE_DATE_EPOCH when set (the reproducible-builds
 * convention), else the committer time of HEAD, else now (outside a git checkout). The
 * binaries' `--version`, the SBOM, the mtimes in dist/scratch and the image's created time all
 * come from here, so two builds of one commit agree without the caller setting anything.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { buildDate } from "../src/version.ts";

const REPO_ROOT = join(import.meta.dir, "..");

/** The committer time of HEAD in `cwd`, or undefined outside a git checkout. */
export function commitTime(cwd = REPO_ROOT): Date | undefined {
  const out = spawnSync("git", ["log", "-1", "--format=%ct", "HEAD"], { cwd, encoding: "utf8" });
  const seconds = (out.stdout ?? "").trim();
  return out.status === 0 && /^\d+$/.test(seconds) ? new Date(Number(seconds) * 1000) : undefined;
}

/** The release date as ISO 8601 in UTC, to the second. */
export function sourceDate(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return buildDate(env, commitTime() ?? new Date());
}

/** The release date in whole seconds since 1970 (buildah's --timestamp). */
export function sourceEpoch(env: Readonly<Record<string, string | undefined>> = process.env): number {
  return Date.parse(sourceDate(env)) / 1000;
}
