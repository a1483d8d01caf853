/**
 * `credproxy broker imds` for real, in network namespaces this test creates and removes: the
 * broker adds 169.254.169.254 to the namespace's lo and serves IMDSv2 there on port 80; boto3,
 * the AWS CLI and the JS SDK default chain, with no credentials of their own, get the role
 * through it; a second namespace joined by a veth pair (10.200.0.0/30, which exists only inside
 * these two namespaces) reaches the port and is refused 403; the address is gone after SIGTERM;
 * and without CAP_NET_ADMIN the broker falls back to 127.0.0.1 and prints the endpoint to use.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { scenarioReport } from "../helpers/netns.ts";
import { join } from "node:path";
import type { Raw, Run } from "./broker-imds-scenario.ts";

const ns = `cp-imds-${process.pid}`;
const peerNs = `cp-imdp-${process.pid}`;
const ROLE_A = "arn:aws:sts::123456789012:assumed-role/role-a/credproxy-imds";

function setUp(): string | undefined {
  const steps = [
    ["ip", "netns", "add", ns],
    ["ip", "netns", "add", peerNs],
    ["ip", "-n", ns, "link", "set", "lo", "up"],
    ["ip", "-n", peerNs, "link", "set", "lo", "up"],
    // Created inside the namespaces, so the host's own interfaces are never touched.
    ["ip", "-n", ns, "link", "add", "imds0", "type", "veth", "peer", "name", "imds1", "netns", peerNs],
    ["ip", "-n", ns, "addr", "add", "10.200.0.1/30", "dev", "imds0"],
    ["ip", "-n", peerNs, "addr", "add", "10.200.0.2/30", "dev", "imds1"],
    ["ip", "-n", ns, "link", "set", "imds0", "up"],
    ["ip", "-n", peerNs, "link", "set", "imds1", "up"],
    ["ip", "-n", peerNs, "route", "add", "169.254.169.254/32", "via", "10.200.0.1"],
  ];
  for (const step of steps) {
    const r = Bun.spawnSync(step);
    if (r.exitCode !== 0) return `${step.join(" ")}: ${r.stderr.toString().trim() || `exit ${r.exitCode}`}`;
  }
  return undefined;
}

const failure = setUp();
const canNetns = failure === undefined;
if (!canNetns) {
  if (process.env.CI) throw new Error(`network namespaces are required in CI: ${failure}`);
  console.warn(`SKIP: broker imds namespace test, cannot set up network namespaces: ${failure}`);
}
afterAll(() => {
  Bun.spawnSync(["ip", "netns", "del", peerNs]);
  Bun.spawnSync(["ip", "netns", "del", ns]);
});

interface Report {
  before: string[];
  during: string[];
  after: string[];
  aliasStdout: string[];
  protocol: {
    token: { status: number; ttl: string; length: number };
    roleList: Raw;
    noToken: number;
    getTokenPath: number;
    badTtl: number;
    xffPut: number;
    wrongHostPut: number;
    wrongHostGet: number;
    fromLoopbackSource: number;
  };
  tokenPeers: string[];
  remote: { put: Raw; get: Raw };
  remoteRefusals: string[];
  clientEnvNames: string[];
  clients: Record<"boto3" | "aws-cli" | "js-sdk", Run>;
  exit: { code: number | null; signal: string | null };
  leakedSecrets: boolean;
  fallback: { stdout: string[]; endpoint: string; lo: string[]; client: Run; warning: string | undefined; hint: string; exit: { code: number | null } };
  error?: string;
}

describe.skipIf(!canNetns)("broker imds in a network namespace", () => {
  let report: Report;

  test("the scenario runs to the end inside the namespace", async () => {
    const run = await scenarioReport<Report>(ns, "test/e2e/broker-imds-scenario.ts", { env: { CREDPROXY_IMDS_PEER_NS: peerNs } });
    report = run.report;
    expect({ error: report.error, stderr: run.stderr }).toEqual({ error: undefined, stderr: "" });
  }, 120_000);

  test("the broker adds 169.254.169.254 to lo and prints nothing to stdout (the SDK default finds it)", () => {
    expect(report.before).not.toContain("169.254.169.254");
    expect(report.during).toContain("169.254.169.254");
    expect(report.aliasStdout).toEqual([]);
  });

  test("IMDSv2 on the alias: token PUT echoes the TTL, the role list is the bare name", () => {
    const p = report.protocol;
    expect(p.token).toEqual({ status: 200, ttl: "21600", length: 43 });
    expect({ status: p.roleList.status, body: p.roleList.body }).toEqual({ status: 200, body: "role-a" });
    expect(p.noToken).toBe(401);
    expect(p.getTokenPath).toBe(405);
    expect(p.badTtl).toBe(400);
  });

  test("a local client to the alias arrives from 169.254.169.254, and one bound to 127.0.0.1 is accepted too", () => {
    expect(report.tokenPeers).toContain("169.254.169.254");
    expect(report.protocol.fromLoopbackSource).toBe(200);
    expect(report.tokenPeers).toContain("127.0.0.1");
  });

  test("X-Forwarded-For on the token PUT is 403", () => {
    expect(report.protocol.xffPut).toBe(403);
  });

  test("a wrong Host header is 403 (DNS rebinding)", () => {
    expect(report.protocol.wrongHostPut).toBe(403);
    expect(report.protocol.wrongHostGet).toBe(403);
  });

  test("a request from the other namespace reaches the port and is refused 403 by the peer guard", () => {
    expect(report.remote.put.status).toBe(403);
    expect(report.remote.get.status).toBe(403);
    expect(report.remoteRefusals).toContain("10.200.0.2");
  });

  for (const name of ["boto3", "aws-cli", "js-sdk"] as const) {
    test(`${name} with no credentials and IMDS left on gets role-a through IMDSv2`, () => {
      const run = report.clients[name];
      expect({ code: run.code, err: run.code === 0 ? "" : run.err }).toEqual({ code: 0, err: "" });
      const json = name === "aws-cli" ? run.out : (run.out.split("\n").at(-1) ?? "");
      const ident = JSON.parse(json) as { arn?: string; Arn?: string; method?: string };
      expect(ident.arn ?? ident.Arn).toBe(ROLE_A);
      if (name === "boto3") expect(ident.method).toBe("iam-role");
      if (name === "aws-cli") expect(run.awsCliMethod).toBe("iam-role");
      expect(run.tokensIssued).toBeGreaterThanOrEqual(1);
    });
  }

  test("the clients ran without credential variables and without AWS_EC2_METADATA_DISABLED", () => {
    for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_EC2_METADATA_DISABLED"]) {
      expect(report.clientEnvNames).not.toContain(name);
    }
    expect(report.clientEnvNames).toContain("AWS_EC2_METADATA_V1_DISABLED");
  });

  test("SIGTERM exits 0 and removes 169.254.169.254; no token was logged", () => {
    expect(report.exit.code).toBe(0);
    expect(report.after).not.toContain("169.254.169.254");
    expect(report.leakedSecrets).toBe(false);
  });

  test("without CAP_NET_ADMIN it serves on 127.0.0.1 and prints the one endpoint line clients need", () => {
    const f = report.fallback;
    expect(f.stdout).toHaveLength(1);
    expect(f.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(f.lo).not.toContain("169.254.169.254");
    expect(f.warning).toContain("serving on 127.0.0.1 instead");
    // The hint speaks of IMDS, not of serve's server.ecs_metadata or Docker flags.
    expect(f.hint).toStartWith("run with CAP_NET_ADMIN, e.g. sudo, or use the 127.0.0.1 endpoint");
    expect(f.hint).not.toContain("ecs_metadata");
    expect({ code: f.client.code, err: f.client.code === 0 ? "" : f.client.err }).toEqual({ code: 0, err: "" });
    expect((JSON.parse(f.client.out.split("\n").at(-1) ?? "{}") as { arn: string }).arn).toBe(ROLE_A);
    expect(f.client.tokensIssued).toBeGreaterThanOrEqual(1);
    expect(f.exit.code).toBe(0);
  });
});
