/**
 * Two TCP streams at once through `tunnel socks` forwards: a bulk download (`GET` from the vpc
 * bulk service) and, beside it, sequential 1-byte echo round trips. Prints one JSON line:
 * how many bulk bytes had arrived when each echo came back, and the bulk total. A fair
 * multiplexer answers every echo while most of the bulk stream is still to come; one that
 * queues the bulk stream's backlog ahead of other streams (smux v1) answers the first echo
 * only near the end. Ordering, not time: no clock is read.
 *
 * Usage: interactive-beside-bulk.ts BULK_PORT ECHO_PORT BYTES ECHOES   (both on 127.0.0.1)
 */
import { connect } from "node:net";

const [bulkPort, echoPort, bytesText, echoesText] = process.argv.slice(2);
const total = Number(bytesText);
const echoes = Number(echoesText);

let bulkBytes = 0;
const bulkDone = new Promise<void>((resolve, reject) => {
  const bulk = connect(Number(bulkPort), "127.0.0.1", () => bulk.write(`GET ${total} fairness\n`));
  bulk.on("data", (chunk: Buffer) => void (bulkBytes += chunk.length));
  bulk.on("end", () => resolve());
  bulk.on("error", reject);
});

// Start the echoes once the bulk stream is flowing, so they really run beside it.
while (bulkBytes < 64 * 1024) await new Promise((r) => setTimeout(r, 5));
const echo = connect(Number(echoPort), "127.0.0.1");
await new Promise((r) => echo.once("connect", r));
const bulkBytesAtEcho: number[] = [];
for (let i = 0; i < echoes; i++) {
  const answered = new Promise<void>((resolve) => echo.once("data", () => resolve()));
  echo.write("x");
  await answered;
  bulkBytesAtEcho.push(bulkBytes);
}
echo.end();
await bulkDone;
console.log(JSON.stringify({ bulkBytesAtEcho, bulkTotal: bulkBytes }));
process.exit(0);
