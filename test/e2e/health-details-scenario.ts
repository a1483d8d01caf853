/**
 * Runs INSIDE namespace A of health-details.test.ts: two `serve`s on 0.0.0.0 whose only service
 * cannot reach STS (so /health is 503 with a reason), one with the default health_details
 * (local) and one with `public`. /health and `credproxy healthcheck` are then asked from A
 * (over 127.0.0.1 and over A's veth address) and from namespace B (argv[2]).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BINARY_PATH, spawnCredproxy, tempDir } from "../helpers/binary.ts";
import { runScenario } from "../helpers/netns.ts";
import { ADDRESS_A, fetchIn, runIn } from "../helpers/netns-pair.ts";
import { freePort } from "../helpers/ports.ts";

const other = process.argv[2]!;

async function startServe(details: string | undefined): Promise<{ port: number; stop(): Promise<unknown> }> {
  const dir = await tempDir("credproxy-healthns-");
  const port = await freePort();
  const config = join(dir, "config.yaml");
  await writeFile(
    config,
    [
      `server: { host: 0.0.0.0, port: ${port}${details ? `, health_details: ${details}` : ""} }`,
      `aws_defaults: { region: us-east-1, sts_endpoint: "http://127.0.0.1:9", iam_keys: { aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: secretsecretsecret } }`,
      "services:",
      "  app:",
      "    auth_token: health-details-token-0123456789abcdef",
      "    assumed_role: { RoleArn: arn:aws:iam::123456789012:role/health-app }",
    ].join("\n"),
  );
  const serve = spawnCredproxy(["serve", "--config", config], {});
  await serve.waitForLine(/credproxy serve listening/, 15_000);
  // The first refresh has failed once the cache says so; until then the reason is "fetching".
  await serve.waitForLog((r) => r.msg === "credential refresh failed", 15_000);
  return { port, stop: () => serve.kill("SIGTERM", 5000) };
}

await runScenario(async (report) => {
  const local = await startServe(undefined);
  const open = await startServe("public");
  const health = (ns: string | undefined, host: string, port: number) => fetchIn(ns, `http://${host}:${port}/health`);
  report.loopback = await health(undefined, "127.0.0.1", local.port);
  report.ownAddress = await health(undefined, ADDRESS_A, local.port);
  report.otherNamespace = await health(other, ADDRESS_A, local.port);
  report.otherNamespacePublic = await health(other, ADDRESS_A, open.port);
  report.healthcheckLocal = await runIn(undefined, [BINARY_PATH, "healthcheck", `http://127.0.0.1:${local.port}/health`]);
  report.healthcheckOther = await runIn(other, [BINARY_PATH, "healthcheck", `http://${ADDRESS_A}:${local.port}/health`]);
  await Promise.all([local.stop(), open.stop()]);
});
