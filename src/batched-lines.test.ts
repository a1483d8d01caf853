import { expect, test } from "bun:test";
import { batchedLines } from "./batched-lines.ts";

test("lines logged in one turn of the event loop leave in one write, in order", async () => {
  const writes: string[] = [];
  const original = process.stderr.write;
  process.stderr.write = ((text: string) => (writes.push(text), true)) as typeof process.stderr.write;
  try {
    const write = batchedLines();
    write("one");
    write("two");
    expect(writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    write("three");
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.stderr.write = original;
  }
  expect(writes).toEqual(["one\ntwo\n", "three\n"]);
});
