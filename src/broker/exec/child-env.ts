/**
 * The environment `credproxy broker exec` gives its command, and the check for files that
 * would make the command's SDK ignore it. Both are pure: the caller passes the environment and
 * a file reader.
 *
 * The container provider is the last-but-one link of every SDK's default chain, so anything an
 * earlier link finds wins over it (reference/aws-credential-protocols.md §1, §3). Variables
 * that feed an earlier link are removed here; files that do are only reported
 * (`shadowingWarnings`), because they are the user's and may hold settings the command needs.
 */

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Removed from the command's environment, with the reason. Checked against botocore 1.43
 * (`credentials.py` create_credential_resolver: env → assume-role → web identity → SSO →
 * shared credentials → login → process → config → AWS_CREDENTIAL_FILE → boto2 → container),
 * the JS v3 default chain (env → SSO → ini → process → token file → container) and Go v2
 * (`config/resolve_credentials.go`: env keys → web identity → profile → container).
 */
export const REMOVED_VARIABLES: Readonly<Record<string, string>> = {
  AWS_ACCESS_KEY_ID: "static keys outrank the container provider in every SDK, and would leak long-lived keys",
  AWS_SECRET_ACCESS_KEY: "as AWS_ACCESS_KEY_ID",
  AWS_SESSION_TOKEN: "belongs to the removed keys",
  AWS_SECURITY_TOKEN: "botocore's older name for AWS_SESSION_TOKEN (EnvProvider.TOKENS)",
  AWS_CREDENTIAL_EXPIRATION: "expiry of the removed keys (botocore and JS v3 fromEnv read it)",
  AWS_ACCESS_KEY: "alternative key name read by the Java v1 and Ruby SDKs",
  AWS_SECRET_KEY: "alternative secret name read by the Java v1 and Ruby SDKs",
  AMAZON_ACCESS_KEY_ID: "alternative key name read by the Ruby SDK",
  AMAZON_SECRET_ACCESS_KEY: "alternative secret name read by the Ruby SDK",
  AMAZON_SESSION_TOKEN: "alternative token name read by the Ruby SDK",
  AWS_PROFILE: "selects a profile whose credentials outrank the container provider (and botocore fails if it does not exist)",
  AWS_DEFAULT_PROFILE: "botocore and the AWS CLI read it as AWS_PROFILE",
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "wins over FULL_URI in botocore and JS v3",
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: "wins over AWS_CONTAINER_AUTHORIZATION_TOKEN in every SDK",
  AWS_WEB_IDENTITY_TOKEN_FILE: "web identity outranks the container provider in every SDK",
  AWS_ROLE_ARN: "the role for AWS_WEB_IDENTITY_TOKEN_FILE",
  AWS_ROLE_SESSION_NAME: "the session name for AWS_WEB_IDENTITY_TOKEN_FILE",
  AWS_CREDENTIAL_FILE: "botocore's OriginalEC2Provider reads keys from it, ahead of the container provider",
};

/**
 * The container endpoint variables broker exec sets in ECS mode; in IMDS mode they are removed
 * too, since the container provider comes before IMDS in every SDK's chain.
 */
export const CONTAINER_ENDPOINT_VARIABLES: readonly string[] = ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"];

export interface EndpointForChild {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  readonly token: string;
}

export interface ChildEnvOptions {
  readonly region: string;
  /**
   * Point AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE at /dev/null, so no profile in the
   * user's ~/.aws can outrank the endpoint (the command then sees no profiles at all).
   */
  readonly isolateSharedFiles?: boolean | undefined;
}

/** `parent` minus REMOVED_VARIABLES, plus the endpoint, its token and the region. */
export function childEnv(parent: Env, endpoint: EndpointForChild | Readonly<Record<string, string>>, options: ChildEnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value !== undefined && !Object.hasOwn(REMOVED_VARIABLES, name)) env[name] = value;
  }
  if (isEndpoint(endpoint)) {
    env.AWS_CONTAINER_CREDENTIALS_FULL_URI = endpoint.url;
    env.AWS_CONTAINER_AUTHORIZATION_TOKEN = endpoint.token;
  } else {
    // IMDS instead of the container endpoint (broker exec --imds): whatever tells the SDKs
    // where it is, and IMDS must not be switched off for the child. An inherited container
    // endpoint would outrank IMDS in every SDK and run the child as the outer identity.
    for (const name of CONTAINER_ENDPOINT_VARIABLES) delete env[name];
    Object.assign(env, endpoint);
    delete env.AWS_EC2_METADATA_DISABLED;
  }
  env.AWS_REGION = options.region;
  env.AWS_DEFAULT_REGION = options.region;
  if (options.isolateSharedFiles) {
    env.AWS_SHARED_CREDENTIALS_FILE = "/dev/null";
    env.AWS_CONFIG_FILE = "/dev/null";
  }
  return env;
}

function isEndpoint(value: object): value is EndpointForChild {
  return "url" in value && "token" in value && typeof value.url === "string" && typeof value.token === "string";
}

