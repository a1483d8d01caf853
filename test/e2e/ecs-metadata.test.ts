/**
 * `serve --ecs-metadata` for real, in a network namespace this test creates and removes:
 * credproxy adds 169.254.170.2 to that namespace's lo through netlink, SDK clients reach it with
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (base http://169.254.170.2) and with FULL_URI + token,
 * the address is gone after SIGTERM, and without CAP_NET_ADMIN the error says what to do.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { scenarioReport } from "../helpers/netns.ts";
import { CAP_NET_ADMIN, CAP_SETUID, capMask, parseProcStatus } from "../../native/linux/capability-sets.ts";

const ns = `cp-ecs-${process.pid}`;
const created = Bun.spawnSync(["ip", "netns", "add", ns]);
const canNetns = created.exitCode === 0 && Bun.spawnSync(["ip", "-n", ns, "link", "set", "lo", "up"]).exitCode === 0;
if (!canNetns) {
  const why = created.stderr.toString().trim() || "ip netns failed";
  if (process.env.CI) throw new Error(`network namespaces are required in CI: ${why}`);
  console.warn(`SKIP: ECS metadata namespace test, cannot create a network namespace: ${why}`);
}
afterAll(() => {
  Bun.spawnSync(["ip", "netns", "del", ns]);
});

type Run = { code: number; out: string; err: string };
interface Report {
  before: string[];
  during: string[];
  after: string[];
  afterDenied: string[];
  clients: Record<string, Run>;
  exit: { code: number | null };
  unprivileged: { code: number; stderr: string };
  status: string;
  threads: string[];
  dropLog?: Record<string, unknown>;
  keepRoot: { status: string; warning?: Record<string, unknown>; exit: { code: number | null } };
  cannotDrop: { code: number; stderr: string };
  afterCannotDrop: string[];
  taskMetadata: { uri?: string; attributes: Record<string, unknown>; code: number };
  error?: string;
}

describe.skipIf(!canNetns)("serve --ecs-metadata in a network namespace", () => {
  let report: Report;

  test("the scenario runs to the end inside the namespace", async () => {
    const run = await scenarioReport<Report>(ns, "test/e2e/ecs-metadata-scenario.ts");
    report = run.report;
    expect({ error: report.error, stderr: run.stderr }).toEqual({ error: undefined, stderr: "" });
  }, 90_000);

  test("credproxy adds 169.254.170.2 to lo while it runs", () => {
    expect(report.before).not.toContain("169.254.170.2");
    expect(report.during).toContain("169.254.170.2");
  });

  test("after binding it runs as 65532:65532 with CAP_NET_ADMIN alone, no groups and no_new_privs", () => {
    const status = parseProcStatus(report.status);
    const netAdmin = capMask([CAP_NET_ADMIN]);
    expect(status).toEqual({
      uid: [65532, 65532, 65532, 65532], gid: [65532, 65532, 65532, 65532], groups: [],
      inheritable: 0n, permitted: netAdmin, effective: netAdmin, bounding: netAdmin, ambient: 0n, noNewPrivs: 1,
    });
    expect(report.dropLog).toMatchObject({ user: "65532:65532", capabilities: ["CAP_NET_ADMIN"] });
  });

  test("every thread runs as 65532 and none holds a capability but CAP_NET_ADMIN", () => {
    expect(report.threads.length).toBeGreaterThan(1);
    for (const text of report.threads) {
      const thread = parseProcStatus(text);
      expect({ uid: thread.uid, gid: thread.gid, extra: (thread.permitted | thread.effective | thread.ambient) & ~capMask([CAP_NET_ADMIN]) })
        .toEqual({ uid: [65532, 65532, 65532, 65532], gid: [65532, 65532, 65532, 65532], extra: 0n });
    }
  });

  for (const name of ["boto3 relative", "js-sdk relative", "boto3 full", "js-sdk full"]) {
    test(`${name.replace("relative", "with AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").replace("full", "with FULL_URI http://169.254.170.2/v1/credentials + token")} gets the role`, () => {
      const run = report.clients[name]!;
      expect({ code: run.code, err: run.code === 0 ? "" : run.err }).toEqual({ code: 0, err: "" });
      expect((JSON.parse(run.out) as { arn: string }).arn).toBe("arn:aws:sts::123456789012:assumed-role/role-a/ecs-ns");
    });
  }

  test("task metadata is served on 169.254.170.2 too, and OpenTelemetry's ECS detector reads it there", () => {
    expect(report.taskMetadata.uri).toMatch(/^http:\/\/169\.254\.170\.2\/v4\/[0-9a-f]{64}$/);
    expect(report.taskMetadata.code).toBe(0);
    expect(report.taskMetadata.attributes).toMatchObject({ "aws.ecs.cluster.arn": "arn:aws:ecs:us-east-1:123456789012:cluster/ns-cluster", "cloud.platform": "aws_ecs" });
  });

  test("SIGTERM exits 0 and removes the address it added, with CAP_NET_ADMIN as its only capability", () => {
    expect(report.exit.code).toBe(0);
    expect(report.after).not.toContain("169.254.170.2");
  });

  test("without CAP_NET_ADMIN it exits 1 with a clear message and leaves nothing behind", () => {
    expect(report.unprivileged.code).toBe(1);
    expect(report.unprivileged.stderr).toContain("E_PLATFORM");
    expect(report.unprivileged.stderr).toContain("NET_ADMIN");
    expect(report.unprivileged.stderr).toContain("127.0.0.1");
    expect(report.afterDenied).not.toContain("169.254.170.2");
  });

  test("server.user: root keeps uid 0 and its capabilities, with a warning that says what that costs", () => {
    const status = parseProcStatus(report.keepRoot.status);
    expect(status.uid).toEqual([0, 0, 0, 0]);
    expect(status.effective & capMask([CAP_NET_ADMIN, CAP_SETUID])).toBe(capMask([CAP_NET_ADMIN, CAP_SETUID]));
    expect(report.keepRoot.warning?.msg).toContain("would act as root");
    expect(report.keepRoot.warning?.hint).toContain("set server.user to a uid:gid");
    expect(report.keepRoot.exit.code).toBe(0);
  });

  test("as root without CAP_SETUID it refuses to start, before adding the address, and says how to fix it", () => {
    expect(report.cannotDrop.code).toBe(1);
    expect(report.cannotDrop.stderr).toContain("error[E_PLATFORM]: Cannot drop root to server.user 65532:65532 after binding as credproxy lacks CAP_SETGID and CAP_SETUID");
    expect(report.cannotDrop.stderr).toContain("server.user: root");
    expect(report.afterCannotDrop).not.toContain("169.254.170.2");
  });
});
