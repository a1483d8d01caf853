import { describe, expect, test } from "bun:test";
import { sseEndpointRewriter } from "./sse-endpoint-rewrite.ts";

/** Feeds `chunks` one by one and collects what comes out after each. */
async function through(chunks: string[]): Promise<string[]> {
  const stream = sseEndpointRewriter((url) => `/mcp/x${url}`);
  const out: string[] = [];
  stream.on("data", (b: Buffer | string) => out.push(String(b)));
  for (const chunk of chunks) stream.write(Buffer.from(chunk));
  stream.end();
  await new Promise((resolve) => stream.once("end", resolve));
  return out;
}

describe("sseEndpointRewriter", () => {
  test("rewrites the data of an endpoint event and passes other events unchanged", async () => {
    const out = await through(["event: endpoint\ndata: /messages?sessionId=1\n\n", "event: message\ndata: {\"a\":1}\n\n"]);
    expect(out.join("")).toBe("event: endpoint\ndata: /mcp/x/messages?sessionId=1\n\nevent: message\ndata: {\"a\":1}\n\n");
  });

  test("passes each event on as soon as its blank line arrives, however the bytes are split", async () => {
    const out = await through(["data: one\r", "\n\r\nda", "ta: two\n", "\n"]);
    expect(out).toEqual(["data: one\r\n\r\n", "data: two\n\n"]);
  });

  test("an endpoint event whose data comes first, split over lines, still becomes one rewritten data line", async () => {
    const out = await through(["data: /a\ndata: b\nevent:endpoint\nid: 7\n\n"]);
    expect(out.join("")).toBe("data: /mcp/x/a\nb\nevent:endpoint\nid: 7\n\n");
  });

  test("a stream that ends mid-event gives back what was held", async () => {
    expect((await through(["data: partial"])).join("")).toBe("data: partial");
  });
});
