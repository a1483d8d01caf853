import { afterEach, describe, expect, test } from "bun:test";
import type { RoleCredentials } from "../../credentials/types.ts";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { createLogger, silentLogger } from "../../log.ts";
import { startImds } from "./start-imds.ts";
import { allowedHosts, isLocalPeer, startImdsServer, type ImdsServer, type ImdsServerOptions } from "./imds-server.ts";
import { createImdsTokenStore, parseTokenTtl } from "./imds-tokens.ts";

const CREDS: RoleCredentials = {
  accessKeyId: "ASIAIMDSTESTKEY12345",
  secretAccessKey: "imds-test-secret-0123456789abcdefghijklmn",
  sessionToken: "imds-test-session-token-0123456789abcdefghijklmnopqrstuvwxyz",
  expiration: new Date("2031-05-06T07:08:09.876Z"),
  roleArn: "arn:aws:iam::123456789012:role/role-a",
  accountId: "123456789012",
  assumedRoleArn: "arn:aws:sts::123456789012:assumed-role/role-a/s",
};
const CREDS_PATH = "/latest/meta-data/iam/security-credentials/role-a";

let servers: ImdsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop(0)));
  servers = [];
});

function start(overrides: Partial<ImdsServerOptions> = {}): ImdsServer & { base: string } {
  const server = startImdsServer({
    credentials: async () => CREDS,
    roleName: "role-a",
    accountId: "123456789012",
    region: "eu-west-1",
    listen: { hostname: "127.0.0.1", port: 0 },
    logger: silentLogger,
    ...overrides,
  });
  servers.push(server);
  return Object.assign(server, { base: `http://127.0.0.1:${server.port}` });
}

async function token(base: string, ttl = "21600"): Promise<string> {
  const res = await fetch(`${base}/latest/api/token`, { method: "PUT", headers: { "x-aws-ec2-metadata-token-ttl-seconds": ttl } });
  expect(res.status).toBe(200);
  return res.text();
}

function get(base: string, path: string, tok?: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(base + path, { headers: { ...(tok === undefined ? {} : { "x-aws-ec2-metadata-token": tok }), ...headers } });
}

