/**
 * What SigV4 re-signing costs: boto3 against moto (validating, behind a TLS front), direct
 * with the real keys and through the compiled `credproxy proxy` with placeholder keys, in the
 * same run, interleaved round by round; plus the cost of one re-signing in this process.
 *
 *   node_modules/.bin/bun bench/proxy-aws.bench.ts        (BENCH_ROUNDS, default 3 × 30 calls)
 *
 * Prints a Markdown section for docs/BENCHMARKS.md: medians of 1 MiB S3 PUT and GET and of
 * sts:GetCallerIdentity at c=1 (one client, keep-alive), and their ratios proxied/direct.
 */
import { resignRequest } from "../src/proxy/aws/resign-request.ts";
import { classifySigV4, type HeaderSignedRequest } from "../src/proxy/aws/sigv4-shape.ts";
import { cleanupAll, tempDir } from "../test/helpers/cleanup.ts";
import { startMoto } from "../test/helpers/moto.ts";
import { makeTestPki } from "../test/helpers/test-ca.ts";
import { startTlsFront } from "../test/helpers/tls-front.ts";
import { clientEnv, jsonOf, runClient } from "../test/e2e/proxy-client-run.ts";
import { startProxy } from "../test/e2e/proxy-fixture.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CALLS = 30;
const CLIENT = new URL("proxy-aws-client.py", import.meta.url).pathname;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const moto = await startMoto({ validating: true, roles: ["bench"] });
  const pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  const front = await startTlsFront(pki, moto.port);
  const endpoint = `https://localhost:${front.port}`;
  const proxy = await startProxy(`
tls: {upstream_ca_bundle: ${pki.caFile}}
allow: ["localhost:${front.port}"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - name: bench
    host: localhost:${front.port}
    aws:
      role_arn: ${moto.roleArn("bench")}
      source: {iam_keys: {aws_access_key_id: ${moto.user.accessKeyId}, aws_secret_access_key: "${moto.user.secretAccessKey}"}}
      sts_endpoint: ${moto.endpoint}
`);
  const base = { AWS_DEFAULT_REGION: "us-east-1", AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_EC2_METADATA_DISABLED: "true" };
  const proxied = { ...clientEnv(await proxy.sandboxEnv(["--aws"])), ...base };
  const direct = { ...clientEnv({}), ...base, AWS_CA_BUNDLE: pki.caFile, AWS_ACCESS_KEY_ID: moto.user.accessKeyId, AWS_SECRET_ACCESS_KEY: moto.user.secretAccessKey };
  const all: Record<"direct" | "proxied", Record<string, number[]>> = { direct: { sts: [], put: [], get: [] }, proxied: { sts: [], put: [], get: [] } };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, env] of [["direct", direct], ["proxied", proxied]] as const) {
      const times = jsonOf(await runClient(["python3", CLIENT, endpoint, String(CALLS), `${name}-${round}`], env, 300_000)) as Record<string, number[]>;
      for (const [op, ms] of Object.entries(times)) all[name][op]!.push(...ms.slice(1)); // the first call of a client opens its connection
    }
  }
  const rows = (["put", "get", "sts"] as const).map((op) => {
    const d = median(all.direct[op]!);
    const p = median(all.proxied[op]!);
    const label = { put: "S3 PutObject, 1 MiB", get: "S3 GetObject, 1 MiB", sts: "sts:GetCallerIdentity" }[op];
    return `| ${label} | ${d.toFixed(2)} ms | ${p.toFixed(2)} ms | ${(p / d).toFixed(2)} | +${(p - d).toFixed(2)} ms |`;
  });
  const resignUs = await resignCost();
  console.log(
    [
      `### Results (${new Date().toISOString().slice(0, 10)}), ${ROUNDS} × ${CALLS - 1} calls each, boto3 ${"c=1"}`,
      "",
      "| call | direct to moto (real keys) | through credproxy (placeholders, re-signed) | ratio | added |",
      "|---|---|---|---|---|",
      ...rows,
      "",
      `Re-signing alone (classify + @smithy/signature-v4, an S3 PUT head, in-process): **${resignUs.toFixed(1)} µs** per request (median of 5 × 2,000).`,
    ].join("\n"),
  );
}

/** Microseconds of classify + re-sign for a typical S3 PUT head. */
async function resignCost(): Promise<number> {
  const headers: Record<string, string> = {
    host: "s3.eu-west-1.amazonaws.com",
    "x-amz-date": "20260101T101010Z",
    "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    "x-amz-security-token": "placeholder",
    "x-amz-trailer": "x-amz-checksum-crc32",
    "content-encoding": "aws-chunked",
    authorization: `AWS4-HMAC-SHA256 Credential=ASIAPLACEHOLDER00001/20260101/eu-west-1/s3/aws4_request, SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-trailer, Signature=${"0".repeat(64)}`,
  };
  const credentials = { accessKeyId: "ASIAROLEKEY000000001", secretAccessKey: "s".repeat(40), sessionToken: "t".repeat(600) };
  const samples: number[] = [];
  for (let s = 0; s < 5; s++) {
    const started = performance.now();
    for (let i = 0; i < 2000; i++) {
      const shape = classifySigV4(Object.entries(headers), "/bucket/key") as HeaderSignedRequest;
      await resignRequest({ method: "PUT", target: "/bucket/key", headers, shape, credentials });
    }
    samples.push(((performance.now() - started) * 1000) / 2000);
  }
  return median(samples);
}

try {
  await main();
} finally {
  await cleanupAll();
}
