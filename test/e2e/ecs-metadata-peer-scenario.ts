/**
 * Runs INSIDE namespace A of ecs-metadata-peer.test.ts: moto and `serve --ecs-metadata` live
 * here, then the same credential request is made from A and, through `ip netns exec`, from
 * namespace B (argv[2]), whose route to 169.254.170.2 goes over a veth pair into A.
 * Prints one JSON report on stdout.
 */
import { join } from "node:path";
import { spawnCredproxy, tempDir } from "../helpers/binary.ts";
import { startMoto } from "../helpers/moto.ts";
import { runScenario } from "../helpers/netns.ts";
import { fetchIn } from "../helpers/netns-pair.ts";
import { freePort } from "../helpers/ports.ts";
import { writeFile } from "node:fs/promises";

const TOKEN = "ecs-peer-token-0123456789abcdef0123";
const otherNamespace = process.argv[2]!;

const request = (ns: string | undefined) => fetchIn(ns, "http://169.254.170.2/v1/credentials", { authorization: TOKEN });

await runScenario(async (report) => {
  const moto = await startMoto();
  const dir = await tempDir("credproxy-ecspeer-");
  const config = join(dir, "config.yaml");
  await writeFile(
    config,
    [
      `server: { port: ${await freePort()} }`,
      `aws_defaults: { region: us-east-1, sts_endpoint: "${moto.endpoint}", iam_keys: { aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: secretsecretsecret } }`,
      "services:",
      "  app:",
      `    auth_token: ${TOKEN}`,
      `    assumed_role: { RoleArn: "${moto.roleArn("role-a")}", RoleSessionName: ecs-peer }`,
    ].join("\n"),
  );
  const serve = spawnCredproxy(["serve", "--config", config, "--ecs-metadata"], {});
  await serve.waitForLine(/credproxy serve listening/, 15_000);
  report.local = await request(undefined);
  report.other = await request(otherNamespace);
  report.refusals = serve.logRecords().filter((r) => String(r.msg).includes("refused"));
  await serve.kill("SIGTERM", 5000);
  await moto.stop();
});
