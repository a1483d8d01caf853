/**
 * Runs INSIDE a network namespace created by loopback-leftovers.test.ts (`ip netns exec <ns>
 * bun this-file`): `serve --ecs-metadata` (169.254.170.2) and `broker imds` (169.254.169.254)
 * are stopped with every catchable terminating signal, SIGKILLed and restarted, and cleaned up
 * after with `credproxy cleanup`. STS is a closed loopback port: no credentials are needed to
 * add an address and listen. Prints one JSON report on stdout.
 */
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BINARY_PATH, runCredproxy, spawnCredproxy, tempDir, type CredproxyProcess } from "../helpers/binary.ts";
import { freePort } from "../helpers/ports.ts";
import { loAddresses, runScenario } from "../helpers/netns.ts";
import { ECS, IMDS, LEFTOVER_LOG, STOP_SIGNALS, UNRECORDED, type KillCase, type Kind, type SignalCase } from "./loopback-leftovers-cases.ts";

await runScenario(async (report) => {
  // Only in the namespace the test made: there, lo is the only interface.
  const links = ((await Bun.$`ip -j link show`.json()) as { ifname: string }[]).map((l) => l.ifname);
  if (links.join(",") !== "lo") throw new Error(`refusing to run outside a fresh network namespace (interfaces: ${links.join(", ")})`);
  const runtime = await tempDir("credproxy-leftovers-run-");
  const dir = await tempDir("credproxy-leftovers-");
  await chmod(dir, 0o755);
  const port = await freePort();
  const sts = `http://127.0.0.1:${await freePort()}`; // nothing listens: refreshes fail, locally
  const config = join(dir, "config.yaml");
  await writeFile(
    config,
    [
      `server: { port: ${port} }`,
      `aws_defaults: { region: us-east-1, sts_endpoint: "${sts}", iam_keys: { aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: secretsecretsecret } }`,
      "services:",
      "  app:",
      "    auth_token: leftovers-token-0123456789abcdef",
      '    assumed_role: { RoleArn: "arn:aws:iam::123456789012:role/role-a", RoleSessionName: leftovers }',
    ].join("\n"),
  );
  const env = {
    CREDPROXY_RUNTIME_DIR: runtime,
    AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
    AWS_SECRET_ACCESS_KEY: "secretsecretsecret",
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL_STS: sts,
  };
  const start = async (kind: Kind): Promise<CredproxyProcess> => {
    const args =
      kind === "serve"
        ? ["serve", "--config", config, "--ecs-metadata"]
        : ["broker", "imds", "--role-arn", "arn:aws:iam::123456789012:role/role-a", "--log-level", "info"];
    const p = spawnCredproxy(args, { env });
    await p.waitForLine(kind === "serve" ? /credproxy serve listening/ : /credproxy broker imds listening/, 15_000);
    return p;
  };
  const addressOf = (kind: Kind): string => (kind === "serve" ? ECS : IMDS);
  const onLo = async (address: string): Promise<boolean> => (await loAddresses()).includes(address);
  // Keeps the cases independent when a run (the old code) leaves its address behind.
  const scrub = async (address: string): Promise<void> => {
    if (await onLo(address)) await Bun.$`ip addr del ${address}/32 dev lo`.quiet().nothrow();
  };

  const signals: Record<string, Record<string, SignalCase>> = { serve: {}, imds: {} };
  const kills: Record<string, KillCase> = {};
  for (const kind of ["serve", "imds"] as const) {
    const address = addressOf(kind);
    for (const signal of STOP_SIGNALS) {
      const p = await start(kind);
      const exit = await p.kill(signal, 5000);
      signals[kind]![signal] = { exit, left: await onLo(address) };
      await scrub(address);
    }

    // SIGKILL: no handler runs; the next start removes the recorded leftover and serves.
    const killed = await start(kind);
    await killed.kill("SIGKILL", 5000);
    const leftAfterKill = await onLo(address);
    const next = await start(kind);
    const path = kind === "serve" ? "/health" : "/latest/api/token";
    // Any HTTP answer is credproxy serving (serve's /health is 503 while STS is unreachable).
    const served = await fetch(`http://${address}${path}`, {
      method: kind === "serve" ? "GET" : "PUT",
      headers: kind === "serve" ? {} : { "x-aws-ec2-metadata-token-ttl-seconds": "60" },
    }).then(
      (r) => r.status,
      (e: unknown) => String(e),
    );
    kills[kind] = {
      leftAfterKill,
      leftoverLogs: next.stderrLines.filter((l) => l.includes(LEFTOVER_LOG)),
      onLoAgain: await onLo(address),
      served,
      exitAfter: await next.kill("SIGTERM", 5000),
      leftAtEnd: await onLo(address),
    };
    await scrub(address);
  }
  report.signals = signals;
  report.kills = kills;

  // cleanup: a SIGKILLed serve's 169.254.170.2 goes; a live broker imds's 169.254.169.254 and an
  // address added with ip (never recorded) stay.
  await Bun.$`ip addr add ${UNRECORDED}/32 dev lo`.quiet();
  // The live run first: a start removes every dead run's leftovers, not only its own address.
  const live = await start("imds");
  const dead = await start("serve");
  await dead.kill("SIGKILL", 5000);
  const before = await loAddresses();
  // Root without CAP_NET_ADMIN: reads the record, cannot remove, says why, keeps the record.
  const unprivileged = await runCredproxy(["--inh-caps=-all", "--bounding-set=-all", BINARY_PATH, "cleanup"], { env, binary: "/usr/bin/setpriv" });
  const afterUnprivileged = await loAddresses();
  const dryRun = await runCredproxy(["cleanup", "--dry-run"], { env });
  const afterDryRun = await loAddresses();
  const cleanup = await runCredproxy(["cleanup"], { env });
  const after = await loAddresses();
  const again = await runCredproxy(["cleanup"], { env });
  const liveExit = await live.kill("SIGTERM", 5000);
  // A state directory that cannot be written (a read-only root): warn once, serve anyway.
  const readOnly = spawnCredproxy(["broker", "imds", "--role-arn", "arn:aws:iam::123456789012:role/role-a"], { env: { ...env, CREDPROXY_RUNTIME_DIR: "/proc/credproxy" } });
  await readOnly.waitForLine(/credproxy broker imds listening/, 15_000);
  report.readOnly = {
    warnings: readOnly.stderrLines.filter((l) => l.includes("cannot record the loopback addresses")).length,
    during: await onLo(IMDS),
    exit: await readOnly.kill("SIGTERM", 5000),
    after: await onLo(IMDS),
  };
  report.cleanup = { before, unprivileged, afterUnprivileged, dryRun, afterDryRun, cleanup, after, again, liveExit, livePid: live.pid, deadPid: dead.pid, atEnd: await loAddresses() };
});
