/**
 * AWS without keys in the sandbox: the compiled `credproxy proxy` in front of moto (validating
 * every signature, session token and policy once its setup calls are spent), behind a TLS
 * front that records what reached moto. The aws CLI and boto3 get only what `proxy env --aws`
 * prints: placeholder keys, the proxy URL and the trust bundle. What they sign with the
 * placeholders must arrive signed by the role; what cannot be re-signed must be refused
 * before it leaves, and no placeholder may ever reach moto.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "../../src/proxy/aws/sha256.ts";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { curl } from "../helpers/curl.ts";
import { ACCOUNT_ID, startMoto, type ValidatingMoto } from "../helpers/moto.ts";
import { makeTestPki } from "../helpers/test-ca.ts";
import { startTlsFront, type TlsFront } from "../helpers/tls-front.ts";
import { NODE, clientEnv, jsonOf, runClient } from "./proxy-client-run.ts";
import { startProxy, type RunningProxy } from "./proxy-fixture.ts";

const BOTO3 = join(import.meta.dir, "clients", "boto3-aws.py");
const ROLE = "sandbox";

let moto: ValidatingMoto;
let front: TlsFront;
let proxy: RunningProxy;
let env: Record<string, string>;
let endpoint: string;
let originCa: string;

beforeAll(async () => {
  moto = await startMoto({ validating: true, roles: [ROLE] });
  const pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  front = await startTlsFront(pki, moto.port);
  originCa = pki.caFile;
  endpoint = `https://localhost:${front.port}`;
  proxy = await startProxy(`
tls: {upstream_ca_bundle: ${pki.caFile}}
allow: ["localhost:${front.port}"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - name: sandbox-role
    host: localhost:${front.port}
    aws:
      role_arn: ${moto.roleArn(ROLE)}
      source: {iam_keys: {aws_access_key_id: ${moto.user.accessKeyId}, aws_secret_access_key: "${moto.user.secretAccessKey}"}}
      sts_endpoint: ${moto.endpoint}
`);
  env = { ...clientEnv(await proxy.sandboxEnv(["--aws"])), AWS_DEFAULT_REGION: "us-east-1", AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_EC2_METADATA_DISABLED: "true" };
}, 60_000);
afterAll(cleanupAll);

/**
 * A chunk-signed PUT as the SDKs make it over plain http, signed with the sandbox's placeholder
 * keys by @smithy/signature-v4: the head, then each 64 KiB chunk chained from the signature before.
 */
