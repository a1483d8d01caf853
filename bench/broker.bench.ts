/**
 * Credential latency through the broker's paths, p50/p99: `broker exec` (ECS endpoint) and
 * `broker exec --imds` (token PUT + role list + credentials), each with a raw HTTP loop and
 * with the JS SDK's own provider, measured in the same run. The IMDS run is unprivileged
 * (setpriv, no capabilities) so credproxy serves on 127.0.0.1 instead of adding the metadata
 * address to this machine's lo: all traffic stays on loopback.
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromProcess } from "@aws-sdk/credential-providers";
import { startMoto } from "../test/helpers/moto.ts";
import { timeLoop, type Quantiles } from "./latency.ts";

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
  return JSON.parse(out.trim().split("\n").at(-1)!) as Record<"raw" | "sdk", Quantiles>;
}
/** broker serve on a unix socket: raw fetch({unix}) vs the SDK's credential_process provider. */
async function socketPath() {
  const dir = await mkdtemp(join(tmpdir(), "credproxy-bench-sock-"));
  const sock = join(dir, "broker.sock");
  const broker = Bun.spawn([BIN, "broker", "serve", "--socket", sock, "--role-arn", role, "--log-level", "error"], { env, stdout: "ignore", stderr: "pipe" });
  try {
    for (let i = 0; i < 200 && !(await Bun.file(sock).exists()); i++) await Bun.sleep(25);
    const raw = await timeLoop(1000, async () => (await fetch("http://localhost/", { unix: sock })).json());
    const config = join(dir, "config");
    await writeFile(config, `[profile bench]\ncredential_process = ${BIN} broker credential-process --socket ${sock}\n`);
    const sdk = await timeLoop(50, () => fromProcess({ profile: "bench", filepath: "/dev/null", configFilepath: config })());
    return { raw, sdk };
  } finally {
    broker.kill();
    await broker.exited;
  }
}

try {
  const ecs = await run([BIN, "broker", "exec", "--role-arn", role, "--", BUN, CHILD, "ecs"]);
  const unprivileged = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"];
  const imds = await run([...unprivileged, BIN, "broker", "exec", "--imds", "--role-arn", role, "--", BUN, CHILD, "imds"]);
  const row = (path: string, r: typeof ecs) =>
    `| ${path} | ${r.raw.p50} / ${r.raw.p99} ms (n=${r.raw.n}) | ${r.sdk.p50} / ${r.sdk.p99} ms (n=${r.sdk.n}) |`;
  const socket = await socketPath();
  console.log(
    [
      "| path | raw HTTP loop p50 / p99 | JS SDK provider p50 / p99 |",
      "|---|---|---|",
      row("`broker exec` (ECS endpoint + token; SDK: fromHttp)", ecs),
      row("`broker exec --imds` (token PUT + list + credentials; SDK: fromInstanceMetadata)", imds),
      row("`broker serve` unix socket (raw: fetch over the socket; SDK: fromProcess running `credproxy broker credential-process`)", socket),
    ].join("\n"),
  );
} finally {
  await moto.stop();
}
