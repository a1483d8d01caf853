/**
 * The ECS metadata address answers this network namespace only. Two namespaces this test
 * creates (test/helpers/netns-pair.ts): A runs `serve --ecs-metadata`; B is joined to A by a veth
 * pair with a route to 169.254.170.2 through A, so its requests really arrive at the listener,
 * from B's own address.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { scenarioReport } from "../helpers/netns.ts";
import { ADDRESS_B, createNamespacePair } from "../helpers/netns-pair.ts";

const pair = createNamespacePair("ecs");
const { a, b, ok } = pair;
if (!ok) {
  if (process.env.CI) throw new Error(`network namespaces are required in CI: ${pair.why}`);
  console.warn(`SKIP: ECS metadata peer test, cannot set up the namespaces: ${pair.why}`);
}
afterAll(() => pair.remove());

interface Report {
  local: { status: number; body: string };
  other: { status: number; body: string };
  refusals: Record<string, unknown>[];
  error?: string;
}

describe.skipIf(!ok)("serve --ecs-metadata and peers from other network namespaces", () => {
  let report: Report;

  test("the scenario runs to the end", async () => {
    const run = await scenarioReport<Report>(a, "test/e2e/ecs-metadata-peer-scenario.ts", { args: [b] });
    report = run.report;
    expect({ error: report.error, stderr: run.stderr }).toEqual({ error: undefined, stderr: "" });
  }, 90_000);

  test("a client in the listener's own namespace gets credentials", () => {
    expect(report.local.status).toBe(200);
    expect(JSON.parse(report.local.body)).toHaveProperty("AccessKeyId");
  });

  test("a client in another namespace, routed in over a veth, gets 403 and no credentials", () => {
    expect(report.other.status).toBe(403);
    expect(report.other.body).not.toContain("AccessKeyId");
  });

  test("the refusal is logged with the peer's address", () => {
    expect(report.refusals).toHaveLength(1);
    expect(report.refusals[0]).toMatchObject({ level: "warn", peer: ADDRESS_B });
  });
});
