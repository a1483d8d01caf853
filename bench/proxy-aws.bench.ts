/**
 * What SigV4 re-signing costs: boto3 against moto (validating, behind a TLS front), direct
 * with the real keys, through the compiled `credproxy proxy` with the keys its container
 * endpoint serves (intercepted, forwarded without re-signing), and through it with placeholder
 * keys (re-signed), in the same run, interleaved round by round; the re-signed arm minus the
 * intercepted one is what re-signing adds at c=1. Plus the cost of one re-signing in this process.
 *
 *   node_modules/.bin/bun bench/proxy-aws.bench.ts        (BENCH_ROUNDS, default 3 × 30 calls)
 *
 * Prints a Markdown section for docs/BENCHMARKS.md: medians of 1 MiB S3 PUT and GET and of
 * sts:GetCallerIdentity at c=1 (one client, keep-alive), the ratio re-signed/direct, and the
 * latency the proxy adds and the part of it re-signing adds.
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
  // a token, so the container endpoint serves the intercepted-only arm its keys
  const proxy = await startProxy(`
token: bench-token-9Qm4Xr7Lz2Wk8Vn5B3Hc8Jd2
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
      container_endpoint: true
`);
  const base = { AWS_DEFAULT_REGION: "us-east-1", AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_EC2_METADATA_DISABLED: "true" };
  const proxied = { ...clientEnv(await proxy.sandboxEnv(["--aws"])), ...base };
  const intercepted = { ...clientEnv(await proxy.sandboxEnv(["--aws-endpoint"])), ...base };
  const direct = { ...clientEnv({}), ...base, AWS_CA_BUNDLE: pki.caFile, AWS_ACCESS_KEY_ID: moto.user.accessKeyId, AWS_SECRET_ACCESS_KEY: moto.user.secretAccessKey };
  const arms = { direct, intercepted, proxied };
  const times = (): Record<string, number[]> => ({ sts: [], put: [], get: [] });
  const all: Record<keyof typeof arms, Record<string, number[]>> = { direct: times(), intercepted: times(), proxied: times() };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, env] of Object.entries(arms) as [keyof typeof arms, Record<string, string>][]) {
      const times = jsonOf(await runClient(["python3", CLIENT, endpoint, String(CALLS), `${name}-${round}`], env, 300_000)) as Record<string, number[]>;
      for (const [op, ms] of Object.entries(times)) all[name][op]!.push(...ms.slice(1)); // the first call of a client opens its connection
    }
  }
  const rows = (["put", "get", "sts"] as const).map((op) => {
    const d = median(all.direct[op]!);
    const i = median(all.intercepted[op]!);
    const p = median(all.proxied[op]!);
    const label = { put: "S3 PutObject, 1 MiB", get: "S3 GetObject, 1 MiB", sts: "sts:GetCallerIdentity" }[op];
    const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(2)} ms`;
    return `| ${label} | ${d.toFixed(2)} ms | ${i.toFixed(2)} ms | ${p.toFixed(2)} ms | ${(p / d).toFixed(2)} | ${signed(p - d)} | ${signed(p - i)} |`;
  });
  const resignUs = await resignCost();
  console.log(
    [
      `### Results (${new Date().toISOString().slice(0, 10)}), ${ROUNDS} × ${CALLS - 1} calls each, boto3 ${"c=1"}`,
      "",
      "| call | direct to moto (real keys) | through credproxy, not re-signed (container-endpoint keys) | through credproxy (placeholders, re-signed) | ratio re-signed/direct | added by the proxy | of which re-signing |",
      "|---|---|---|---|---|---|---|",
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
  const DATED = new Date("2026-01-01T10:10:10Z"); // the head's own X-Amz-Date: the usual path, not the re-dating one
  const credentials = { accessKeyId: "ASIAROLEKEY000000001", secretAccessKey: "s".repeat(40), sessionToken: "t".repeat(600) };
  const samples: number[] = [];
  for (let s = 0; s < 5; s++) {
    const started = performance.now();
    for (let i = 0; i < 2000; i++) {
      const shape = classifySigV4(Object.entries(headers), "/bucket/key") as HeaderSignedRequest;
      await resignRequest({ method: "PUT", target: "/bucket/key", headers, shape, credentials, now: DATED });
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
