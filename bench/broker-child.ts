/**
 * Run by bench/broker.bench.ts as the command under `credproxy broker exec [--imds]`: measures
 * credential fetches through the endpoint it was given, once with raw fetch and once with the
 * AWS SDK for JavaScript's own provider (a fresh provider per call, so nothing is cached).
 * Prints one JSON line: { raw: {p50,p99}, sdk: {p50,p99} } in milliseconds.
 */
import { fromHttp, fromInstanceMetadata } from "@aws-sdk/credential-providers";
import { timeLoop } from "./latency.ts";

const mode = process.argv[2] as "ecs" | "imds";
const N = Number(process.argv[3] ?? 1000);
const SDK_N = Math.min(N, 300);

let raw: () => Promise<unknown>;
let sdk: () => Promise<unknown>;
if (mode === "ecs") {
  const url = process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI!;
  const token = process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN!;
  raw = async () => (await fetch(url, { headers: { authorization: token } })).json();
  sdk = () => fromHttp({})();
} else {
  const base = (process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT ?? "http://169.254.169.254/").replace(/\/$/, "");
  raw = async () => {
    const token = await (await fetch(`${base}/latest/api/token`, { method: "PUT", headers: { "x-aws-ec2-metadata-token-ttl-seconds": "21600" } })).text();
    const h = { "x-aws-ec2-metadata-token": token };
    const role = await (await fetch(`${base}/latest/meta-data/iam/security-credentials/`, { headers: h })).text();
    return (await fetch(`${base}/latest/meta-data/iam/security-credentials/${role}`, { headers: h })).json();
  };
  sdk = () => fromInstanceMetadata({})();
}
console.log(JSON.stringify({ raw: await timeLoop(N, raw), sdk: await timeLoop(SDK_N, sdk) }));