export interface ShadowingWarning {
  /** The file that holds the credentials. */
  readonly file: string;
  readonly message: string;
  readonly hint: string;
}

/** Reads a text file, or returns undefined when it is missing or unreadable. */
export type ReadTextFile = (path: string) => string | undefined;

/** Profile keys that make a profile a credential source, and how to name each in a message. */
const CREDENTIAL_KEYS: readonly (readonly [key: string, what: string])[] = [
  ["aws_access_key_id", "static keys (aws_access_key_id)"],
  ["credential_process", "a credential_process"],
  ["sso_session", "an SSO session (sso_session)"],
  ["sso_start_url", "SSO settings (sso_start_url)"],
  ["role_arn", "a role to assume (role_arn)"],
  ["web_identity_token_file", "a web identity token file"],
  ["login_session", "an `aws login` session (login_session)"],
];

const PROFILE_HINT =
  "run with --isolate-shared-files (the command then gets AWS_SHARED_CREDENTIALS_FILE=/dev/null and AWS_CONFIG_FILE=/dev/null), " +
  "or move these settings from [default] to a named profile (pass it as --profile NAME if it is the broker's own source)";

/**
 * Warnings for credentials in the files the command's SDK reads before it asks the container
 * endpoint: the default profile (the command has no AWS_PROFILE) of the shared credentials and
 * config files, and botocore's legacy boto2 config. `env` is the command's environment.
 */
export function shadowingWarnings(env: Env, readFile: ReadTextFile): ShadowingWarning[] {
  const home = env.HOME || env.USERPROFILE;
  const warnings: ShadowingWarning[] = [];
  const files: { path: string | undefined; sections: readonly string[] }[] = [
    { path: expandHome(env.AWS_SHARED_CREDENTIALS_FILE || (home && `${home}/.aws/credentials`), home), sections: ["default"] },
    { path: expandHome(env.AWS_CONFIG_FILE || (home && `${home}/.aws/config`), home), sections: ["default", "profile default"] },
  ];
  const seen = new Set<string>();
  for (const { path, sections } of files) {
    if (!path || seen.has(path)) continue;
    seen.add(path);
    const text = readFile(path);
    if (text === undefined) continue;
    const ini = parseIni(text);
    const found = CREDENTIAL_KEYS.filter(([key]) => sections.some((s) => ini.get(s)?.has(key)));
    if (found.length === 0) continue;
    warnings.push({
      file: path,
      message:
        `profile [default] in ${path} has ${found.map(([, what]) => what).join(", ")}, which AWS SDKs ` +
        `(boto3 and the AWS CLI, JavaScript, Go, Java) use before the broker's container credentials: ` +
        `the command would run as that identity, not as the broker's role`,
      hint: PROFILE_HINT,
    });
  }
  // botocore only: [Credentials] in $BOTO_CONFIG, else /etc/boto.cfg or ~/.boto, also ahead of the container.
  const botoFiles = env.BOTO_CONFIG ? [expandHome(env.BOTO_CONFIG, home)] : ["/etc/boto.cfg", home ? `${home}/.boto` : undefined];
  for (const path of botoFiles) {
    if (!path) continue;
    const text = readFile(path);
    if (text !== undefined && parseIni(text).get("credentials")?.has("aws_access_key_id")) {
      warnings.push({
        file: path,
        message: `${path} has keys in [Credentials], which boto3 and the AWS CLI use before the broker's container credentials`,
        hint: `remove the [Credentials] keys from ${path}, or set BOTO_CONFIG=/dev/null for the command`,
      });
      break;
    }
  }
  return warnings;
}

function expandHome(path: string | undefined, home: string | undefined): string | undefined {
  if (!path) return undefined;
  if (home && (path === "~" || path.startsWith("~/"))) return home + path.slice(1);
  return path;
}

/**
 * Just enough INI for the question "does this section have this key", read the way botocore's
 * configparser reads it: section names and keys lower-cased and trimmed, `#`/`;` comment
 * lines, and a line indented deeper than the key before it continues that key (the values of
 * nested settings such as `s3 =`), so it is not a key of its own.
 *
 * @internal exported for tests
 */
export function parseIni(text: string): Map<string, Set<string>> {
  const sections = new Map<string, Set<string>>();
  let current: Set<string> | undefined;
  let keyIndent: number | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const indent = raw.length - raw.trimStart().length;
    if (keyIndent !== undefined && indent > keyIndent) continue;
    const section = /^\[([^\]]+)\]/.exec(line);
    if (section) {
      const name = section[1]!.trim().replace(/\s+/g, " ").toLowerCase();
      current = sections.get(name) ?? new Set<string>();
      sections.set(name, current);
      keyIndent = undefined;
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0 || current === undefined) continue;
    keyIndent = indent;
    // An empty value is not a setting: a nested block (`s3 =`) or a blank template entry.
    if (line.slice(eq + 1).trim() !== "") current.add(line.slice(0, eq).trim().toLowerCase());
  }
  return sections;
}
