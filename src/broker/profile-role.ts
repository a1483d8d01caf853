/**
 * The aws-vault reading of a role profile with MFA for `credproxy broker`:
 *
 *   [profile admin]
 *   source_profile = base
 *   role_arn = arn:aws:iam::123456789012:role/admin
 *   mfa_serial = arn:aws:iam::123456789012:mfa/alice
 *
 * The SDK would resolve `admin` by assuming the role with `base`'s keys and an MFA code it has
 * no way to ask for. The broker instead starts one MFA session (GetSessionToken) with the
 * credentials of `base` (itself resolved as any profile, chains included), and assumes
 * `role_arn` with that session, so a code is asked for once per MFA session, not per role.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** Where a role profile's source credentials come from. */
export type ProfileRoleSource =
  | { readonly kind: "profile"; readonly profile: string }
  /** `credential_source`: Environment, Ec2InstanceMetadata or EcsContainer. */
  | { readonly kind: "credential-source"; readonly credentialSource: string };

/** A profile with `role_arn`, its source, and its `mfa_serial`. */
export interface ProfileRole {
  /** The profile the settings were read from. */
  readonly profile: string;
  readonly roleArn: string;
  readonly source: ProfileRoleSource;
  readonly mfaSerial: string;
  readonly externalId?: string | undefined;
  readonly roleSessionName?: string | undefined;
  readonly durationSeconds?: number | undefined;
}

export interface ReadProfileOptions {
  /** `--profile`; else AWS_PROFILE, else `default` (unless env keys make the default chain skip profiles). */
  readonly profile?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly readFile?: ((path: string) => string) | undefined;
}

/**
 * All keys of one profile, merged as the SDK does: `[profile NAME]` (or `[default]`) of the
 * config file, overridden by `[NAME]` of the shared credentials file. Undefined when the
 * profile is in neither file, or when no profile applies (no --profile and AWS_ACCESS_KEY_ID set).
 */
export function readProfile(options: ReadProfileOptions): { profile: string; settings: Record<string, string> } | undefined {
  const { env } = options;
  if (options.profile === undefined && env.AWS_ACCESS_KEY_ID) return undefined;
  const profile = options.profile ?? (env.AWS_PROFILE || "default");
  const home = env.HOME || homedir();
  const read = options.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  const tryRead = (path: string): string | undefined => {
    try {
      return read(path);
    } catch {
      return undefined;
    }
  };
  const config = tryRead(env.AWS_CONFIG_FILE || join(home, ".aws", "config"));
  const credentials = tryRead(env.AWS_SHARED_CREDENTIALS_FILE || join(home, ".aws", "credentials"));
  const fromConfig = config === undefined ? undefined : profileSettings(config, profile, "config");
  const fromCredentials = credentials === undefined ? undefined : profileSettings(credentials, profile, "credentials");
  if (fromConfig === undefined && fromCredentials === undefined) return undefined;
  return { profile, settings: { ...fromConfig, ...fromCredentials } };
}

/**
 * The keys of one profile section of an INI file (the last value of a key wins, as in the SDK;
 * indented sub-properties and comments are skipped), or undefined when there is no such section.
 * In a config file a profile is `[profile NAME]` (`[default]` or `[profile default]` for the
 * default one); in the shared credentials file it is `[NAME]`.
 */
export function profileSettings(text: string, profile: string, kind: "config" | "credentials"): Record<string, string> | undefined {
  const wanted = new Set(kind === "credentials" ? [profile] : profile === "default" ? ["default", "profile default"] : [`profile ${profile}`]);
  let inSection = false;
  let found = false;
  const settings: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, "");
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[\s*([^\]]*?)\s*\]/.exec(line);
    if (section) {
      inSection = wanted.has(section[1]!.replace(/\s+/g, " "));
      found ||= inSection;
      continue;
    }
    if (!inSection || /^\s/.test(raw)) continue; // indented lines are sub-properties
    const kv = /^([^=]+?)\s*=\s*(.*?)\s*$/.exec(line);
    if (kv) {
      const value = kv[2]!.replace(/\s+[#;].*$/, "");
      if (value === "") delete settings[kv[1]!];
      else settings[kv[1]!] = value;
    }
  }
  return found ? settings : undefined;
}

/**
 * The profile's role, when the broker should do the MFA itself: the profile has `role_arn`,
 * `mfa_serial`, and `source_profile` or `credential_source`. Else undefined (the profile, if
 * any, is resolved by the SDK as it is).
 */
export function profileRoleWithMfa(profile: string, settings: Readonly<Record<string, string>>): ProfileRole | undefined {
  const roleArn = settings.role_arn;
  const mfaSerial = settings.mfa_serial;
  if (!roleArn || !mfaSerial) return undefined;
  let source: ProfileRoleSource;
  if (settings.source_profile) source = { kind: "profile", profile: settings.source_profile };
  else if (settings.credential_source) source = { kind: "credential-source", credentialSource: settings.credential_source };
  else return undefined; // role_arn + web_identity_token_file and the like: not an MFA chain
  const duration = settings.duration_seconds;
  return {
    profile,
    roleArn,
    source,
    mfaSerial,
    externalId: settings.external_id,
    roleSessionName: settings.role_session_name,
    durationSeconds: duration !== undefined && /^\d+$/.test(duration) ? Number(duration) : undefined,
  };
}

/** readProfile + profileRoleWithMfa. */
export function readProfileRole(options: ReadProfileOptions): ProfileRole | undefined {
  const found = readProfile(options);
  return found ? profileRoleWithMfa(found.profile, found.settings) : undefined;
}