describe("IMDSv2 token endpoint", () => {
  test("PUT issues a 256-bit base64url token and echoes the TTL header", async () => {
    const { base } = start();
    const res = await fetch(`${base}/latest/api/token`, { method: "PUT", headers: { "x-aws-ec2-metadata-token-ttl-seconds": "21600" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-aws-ec2-metadata-token-ttl-seconds")).toBe("21600");
    const body = await res.text();
    expect(body).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const again = await token(base, "1");
    expect(again).not.toBe(body);
  });

  test("PUT answers 400 to a missing or out-of-range TTL", async () => {
    const { base } = start();
    for (const ttl of [undefined, "", "0", "21601", "-5", "1.5", "abc", "99999999"]) {
      const headers: Record<string, string> = ttl === undefined ? {} : { "x-aws-ec2-metadata-token-ttl-seconds": ttl };
      const res = await fetch(`${base}/latest/api/token`, { method: "PUT", headers });
      expect({ ttl, status: res.status }).toEqual({ ttl, status: 400 });
    }
  });

  test("PUT with X-Forwarded-For is refused with 403 and issues nothing", async () => {
    const server = start();
    const res = await fetch(`${server.base}/latest/api/token`, {
      method: "PUT",
      headers: { "x-aws-ec2-metadata-token-ttl-seconds": "60", "x-forwarded-for": "203.0.113.9" },
    });
    expect(res.status).toBe(403);
    expect(server.tokens.size).toBe(0);
  });

  test("GET (or POST) on the token path is 405", async () => {
    const { base } = start();
    expect((await fetch(`${base}/latest/api/token`)).status).toBe(405);
    expect((await fetch(`${base}/latest/api/token`, { method: "POST" })).status).toBe(405);
  });
});

describe("token checks on metadata GETs", () => {
  test("IMDSv1 is off by default: no token is 401, a wrong one is 401, a valid one is 200", async () => {
    const { base } = start();
    expect((await get(base, CREDS_PATH)).status).toBe(401);
    expect((await get(base, CREDS_PATH, "not-a-token")).status).toBe(401);
    expect((await get(base, CREDS_PATH, "x".repeat(10_000))).status).toBe(401);
    expect((await get(base, CREDS_PATH, await token(base))).status).toBe(200);
  });

  test("a token stops working when its TTL has passed", async () => {
    let clock = Date.UTC(2030, 0, 1);
    const server = start({ now: () => clock });
    const tok = await token(server.base, "1");
    clock += 999;
    expect((await get(server.base, CREDS_PATH, tok)).status).toBe(200);
    clock += 1;
    expect((await get(server.base, CREDS_PATH, tok)).status).toBe(401);
    expect(server.tokens.size).toBe(0); // an expired token is forgotten when it is seen
  });

  test("with imdsV1 on, a GET without a token is served, but a wrong token is still 401", async () => {
    const { base } = start({ imdsV1: true });
    expect((await get(base, CREDS_PATH)).status).toBe(200);
    expect(await (await get(base, "/latest/meta-data/iam/security-credentials/")).text()).toBe("role-a");
    expect((await get(base, CREDS_PATH, "stale-token")).status).toBe(401);
  });
});

describe("metadata paths", () => {
  test("the role list is exactly the role name, with no trailing newline, with or without a trailing slash", async () => {
    const { base } = start();
    const tok = await token(base);
    for (const path of ["/latest/meta-data/iam/security-credentials/", "/latest/meta-data/iam/security-credentials"]) {
      const res = await get(base, path, tok);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("role-a");
    }
  });

  test("the credentials are the IMDS JSON shape with a whole-second Z expiration", async () => {
    const { base } = start();
    const tok = await token(base);
    for (const path of [CREDS_PATH, `${CREDS_PATH}/`]) {
      const body = (await (await get(base, path, tok)).json()) as Record<string, string>;
      expect(Object.keys(body)).toEqual(["Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"]);
      expect(body).toMatchObject({
        Code: "Success",
        Type: "AWS-HMAC",
        AccessKeyId: CREDS.accessKeyId,
        SecretAccessKey: CREDS.secretAccessKey,
        Token: CREDS.sessionToken,
        Expiration: "2031-05-06T07:08:09Z",
      });
      expect(body.LastUpdated).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
  });

  test("LastUpdated moves when the credentials change", async () => {
    let clock = Date.UTC(2030, 0, 1, 0, 0, 0);
    let current = CREDS;
    const { base } = start({ now: () => clock, credentials: async () => current });
    const tok = await token(base);
    const first = ((await (await get(base, CREDS_PATH, tok)).json()) as { LastUpdated: string }).LastUpdated;
    expect(first).toBe("2030-01-01T00:00:00Z");
    clock += 60_000;
    expect(((await (await get(base, CREDS_PATH, tok)).json()) as { LastUpdated: string }).LastUpdated).toBe(first);
    current = { ...CREDS, accessKeyId: "ASIANEWKEY0000000000" };
    expect(((await (await get(base, CREDS_PATH, tok)).json()) as { LastUpdated: string }).LastUpdated).toBe("2030-01-01T00:01:00Z");
  });

  test("a cached RefreshingCredentials-like source is answered from peek()", async () => {
    let gets = 0;
    const { base } = start({ credentials: { get: async () => (gets++, CREDS), peek: () => CREDS } });
    const tok = await token(base);
    expect((await get(base, CREDS_PATH, tok)).status).toBe(200);
    expect(gets).toBe(0);
  });

  test("placement, instance-id, iam/info and the identity document are plausible", async () => {
    const { base } = start({ instanceId: "i-0123456789abcdef0" });
    const tok = await token(base);
    const text = async (path: string) => {
      const res = await get(base, path, tok);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      return res.text();
    };
    expect(await text("/latest/meta-data/placement/region")).toBe("eu-west-1");
    expect(await text("/latest/meta-data/placement/availability-zone/")).toBe("eu-west-1a");
    expect(await text("/latest/meta-data/instance-id/")).toBe("i-0123456789abcdef0");
    const info = JSON.parse(await text("/latest/meta-data/iam/info/")) as Record<string, string>;
    expect(info).toMatchObject({ Code: "Success", InstanceProfileArn: "arn:aws:iam::123456789012:instance-profile/role-a" });
    const doc = JSON.parse(await text("/latest/dynamic/instance-identity/document")) as Record<string, unknown>;
    expect(doc).toMatchObject({ accountId: "123456789012", region: "eu-west-1", availabilityZone: "eu-west-1a", instanceId: "i-0123456789abcdef0" });
    expect(await text("/latest/meta-data/")).toContain("iam/");
  });

  test("another role name and unknown paths are 404; other methods are 405", async () => {
    const { base } = start();
    const tok = await token(base);
    expect((await get(base, "/latest/meta-data/iam/security-credentials/role-b", tok)).status).toBe(404);
    expect((await get(base, "/latest/meta-data/ami-id", tok)).status).toBe(404);
    expect((await get(base, "/latest/user-data", tok)).status).toBe(404);
    expect((await fetch(base + CREDS_PATH, { method: "POST", headers: { "x-aws-ec2-metadata-token": tok } })).status).toBe(405);
  });

  test("a credential failure is a 503 that names the problem and carries no secrets", async () => {
    const failure = new CredproxyError(ErrorCode.AssumeRole, "Cannot get credentials for service 'broker' as STS said AccessDenied");
    const { base } = start({ credentials: async () => Promise.reject(failure) });
    const res = await get(base, CREDS_PATH, await token(base));
    expect(res.status).toBe(503);
    const body = (await res.json()) as Record<string, string>;
    expect(body.Code).toBe("CredentialsUnavailable");
    expect(body.Message).toContain("AccessDenied");
  });
});

describe("edge guards", () => {
  test("a Host header that is not IMDS or this listener is 403, before anything else", async () => {
    const server = start();
    const { base, port } = server;
    for (const host of ["evil.example", `evil.example:${port}`, `127.0.0.1:${port + 1}`, "169.254.169.254:8080"]) {
      const put = await fetch(`${base}/latest/api/token`, { method: "PUT", headers: { host, "x-aws-ec2-metadata-token-ttl-seconds": "60" } });
      expect({ host, status: put.status }).toEqual({ host, status: 403 });
    }
    expect(server.tokens.size).toBe(0);
    const tok = await token(base);
    expect((await get(base, CREDS_PATH, tok, { host: "rebound.attacker.example" })).status).toBe(403);
    for (const host of ["169.254.169.254", "169.254.169.254:80", `169.254.169.254:${port}`, `localhost:${port}`, `LOCALHOST:${port}`]) {
      expect({ host, status: (await get(base, CREDS_PATH, tok, { host })).status }).toEqual({ host, status: 200 });
    }
  });

  test("allowedHosts() lists the IMDS addresses and this listener only", () => {
    const hosts = allowedHosts("169.254.169.254", 80, []);
    expect([...hosts].sort()).toEqual(["169.254.169.254", "169.254.169.254:80", "[fd00:ec2::254]", "[fd00:ec2::254]:80"]);
    const loop = allowedHosts("127.0.0.1", 4000, ["imds.internal"]);
    expect(loop.has("127.0.0.1:4000")).toBe(true);
    expect(loop.has("localhost:4000")).toBe(true);
    expect(loop.has("127.0.0.1")).toBe(false);
    expect(loop.has("imds.internal")).toBe(true);
    expect(allowedHosts("0.0.0.0", 80, []).has("0.0.0.0")).toBe(false);
  });

  test("isLocalPeer() accepts loopback and the alias, and nothing else", () => {
    const alias = new Set(["169.254.169.254"]);
    for (const peer of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "169.254.169.254", "::ffff:169.254.169.254"]) {
      expect({ peer, ok: isLocalPeer(peer, alias) }).toEqual({ peer, ok: true });
    }
    for (const peer of ["10.200.0.2", "169.254.169.253", "192.168.1.1", "fe80::1", "::2", "", "not-an-ip", "128.0.0.1"]) {
      expect({ peer, ok: isLocalPeer(peer, alias) }).toEqual({ peer, ok: false });
    }
    expect(isLocalPeer("169.254.169.254", new Set())).toBe(false);
  });

  test("no token, key or secret reaches the log, even at debug level", async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: "debug", write: (l) => lines.push(l) });
    const { base } = start({ logger });
    const tok = await token(base);
    await (await get(base, CREDS_PATH, tok)).text();
    await (await get(base, CREDS_PATH, "wrong-token-value-123456")).text();
    await (await get(base, CREDS_PATH, tok, { host: "evil.example" })).text();
    await Bun.sleep(5); // the per-request debug line is written once the response settles
    const all = lines.join("\n");
    expect(lines.length).toBeGreaterThan(2);
    for (const secret of [tok, "wrong-token-value-123456", CREDS.secretAccessKey, CREDS.sessionToken]) expect(all).not.toContain(secret);
  });
});

