import { describe, expect, test } from "bun:test";
import { childEnv, parseIni, REMOVED_VARIABLES, shadowingWarnings } from "./child-env.ts";

const endpoint = { url: "http://127.0.0.1:40000/", token: "t".repeat(43) };

describe("childEnv", () => {
  const parent = {
    PATH: "/usr/bin:/bin",
    HOME: "/home/u",
    AWS_ENDPOINT_URL_STS: "http://127.0.0.1:5000",
    AWS_CONFIG_FILE: "/etc/aws-config",
    AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
    AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    AWS_SESSION_TOKEN: "session",
    AWS_SECURITY_TOKEN: "session",
    AWS_CREDENTIAL_EXPIRATION: "2030-01-01T00:00:00Z",
    AWS_PROFILE: "admin",
    AWS_DEFAULT_PROFILE: "admin",
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/x",
    AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://169.254.170.23/v1/credentials",
    AWS_CONTAINER_AUTHORIZATION_TOKEN: "outer-token",
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: "/var/run/token",
    AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/secrets/eks/token",
    AWS_ROLE_ARN: "arn:aws:iam::123456789012:role/pod",
    AWS_ROLE_SESSION_NAME: "pod",
    AWS_CREDENTIAL_FILE: "/home/u/.ec2-creds",
    AWS_ACCESS_KEY: "AKIA2",
    AWS_SECRET_KEY: "secret2",
    AMAZON_ACCESS_KEY_ID: "AKIA3",
    AMAZON_SECRET_ACCESS_KEY: "secret3",
    AMAZON_SESSION_TOKEN: "token3",
    AWS_REGION: "eu-west-1",
    UNSET: undefined,
  };

  test("removes every variable that would outrank the container provider or leak long-lived keys", () => {
    const env = childEnv(parent, endpoint, { region: "us-east-1" });
    for (const name of [
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_SESSION_TOKEN",
      "AWS_SECURITY_TOKEN",
      "AWS_PROFILE",
      "AWS_DEFAULT_PROFILE",
      "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
      "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
      "AWS_WEB_IDENTITY_TOKEN_FILE",
      "AWS_ROLE_ARN",
      "AWS_ROLE_SESSION_NAME",
      "AWS_CREDENTIAL_EXPIRATION",
      "AWS_CREDENTIAL_FILE",
      "AWS_ACCESS_KEY",
      "AWS_SECRET_KEY",
      "AMAZON_ACCESS_KEY_ID",
      "AMAZON_SECRET_ACCESS_KEY",
      "AMAZON_SESSION_TOKEN",
    ]) {
      expect(Object.hasOwn(REMOVED_VARIABLES, name)).toBe(true);
      expect(env).not.toHaveProperty(name);
    }
    expect(Object.values(env)).not.toContain("AKIAIOSFODNN7EXAMPLE");
    expect(Object.values(env)).not.toContain("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  });

  test("sets the endpoint, its token and the region, replacing inherited values", () => {
    const env = childEnv(parent, endpoint, { region: "us-east-1" });
    expect(env.AWS_CONTAINER_CREDENTIALS_FULL_URI).toBe(endpoint.url);
    expect(env.AWS_CONTAINER_AUTHORIZATION_TOKEN).toBe(endpoint.token);
    expect(env.AWS_REGION).toBe("us-east-1");
    expect(env.AWS_DEFAULT_REGION).toBe("us-east-1");
  });

  test("keeps everything else, including the STS endpoint and the shared file locations", () => {
    const env = childEnv(parent, endpoint, { region: "us-east-1" });
    expect(env.PATH).toBe("/usr/bin:/bin");
    expect(env.HOME).toBe("/home/u");
    expect(env.AWS_ENDPOINT_URL_STS).toBe("http://127.0.0.1:5000");
    expect(env.AWS_CONFIG_FILE).toBe("/etc/aws-config");
    expect(env).not.toHaveProperty("UNSET");
  });

  test("in IMDS mode removes the inherited container endpoint, so the child cannot run as the outer identity", () => {
    const env = childEnv(parent, { AWS_EC2_METADATA_SERVICE_ENDPOINT: "http://127.0.0.1:40001/" }, { region: "us-east-1" });
    for (const name of Object.keys(parent).filter((n) => n.startsWith("AWS_CONTAINER_"))) expect(env).not.toHaveProperty(name);
    expect(Object.values(env)).not.toContain("outer-token");
    expect(env.AWS_EC2_METADATA_SERVICE_ENDPOINT).toBe("http://127.0.0.1:40001/");
  });

  test("isolateSharedFiles points both shared files at /dev/null", () => {
    const env = childEnv(parent, endpoint, { region: "us-east-1", isolateSharedFiles: true });
    expect(env.AWS_SHARED_CREDENTIALS_FILE).toBe("/dev/null");
    expect(env.AWS_CONFIG_FILE).toBe("/dev/null");
  });

  test("does not modify the parent's environment", () => {
    const copy = { ...parent };
    childEnv(parent, endpoint, { region: "us-east-1", isolateSharedFiles: true });
    expect(parent).toEqual(copy);
  });
});

describe("shadowingWarnings", () => {
  const files = (map: Record<string, string>) => (path: string) => map[path];

  test("warns about static keys in [default] of ~/.aws/credentials, naming the file and the fix", () => {
    const warnings = shadowingWarnings(
      { HOME: "/home/u" },
      files({ "/home/u/.aws/credentials": "[default]\naws_access_key_id = AKIAVALUE0001\naws_secret_access_key = secret-value-0001\n" }),
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.file).toBe("/home/u/.aws/credentials");
    expect(warnings[0]!.message).toContain("/home/u/.aws/credentials");
    expect(warnings[0]!.message).toContain("aws_access_key_id");
    expect(warnings[0]!.hint).toContain("--isolate-shared-files");
    expect(warnings[0]!.hint).toContain("AWS_SHARED_CREDENTIALS_FILE=/dev/null");
    // The warning never repeats a value from the file.
    expect(JSON.stringify(warnings)).not.toContain("AKIAVALUE0001");
    expect(JSON.stringify(warnings)).not.toContain("secret-value-0001");
  });

  test("warns about credential_process, SSO, role_arn and web identity in the default profile of ~/.aws/config", () => {
    for (const [body, what] of [
      ["[default]\ncredential_process = /usr/bin/get-creds\n", "credential_process"],
      ["[profile default]\nsso_session = corp\nsso_account_id = 1\n", "sso_session"],
      ["[default]\nsso_start_url = https://x.awsapps.com/start\n", "sso_start_url"],
      ["[default]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = base\n", "role_arn"],
      ["[default]\nweb_identity_token_file = /t\nrole_arn = arn:aws:iam::1:role/x\n", "web identity"],
      ["[default]\nlogin_session = arn:aws:iam::1:user/x\n", "login_session"],
      ["[default]\naws_access_key_id = AKIA\n", "aws_access_key_id"],
    ] as const) {
      const warnings = shadowingWarnings({ HOME: "/home/u" }, files({ "/home/u/.aws/config": body }));
      expect({ body, count: warnings.length }).toEqual({ body, count: 1 });
      expect(warnings[0]!.file).toBe("/home/u/.aws/config");
      expect(warnings[0]!.message).toContain(what);
    }
  });

  test("honours AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE, with ~ expanded", () => {
    const read = files({
      "/elsewhere/creds": "[default]\naws_access_key_id = AKIA\n",
      "/home/u/cfg": "[default]\ncredential_process = x\n",
      "/home/u/.aws/credentials": "[default]\naws_access_key_id = AKIA\n",
    });
    const warnings = shadowingWarnings({ HOME: "/home/u", AWS_SHARED_CREDENTIALS_FILE: "/elsewhere/creds", AWS_CONFIG_FILE: "~/cfg" }, read);
    expect(warnings.map((w) => w.file)).toEqual(["/elsewhere/creds", "/home/u/cfg"]);
  });

  test("/dev/null (what --isolate-shared-files sets) and missing files give no warning", () => {
    const read = files({ "/dev/null": "", "/home/u/.aws/credentials": "[default]\naws_access_key_id = AKIA\n" });
    expect(shadowingWarnings({ HOME: "/home/u", AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_CONFIG_FILE: "/dev/null" }, read)).toEqual([]);
    expect(shadowingWarnings({ HOME: "/nobody" }, read)).toEqual([]);
    expect(shadowingWarnings({}, read)).toEqual([]);
  });

  test("credentials in named profiles only, or harmless default settings, give no warning", () => {
    const read = files({
      "/home/u/.aws/credentials": "[admin]\naws_access_key_id = AKIA\naws_secret_access_key = s\n",
      "/home/u/.aws/config":
        "# [default]\n; aws_access_key_id = AKIA\n[default]\nregion = eu-west-1\ns3 =\n  aws_access_key_id = nested-not-a-key\n  max_concurrent_requests = 20\naws_access_key_id =\n[profile admin]\ncredential_process = x\n",
    });
    expect(shadowingWarnings({ HOME: "/home/u" }, read)).toEqual([]);
  });

  test("warns about [Credentials] keys in the boto2 config botocore still reads", () => {
    const read = files({ "/home/u/.boto": "[Credentials]\naws_access_key_id = AKIA\naws_secret_access_key = s\n", "/b.cfg": "[Credentials]\naws_access_key_id = AKIA\n" });
    expect(shadowingWarnings({ HOME: "/home/u" }, read).map((w) => w.file)).toEqual(["/home/u/.boto"]);
    expect(shadowingWarnings({ HOME: "/home/u", BOTO_CONFIG: "/b.cfg" }, read).map((w) => w.file)).toEqual(["/b.cfg"]);
    expect(shadowingWarnings({ HOME: "/home/u", BOTO_CONFIG: "/dev/null" }, read)).toEqual([]);
  });
});

describe("parseIni", () => {
  test("lower-cases section names and keys, and skips comments and continuation lines", () => {
    const ini = parseIni("[Default]\nAWS_Access_Key_ID = x\n  continued = y\n[ profile   dev ]\n# k = v\nregion=us-east-1\r\n");
    expect([...ini.keys()]).toEqual(["default", "profile dev"]);
    expect([...ini.get("default")!]).toEqual(["aws_access_key_id"]);
    expect([...ini.get("profile dev")!]).toEqual(["region"]);
  });

  test("an indented key right under a section header is a key (configparser reads it so)", () => {
    expect([...parseIni("[default]\n  aws_access_key_id = x\n").get("default")!]).toEqual(["aws_access_key_id"]);
  });
});
