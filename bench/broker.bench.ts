/**
 * Credential latency through the broker's paths, p50/p99: `broker exec` (ECS endpoint) and
 * `broker exec --imds` (token PUT + role list + credentials), each with a raw HTTP loop and
 * with the JS SDK's own provider, measured in the same run. The IMDS run is unprivileged
 * (setpriv, no capabilities) so credproxy serves on 127.0.0.1 instead of adding the metadata
 * address to this machine's lo: all traffic stays on loopback.
 */
import { join } from "node:path";
import { startMoto } from "../test/helpers/moto.ts";

const BIN = join(import.meta.dir, "..", "dist", "credproxy");
const CHILD = join(import.meta.dir, "broker-child.ts");
const BUN = process.execPath;
const moto = await startMoto();
const env = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: "/tmp",
  AWS_CONFIG_FILE: "/dev/null",
  AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
  AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
  AWS_SECRET_ACCESS_KEY: "bench-source-secret",
  AWS_ENDPOINT_URL_STS: moto.endpoint,
  AWS_REGION: "us-east-1",
};
const role = moto.roleArn("role-a");
async function run(argv: string[]) {
  const p = Bun.spawn(argv, { env, stdout: "pipe", stderr: "pipe", cwd: join(import.meta.dir, "..") });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${err}`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as Record<"raw" | "sdk", { p50: number; p99: number; n: number }>;
}
try {
  const ecs = await run([BIN, "broker", "exec", "--role-arn", role, "--", BUN, CHILD, "ecs"]);
  const unprivileged = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"];
  const imds = await run([...unprivileged, BIN, "broker", "exec", "--imds", "--role-arn", role, "--", BUN, CHILD, "imds"]);
  const row = (path: string, r: typeof ecs) =>
    `| ${path} | ${r.raw.p50} / ${r.raw.p99} ms (n=${r.raw.n}) | ${r.sdk.p50} / ${r.sdk.p99} ms (n=${r.sdk.n}) |`;
  console.log(["| path | raw HTTP loop p50 / p99 | JS SDK provider p50 / p99 |", "|---|---|---|", row("`broker exec` (ECS endpoint + token)", ecs), row("`broker exec --imds` (token PUT + list + credentials)", imds)].join("\n"));
} finally {
  await moto.stop();
}