describe("token store", () => {
  test("is bounded: beyond maxTokens the oldest token is dropped", () => {
    const store = createImdsTokenStore({ maxTokens: 3 });
    const issued = [1, 2, 3, 4, 5].map(() => store.issue(600));
    expect(store.size).toBe(3);
    expect(issued.map((t) => store.valid(t))).toEqual([false, false, true, true, true]);
  });

  test("sweeps expired tokens before dropping live ones", () => {
    let clock = 0;
    const store = createImdsTokenStore({ maxTokens: 2, now: () => clock });
    const short = store.issue(1);
    const long = store.issue(600);
    clock = 5_000;
    const third = store.issue(600);
    expect([store.valid(short), store.valid(long), store.valid(third)]).toEqual([false, true, true]);
  });

  test("parseTokenTtl() accepts whole seconds 1..21600 only", () => {
    expect(["1", "60", "21600", " 300 "].map(parseTokenTtl)).toEqual([1, 60, 21600, 300]);
    expect([null, "", "0", "21601", "+5", "-1", "1e3", "0x10", "5.0"].map(parseTokenTtl)).toEqual(Array(9).fill(undefined));
  });
});

describe("startImds()", () => {
  const roleArn = "arn:aws:iam::123456789012:role/team/role-a";

  test("falls back to 127.0.0.1 on a free port when the address cannot be added, and says how to reach it", async () => {
    const denied = new CredproxyError(ErrorCode.Platform, "Cannot add 169.254.169.254/32 to the loopback interface lo as credproxy lacks CAP_NET_ADMIN");
    const imds = await startImds({ credentials: async () => CREDS, roleArn, region: "us-east-1", logger: silentLogger, addAliases: () => Promise.reject(denied) });
    try {
      expect(imds.onAlias).toBe(false);
      expect(imds.fallbackReason).toBe(denied);
      expect(imds.server.endpoint).toBe(`http://127.0.0.1:${imds.server.port}/`);
      expect(imds.childEnv).toEqual({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.server.endpoint });
      const base = imds.server.endpoint.slice(0, -1);
      const list = await get(base, "/latest/meta-data/iam/security-credentials/", await token(base));
      expect(await list.text()).toBe("role-a"); // the name after the ARN's path
    } finally {
      await imds.stop();
    }
  });

  test("on the alias it removes the address on stop, once", async () => {
    let removed = 0;
    const imds = await startImds({
      credentials: async () => CREDS,
      roleArn,
      region: "us-east-1",
      address: "127.0.0.7", // all of 127/8 is local on Linux: no real alias needed
      port: 0,
      logger: silentLogger,
      addAliases: async () => ({ aliases: [{ address: "127.0.0.7", prefixLength: 32, added: true }], remove: () => void removed++ }),
    });
    expect(imds.onAlias).toBe(true);
    expect(imds.childEnv).toEqual({ AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://127.0.0.7:${imds.server.port}/` });
    const base = `http://127.0.0.7:${imds.server.port}`;
    expect((await get(base, CREDS_PATH, await token(base))).status).toBe(200);
    await Promise.all([imds.stop(), imds.stop()]);
    expect(removed).toBe(1);
  });

  test("errors other than a missing capability are not papered over", async () => {
    const broken = new Error("netlink exploded");
    await expect(startImds({ credentials: async () => CREDS, roleArn, region: "us-east-1", logger: silentLogger, addAliases: () => Promise.reject(broken) })).rejects.toBe(broken);
  });
});
