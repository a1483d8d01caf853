import { describe, expect, test } from "bun:test";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { chunkResigner } from "./chunk-signatures.ts";
import { chunkSignerFor, resignRequest } from "./resign-request.ts";
import { classifySigV4, type HeaderSignedRequest } from "./sigv4-shape.ts";

// The chunk-signed PUT of Amazon S3's "Signature Calculations … Transferring Payload in
// Multiple Chunks" example: 66,560 bytes of "a" in chunks of 64 KiB, 1 KiB and 0.
const DOCS = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
const SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const CHUNKS = ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648", "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497", "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"];
const SIGNED = "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class";

function body(signatures: readonly string[]): string {
  const chunk = (size: number, sig: string) => `${size.toString(16)};chunk-signature=${sig}\r\n${"a".repeat(size)}${size > 0 ? "\r\n" : ""}`;
  return chunk(65536, signatures[0]!) + chunk(1024, signatures[1]!) + chunk(0, signatures[2]!) + "\r\n";
}

const headers = {
  host: "s3.amazonaws.com",
  "x-amz-date": "20130524T000000Z",
  "x-amz-storage-class": "REDUCED_REDUNDANCY",
  "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
  "content-encoding": "aws-chunked",
  "x-amz-decoded-content-length": "66560",
  "content-length": "66824",
  authorization: `AWS4-HMAC-SHA256 Credential=ASIAPLACEHOLDER00001/20130524/us-east-1/s3/aws4_request, SignedHeaders=${SIGNED}, Signature=${"1".repeat(64)}`,
};

async function resigned(sent: string, split: number): Promise<{ head: Record<string, unknown>; body: string }> {
  const shape = classifySigV4(Object.entries(headers), "/examplebucket/chunkObject.txt") as HeaderSignedRequest;
  expect(shape.payload).toBe("chunk-signed");
  const head = await resignRequest({ method: "PUT", target: "/examplebucket/chunkObject.txt", headers, shape, credentials: DOCS, now: new Date("2013-05-24T00:01:00Z") });
  const { seed, sign } = chunkSignerFor(shape, DOCS, head);
  const bytes = Buffer.from(sent, "latin1");
  const pieces = [];
  for (let at = 0; at < bytes.length; at += split) pieces.push(bytes.subarray(at, at + split));
  return { head, body: await text(Readable.from(pieces).pipe(chunkResigner(seed, sign))) };
}

describe("chunk-signed uploads, signed again chunk by chunk", () => {
  test("the S3 docs' example, signed by the sandbox with placeholders, comes out with the docs' seed and chunk signatures", async () => {
    const placeholderSigned = body(["2".repeat(64), "3".repeat(64), "4".repeat(64)]);
    const out = await resigned(placeholderSigned, 65536);
    expect(out.head.authorization).toBe(`AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=${SIGNED}, Signature=${SEED}`);
    expect(out.body).toBe(body(CHUNKS));
    expect(out.body.length).toBe(66824); // Content-Length stays true
  });

  test("the same whatever the pieces the body arrives in (chunk lines split across reads)", async () => {
    for (const split of [1000, 7, 65538]) expect((await resigned(body(["5".repeat(64), "6".repeat(64), "7".repeat(64)]), split)).body).toBe(body(CHUNKS));
  });

  test("a body that is not aws-chunked, or ends inside a chunk, fails the stream", async () => {
    await expect(resigned("hello world\r\n", 64)).rejects.toThrow(/not a chunk header line/);
    await expect(resigned(body(CHUNKS).slice(0, 66000), 4096)).rejects.toThrow(/ended inside a chunk/);
  });

  test("a client dated far off is signed for now, and its chunks chain from that new date's scope", async () => {
    const shape = classifySigV4(Object.entries(headers), "/examplebucket/chunkObject.txt") as HeaderSignedRequest;
    const head = await resignRequest({ method: "PUT", target: "/examplebucket/chunkObject.txt", headers, shape, credentials: DOCS, now: new Date("2026-12-04T18:00:00Z") });
    expect(head["x-amz-date"]).toBe("20261204T180000Z");
    expect(String(head.authorization)).toContain("/20261204/us-east-1/s3/aws4_request");
    const { seed, sign } = chunkSignerFor(shape, DOCS, head);
    const out = await text(Readable.from([Buffer.from(body(["2".repeat(64), "3".repeat(64), "4".repeat(64)]), "latin1")]).pipe(chunkResigner(seed, sign)));
    expect(out.length).toBe(66824);
    expect(out).not.toContain(CHUNKS[0]!); // chained from the new seed, not the 2013 one
  });
});
