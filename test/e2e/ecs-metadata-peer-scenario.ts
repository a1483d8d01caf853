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
import { freePort } from "../helpers/ports.ts";
import { writeFile } from "node:fs/promises";

const TOKEN = "ecs-peer-token-0123456789abcdef0123";
const otherNamespace = process.argv[2]!;

/** GET /v1/credentials at 169.254.170.2 from the namespace `ns` (undefined: this one). */
async function request(ns: string | undefined): Promise<{ status: number; body: string }> {
  const script = `const r = await fetch("http://169.254.170.2/v1/credentials", { headers: { authorization: ${JSON.stringify(TOKEN)} } });
    console.log(JSON.stringify({ status: r.status, body: await r.text() }));`;
  const command = [...(ns ? ["ip", "netns", "exec", ns] : []), process.execPath, "-e", script];
  const proc = Bun.spawn(command, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) return { status: -1, body: err.slice(-500) };
  return JSON.parse(out.trim()) as { status: number; body: string };
}

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
