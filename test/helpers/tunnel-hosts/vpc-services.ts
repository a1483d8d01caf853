/**
 * The services of the "vpc" host in the tunnel tests, as one script run inside the vpc namespace:
 *
 * (ports in vpc-ports.ts)
 *   TCP 7001  echo (the latency probe's peer)
 *   TCP 7002  bulk: a line `GET <bytes> <seed>` is answered with that bulk stream (bulk-bytes.ts)
 *             and then closed; `PUT <bytes> <seed>` reads that many bytes and answers
 *             `sha256 <hex> <bytes>` of what arrived
 *   UDP 5300  a DNS-shaped responder: every query gets one A record, the address it arrived on
 *
 * Binds `--host` (default 0.0.0.0) and prints `vpc services ready` on stdout once all listen.
 */
import { createHash } from "node:crypto";
import { createSocket } from "node:dgram";
import { createServer, type Socket } from "node:net";
import { parseArgs } from "node:util";
import { bulkChunks } from "./bulk-bytes.ts";
import { dnsAnswer } from "./dns-shape.ts";
import { BULK_PORT, DNS_PORT, ECHO_PORT } from "./vpc-ports.ts";

const { values } = parseArgs({ options: { host: { type: "string", default: "0.0.0.0" }, answer: { type: "string", default: "10.99.0.2" } } });
const host = values.host!;

const echo = createServer((socket) => {
  socket.setNoDelay(true);
  socket.on("error", () => undefined);
  socket.pipe(socket);
});

const bulk = createServer((socket) => {
  socket.on("error", () => undefined);
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const newline = head.indexOf(10);
    if (newline < 0) return;
    socket.off("data", onData);
    const [verb, bytes, seed] = head.subarray(0, newline).toString().trim().split(" ");
    const rest = head.subarray(newline + 1);
    if (verb === "GET") void send(socket, seed ?? "", Number(bytes));
    else if (verb === "PUT") receive(socket, Number(bytes), rest);
    else socket.end("ERR unknown verb\n");
  };
  socket.on("data", onData);
});

async function send(socket: Socket, seed: string, total: number): Promise<void> {
  for (const chunk of bulkChunks(seed, total)) {
    if (socket.destroyed) return;
    if (!socket.write(chunk)) await new Promise<void>((resolve) => socket.once("drain", resolve).once("close", resolve));
  }
  socket.end();
}

function receive(socket: Socket, total: number, first: Buffer): void {
  const hash = createHash("sha256");
  let got = 0;
  const take = (chunk: Buffer): void => {
    const part = chunk.subarray(0, Math.max(0, total - got));
    hash.update(part);
    got += part.length;
    if (got >= total) socket.end(`sha256 ${hash.digest("hex")} ${got}\n`);
  };
  socket.on("data", take);
  if (first.length > 0) take(first);
  if (total === 0) take(Buffer.alloc(0));
}

const dns = createSocket(host.includes(":") ? "udp6" : "udp4");
dns.on("message", (query, from) => dns.send(dnsAnswer(query, values.answer!), from.port, from.address));

await Promise.all([
  new Promise<void>((resolve) => echo.listen(ECHO_PORT, host, resolve)),
  new Promise<void>((resolve) => bulk.listen(BULK_PORT, host, resolve)),
  new Promise<void>((resolve) => dns.bind(DNS_PORT, host, resolve)),
]);
console.log("vpc services ready");
process.on("SIGTERM", () => process.exit(0));
