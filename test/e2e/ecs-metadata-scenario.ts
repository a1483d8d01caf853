/**
 * Runs INSIDE a network namespace created by ecs-metadata.test.ts (`ip netns exec <ns> bun
 * this-file`): moto, credproxy serve --ecs-metadata and the SDK clients all live in that
 * namespace, so 169.254.170.2 exists only there. Prints one JSON report on stdout.
 */
import { readdirSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BINARY_PATH, cleanEnv, REPO_ROOT, spawnCredproxy, tempDir } from "../helpers/binary.ts";
import { commandFor } from "../helpers/clients.ts";
import { startMoto } from "../helpers/moto.ts";
import { freePort } from "../helpers/ports.ts";
import { loAddresses, runScenario } from "../helpers/netns.ts";

export const TOKEN = "ecs-namespace-token-0123456789abcdef";
export const RELATIVE = "/v2/credentials/7c1e9a3f5b2d4e6f8a0c1e3b5d7f9a2c";

async function client(kind: "boto3" | "js-sdk", env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn(commandFor(kind), { env, stdout: "pipe", stderr: "pipe", cwd: env.HOME ?? "/" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out: out.trim(), err: err.slice(-1500) };
}

await runScenario(async (report) => {
  const moto = await startMoto();
  const dir = await tempDir("credproxy-ecsns-");
  await chmod(dir, 0o755); // the unprivileged run below must read the config
  const port = await freePort();
  const config = join(dir, "config.yaml");
  await writeFile(
    config,
    [
      `server: { port: ${port}, task_metadata: { cluster: ns-cluster } }`,
      `aws_defaults: { region: us-east-1, sts_endpoint: "${moto.endpoint}", iam_keys: { aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: secretsecretsecret } }`,
      "services:",
      "  app:",
      `    auth_token: ${TOKEN}`,
      `    relative_uri: ${RELATIVE}`,
      `    assumed_role: { RoleArn: "${moto.roleArn("role-a")}", RoleSessionName: ecs-ns }`,
    ].join("\n"),
  );
  await chmod(config, 0o644);
  report.before = await loAddresses();

  const serve = spawnCredproxy(["serve", "--config", config, "--ecs-metadata"], {});
  await serve.waitForLine(/credproxy serve listening/, 15_000);
  report.during = await loAddresses();
  // After binding it runs as 65532 with CAP_NET_ADMIN alone; every thread, as the kernel sees it.
  report.status = await Bun.file(`/proc/${serve.pid}/status`).text();
  report.threads = await Promise.all(
    readdirSync(`/proc/${serve.pid}/task`).map((tid) => Bun.file(`/proc/${serve.pid}/task/${tid}/status`).text().catch(() => "")),
  ).then((all) => all.filter((t) => t !== ""));
  report.dropLog = serve.logRecords().find((r) => r.msg === "dropped privileges after binding");

  const home = await tempDir("credproxy-ecsns-home-");
  const base = await cleanEnv({ HOME: home, AWS_REGION: "us-east-1", AWS_DEFAULT_REGION: "us-east-1", AWS_ENDPOINT_URL_STS: moto.endpoint });
  const relative = { ...base, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: RELATIVE };
  const full = { ...base, AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://169.254.170.2/v1/credentials", AWS_CONTAINER_AUTHORIZATION_TOKEN: TOKEN };
  report.clients = {
    "boto3 relative": await client("boto3", relative),
    "js-sdk relative": await client("js-sdk", relative),
    "boto3 full": await client("boto3", full),
    "js-sdk full": await client("js-sdk", full),
  };
  // ECS task metadata on the ECS address, read by OpenTelemetry's detector as on ECS.
  const taskUri = serve.logRecords().find((r) => typeof r.task_metadata_uri_v4 === "string")?.task_metadata_uri_v4 as string | undefined;
  const detector = Bun.spawn(["node", join(REPO_ROOT, "test/helpers/otel-ecs-detector.mjs")], {
    cwd: REPO_ROOT,
    env: { PATH: base.PATH, ECS_CONTAINER_METADATA_URI_V4: taskUri ?? "" },
    stdout: "pipe",
    stderr: "pipe",
  });
  report.taskMetadata = { uri: taskUri, attributes: JSON.parse((await new Response(detector.stdout).text()) || "{}"), code: await detector.exited };

  report.exit = await serve.kill("SIGTERM", 5000);
  report.after = await loAddresses();

  // Without CAP_NET_ADMIN: an unprivileged uid with no capabilities at all.
  const denied = Bun.spawn(
    ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", BINARY_PATH, "serve", "--config", config, "--ecs-metadata"],
    { env: { PATH: base.PATH, HOME: "/tmp" }, stdout: "pipe", stderr: "pipe" },
  );
  const [deniedErr, deniedCode] = await Promise.all([new Response(denied.stderr).text(), denied.exited]);
  report.unprivileged = { code: deniedCode, stderr: deniedErr };
  report.afterDenied = await loAddresses();

  // server.user: root keeps root, and says what that costs.
  const rootConfig = join(dir, "config-root.yaml");
  await writeFile(rootConfig, (await Bun.file(config).text()).replace(`server: { port: ${port},`, `server: { port: ${port}, user: root,`));
  const keepRoot = spawnCredproxy(["serve", "--config", rootConfig, "--ecs-metadata"], {});
  await keepRoot.waitForLine(/credproxy serve listening/, 15_000);
  report.keepRoot = {
    status: await Bun.file(`/proc/${keepRoot.pid}/status`).text(),
    warning: keepRoot.logRecords().find((r) => r.level === "warn" && String(r.msg).startsWith("server.user is root")),
    exit: await keepRoot.kill("SIGTERM", 5000),
  };

  // Root that could not drop to 65532 (no CAP_SETUID/CAP_SETGID): refused before any address is added.
  const cannotDrop = Bun.spawn(
    ["setpriv", "--bounding-set=-setuid,-setgid", "--inh-caps=-all", BINARY_PATH, "serve", "--config", config, "--ecs-metadata"],
    { env: { PATH: base.PATH, HOME: "/tmp" }, stdout: "pipe", stderr: "pipe" },
  );
  // A build that starts anyway would serve forever: stop it, the report then shows the failure.
  const stopper = setTimeout(() => cannotDrop.kill("SIGKILL"), 10_000);
  const [cannotDropErr, cannotDropCode] = await Promise.all([new Response(cannotDrop.stderr).text(), cannotDrop.exited]);
  clearTimeout(stopper);
  report.cannotDrop = { code: cannotDropCode, stderr: cannotDropErr };
  report.afterCannotDrop = await loAddresses();
  await moto.stop();
});