async function chunkSignedPut(host: string, path: string, data: Buffer, keys: Record<string, string>): Promise<{ headers: Record<string, string>; body: Buffer }> {
  const credentials = { accessKeyId: keys.AWS_ACCESS_KEY_ID!, secretAccessKey: keys.AWS_SECRET_ACCESS_KEY!, sessionToken: keys.AWS_SESSION_TOKEN! };
  const signer = new SignatureV4({ credentials, region: "us-east-1", service: "s3", sha256: Sha256, uriEscapePath: false });
  const sizes: number[] = [];
  for (let at = 0; at < data.length; at += 65_536) sizes.push(Math.min(65_536, data.length - at));
  sizes.push(0);
  const length = sizes.reduce((sum, n) => sum + n.toString(16).length + ";chunk-signature=".length + 64 + 2 + (n > 0 ? n + 2 : 0), 0) + 2;
  const date = new Date();
  const head = await signer.sign(
    { method: "PUT", protocol: "https:", hostname: "localhost", path, query: {}, headers: { host, "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "content-encoding": "aws-chunked", "x-amz-decoded-content-length": String(data.length), "content-length": String(length) } },
    { signingDate: date },
  );
  let previous = /Signature=(\w+)/.exec(head.headers.authorization!)![1]!;
  const parts: Buffer[] = [];
  let at = 0;
  for (const size of sizes) {
    const chunk = data.subarray(at, at + size);
    at += size;
    previous = await signer.sign({ headers: new Uint8Array(0), payload: chunk }, { signingDate: date, priorSignature: previous });
    parts.push(Buffer.from(`${size.toString(16)};chunk-signature=${previous}\r\n`), ...(size > 0 ? [chunk, Buffer.from("\r\n")] : []));
  }
  parts.push(Buffer.from("\r\n"));
  const body = Buffer.concat(parts);
  expect(body.length).toBe(length);
  return { headers: head.headers, body };
}

const boto3 = (...args: string[]) => runClient(["python3", BOTO3, endpoint, ...args], env, 60_000);

/** A request through the proxy as curl sends it, trusting only the proxy's bundle. */
async function viaProxy(url: string, headers: string[] = [], extra: string[] = []): Promise<{ status: number; reason: string | undefined; body: string }> {
  const r = await curl(["-sS", "-i", "--proxy", env.HTTPS_PROXY!, "--cacert", proxy.bundle, ...headers.flatMap((h) => ["-H", h]), ...extra, url], 15_000);
  // curl -i shows the proxy's answer to CONNECT first, then the response through the tunnel
  const [head = "", body = ""] = r.stdout.replace(/^HTTP\/1\.1 200 Connection established\r\n\r\n/i, "").split("\r\n\r\n");
  return { status: Number(/^HTTP\/\S+ (\d+)/.exec(head)?.[1]), reason: /x-credproxy-deny-reason: (\S+)/i.exec(head)?.[1], body };
}

describe("AWS through credproxy proxy with placeholder keys only", () => {
  test("proxy env --aws prints placeholder keys shaped like temporary credentials", () => {
    expect(env.AWS_ACCESS_KEY_ID).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(env.AWS_SECRET_ACCESS_KEY).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(env.AWS_SESSION_TOKEN!.length).toBeGreaterThan(100);
    expect(env.AWS_ACCESS_KEY_ID).not.toBe(moto.user.accessKeyId);
  });

  test("aws sts get-caller-identity answers as the role, through a validating moto", async () => {
    const r = await runClient(["aws", "sts", "get-caller-identity", "--endpoint-url", endpoint, "--output", "json"], env, 60_000);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).Arn).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/${ROLE}/credproxy-proxy`);
  });

  test("the AWS SDK for JavaScript v3 (STS GetCallerIdentity) answers as the role", async () => {
    const r = await runClient([NODE, join(import.meta.dir, "clients", "js-sdk-sts-via-proxy.mjs"), endpoint], env, 60_000);
    expect(jsonOf(r)).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/${ROLE}/credproxy-proxy`);
  });

  test("boto3 sts.get_caller_identity answers as the role", async () => {
    expect(jsonOf(await boto3("identity"))).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/${ROLE}/credproxy-proxy`);
  });

  test("boto3 S3 put/get round-trips 20 MiB with its default upload (multipart, unsigned trailer), intact", async () => {
    const result = jsonOf(await boto3("roundtrip", String(20 * 1024 * 1024)));
    expect(result).toEqual({ small: true, big: true, bigSize: 20 * 1024 * 1024, missing: "NoSuchKey" });
    const heads = front.heads();
    const shapes = heads.map((h) => /x-amz-content-sha256: (\S+)/i.exec(h)?.[1]);
    expect(shapes).toContain("STREAMING-UNSIGNED-PAYLOAD-TRAILER");
    // multipart: ?uploads, ?partNumber=…&uploadId=… and the completing POST were all re-signed and accepted
    expect(heads.some((h) => /^POST \S+\?uploads/.test(h))).toBe(true);
    expect(heads.filter((h) => /^PUT \S+partNumber=/.test(h)).length).toBeGreaterThanOrEqual(2);
  }, 60_000);

  test("a chunk-signed upload (the SDK signer's STREAMING-AWS4-HMAC-SHA256-PAYLOAD) is signed again chunk by chunk and stored intact", async () => {
    const data = Buffer.from(Array.from({ length: 140_000 }, (_, i) => i % 251));
    const { headers, body } = await chunkSignedPut(`localhost:${front.port}`, "/sandbox/chunked.bin", data, env);
    const file = join(await tempDir(), "chunked.body");
    await Bun.write(file, body);
    const r = await curl(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--proxy", env.HTTPS_PROXY!, "--cacert", proxy.bundle, "-X", "PUT", "-H", "content-type: application/octet-stream", ...Object.entries(headers).flatMap(([n, v]) => ["-H", `${n}: ${v}`]), "--data-binary", `@${file}`, `${endpoint}/sandbox/chunked.bin`], 15_000);
    expect(r.stdout).toBe("200");
    expect(jsonOf(await boto3("sha256", "chunked.bin"))).toBe(createHash("sha256").update(data).digest("hex"));
    const head = front.heads().find((h) => h.startsWith("PUT /sandbox/chunked.bin"))!;
    expect(head).toContain("x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    expect(front.sent().includes(body.subarray(0, 90).toString("latin1"))).toBe(false); // the first chunk line, with its placeholder signature, never arrived
  });

  test("what reached moto was signed by the role: no placeholder key, secret or token ever got there", () => {
    const sent = front.sent();
    expect(sent.length).toBeGreaterThan(0);
    // includes(), not toContain(): a failure must not print megabytes of upload
    expect(sent.includes(env.AWS_ACCESS_KEY_ID!)).toBe(false);
    expect(sent.includes(env.AWS_SECRET_ACCESS_KEY!)).toBe(false);
    expect(sent.includes(env.AWS_SESSION_TOKEN!)).toBe(false);
    for (const head of front.heads()) expect(head).toMatch(/authorization: AWS4-HMAC-SHA256 Credential=ASIA/i);
  });

  test("the role's session token never reaches the sandbox's answers or the proxy's log", async () => {
    const token = /x-amz-security-token: (\S+)/i.exec(front.heads()[0] ?? "")?.[1];
    expect(token).toBeDefined();
    const r = await boto3("identity");
    expect(r.stdout + r.stderr).not.toContain(token!);
    expect([...proxy.proc.stdoutLines, ...proxy.proc.stderrLines].join("\n")).not.toContain(token!);
  });
});

describe("AWS requests the proxy refuses before they leave", () => {
  test("a presigned URL (SigV4 or boto3's SigV2 default) is refused, and never reaches moto", async () => {
    const url = jsonOf(await boto3("presign", "v4")) as string;
    expect(url).toContain("X-Amz-Signature=");
    const before = front.heads().length;
    const r = await viaProxy(url);
    expect(r).toMatchObject({ status: 403, reason: "aws-presigned" });
    expect(r.body).toContain("presigned");
    const v2 = jsonOf(await boto3("presign", "v2")) as string;
    expect(v2).toContain("AWSAccessKeyId=");
    expect((await viaProxy(v2)).reason).toBe("aws-presigned");
    const junk = await viaProxy(url, [`Authorization: AWS4-HMAC-SHA256 Credential=${env.AWS_ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${"0".repeat(64)}`]);
    expect(junk.reason).toBe("aws-presigned");
    expect(front.heads().length).toBe(before);
  });

  test("a request signed with the real source key is refused as a real key", async () => {
    expect(jsonOf(await boto3("keys", moto.user.accessKeyId, moto.user.secretAccessKey))).toEqual({ status: 403, reason: "aws-real-key" });
  });

  test("a request signed with a key that is no placeholder of this run is refused", async () => {
    expect(jsonOf(await boto3("keys", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))).toEqual({ status: 403, reason: "aws-unknown-key" });
  });

  test("a SigV4A header and a chunk-signed upload with a signed trailer are refused with their reasons", async () => {
    const sig = "0".repeat(64);
    const v4a = await viaProxy(`${endpoint}/sandbox/small.txt`, [`Authorization: AWS4-ECDSA-P256-SHA256 Credential=${env.AWS_ACCESS_KEY_ID}/20260101/s3/aws4_request, SignedHeaders=host;x-amz-region-set, Signature=${sig}`, "X-Amz-Region-Set: *"]);
    expect(v4a).toMatchObject({ status: 403, reason: "aws-sigv4a" });
    const chunked = await viaProxy(`${endpoint}/sandbox/small.txt`, [
      `Authorization: AWS4-HMAC-SHA256 Credential=${env.AWS_ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${sig}`,
      "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
      "x-amz-date: 20260101T000000Z",
    ]);
    expect(chunked).toMatchObject({ status: 403, reason: "aws-chunk-signed" });
    const notChunked = await viaProxy(`${endpoint}/sandbox/not-chunked.txt`, [
      `Authorization: AWS4-HMAC-SHA256 Credential=${env.AWS_ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${sig}`,
      "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
      "x-amz-date: 20260101T000000Z",
    ], ["-X", "PUT", "--data-binary", "plain text, no chunks"]);
    expect(notChunked).toMatchObject({ status: 400, reason: "aws-chunked-malformed" });
    expect(chunked.body).toContain("payload_signing_enabled");
  });
});

/**
 * A request signed with the sandbox's placeholder keys by @smithy/signature-v4 exactly as given
 * (S3: the path as sent), then sent through the proxy by curl with --path-as-is, so dot segments
 * and doubled slashes reach the proxy as written. `raw` headers are sent but never signed.
 */
async function placeholderSigned(method: string, path: string, options: { body?: string; headers?: Record<string, string>; raw?: string[]; date?: Date; service?: string } = {}) {
  const body = options.body ?? "";
  const service = options.service ?? "s3";
  const credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY!, sessionToken: env.AWS_SESSION_TOKEN! };
  const signer = new SignatureV4({ credentials, region: "us-east-1", service, sha256: Sha256, uriEscapePath: service !== "s3" });
  const headers = { host: `localhost:${front.port}`, "x-amz-content-sha256": createHash("sha256").update(body).digest("hex"), ...options.headers };
  const signed = await signer.sign({ method, protocol: "https:", hostname: "localhost", path, query: {}, headers, body }, { signingDate: options.date ?? new Date() });
  const sent = [...Object.entries(signed.headers).map(([n, v]) => `${n}: ${v}`), ...(options.raw ?? [])];
  // HTTP/1.1: over HTTP/2 curl drops Connection, which no h2 request may carry
  return viaProxy(`${endpoint}${path}`, sent, ["--http1.1", "--path-as-is", "-X", method, ...(body === "" ? [] : ["--data-binary", body])]);
}

describe("hostile SigV4 inputs", () => {
  test("S3 paths with dot segments, doubled slashes and percent-encodings are forwarded byte for byte and signed as S3 reads them", async () => {
    await boto3("roundtrip", "1"); // the bucket
    // Only what moto's own check gets right: it refuses boto3's put_object, sent directly, of keys
    // with + ( ) * ! = ? & or non-ASCII; those are proven against the canonical request in resign-request.test.ts.
    const paths = ["/sandbox/dots/../up.txt", "/sandbox/dbl//slash.txt", "/sandbox/enc%2Fslash.txt", "/sandbox/low%2fslash.txt", "/sandbox/pct%41-unreserved%7e.txt", "/sandbox/sp%20ace.txt"];
    for (const path of paths) {
      const r = await placeholderSigned("PUT", path, { body: `stored at ${path}` });
      expect(r.status, `${path}: ${r.body}`).toBe(200);
      const head = front.heads().findLast((h) => h.startsWith("PUT "))!;
      expect(head.split("\r\n", 1)[0]).toBe(`PUT ${path} HTTP/1.1`);
    }
  }, 60_000);

  test("a Connection header naming a signed header is refused before anything leaves", async () => {
    const before = front.heads().length;
    const r = await placeholderSigned("PUT", "/sandbox/connection.txt", { body: "x", headers: { "x-amz-meta-color": "blue" }, raw: ["Connection: keep-alive, X-Amz-Meta-Color"] });
    expect(r).toMatchObject({ status: 403, reason: "aws-connection-signed" });
    expect(r.body).toContain("x-amz-meta-color");
    expect(front.heads().length).toBe(before);
  });

  test("two Authorization headers, or two spellings of x-amz-content-sha256, are refused as ambiguous", async () => {
    const before = front.heads().length;
    const auth = `AWS4-HMAC-SHA256 Credential=${env.AWS_ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${"0".repeat(64)}`;
    expect((await viaProxy(`${endpoint}/sandbox/small.txt`, [`Authorization: ${auth}`, `authorization: ${auth}`])).reason).toBe("aws-ambiguous");
    const two = await viaProxy(`${endpoint}/sandbox/small.txt`, [`Authorization: ${auth}`, "X-Amz-Content-Sha256: UNSIGNED-PAYLOAD", `x-amz-content-sha256: ${"e".repeat(64)}`]);
    expect(two).toMatchObject({ status: 403, reason: "aws-ambiguous" });
    expect(front.heads().length).toBe(before);
  });

  test("a request dated years off is signed for the proxy's clock, never for the date the sandbox chose", async () => {
    const r = await placeholderSigned("PUT", "/sandbox/dated.txt", { body: "dated", date: new Date("2020-01-01T00:00:00Z") });
    expect(r.status, r.body).toBe(200);
    const head = front.heads().findLast((h) => h.startsWith("PUT /sandbox/dated.txt"))!;
    const date = /x-amz-date: (\d{8})T/i.exec(head)?.[1];
    expect(date).toBe(new Date().toISOString().slice(0, 10).replaceAll("-", ""));
    expect(head).not.toContain("/20200101/");
  });
});

describe("moto itself", () => {
  // Last: it sends the placeholders to moto around the proxy, on purpose.
  test("moto validates: the same call signed with the placeholders, sent around the proxy, is refused by moto", async () => {
    const { HTTPS_PROXY: _a, https_proxy: _b, HTTP_PROXY: _c, http_proxy: _d, ...direct } = env;
    const r = await runClient(["aws", "sts", "get-caller-identity", "--endpoint-url", endpoint], { ...direct, AWS_CA_BUNDLE: originCa }, 60_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("InvalidClientTokenId");
  });
});
