/**
 * The client side of the tunnel tests, run inside the client namespace against vpc-services.ts.
 * Prints one JSON line (the last on stdout) with what happened:
 *
 *   get HOST PORT BYTES SEED [LPORT]  {bytes, sha256, ms}            a bulk download (from local port LPORT)
 *   put HOST PORT BYTES SEED          {reply, ms}                    a bulk upload, the server's hash
 *   dns HOST PORT NAME COUNT          {answers: [{id, address}], rttMs: [...]}
 *   echo HOST PORT INTERVAL_MS UNTIL  {rttMs: [...]}  one TCP connection, a 32-byte request every
 *                                     INTERVAL_MS until the file UNTIL exists (or COUNT samples)
 *   connect HOST PORT TIMEOUT_MS      {ok, code}                     can a TCP connection be made?
 */
import { createHash, randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { dnsQuery, parseDnsAnswer } from "./dns-shape.ts";

const [verb, host = "", portText = "0", ...rest] = process.argv.slice(2);
const port = Number(portText);
const print = (result: unknown): void => console.log(JSON.stringify(result));

switch (verb) {
  case "get":
    print(await get(Number(rest[0]), rest[1] ?? "", rest[2] === undefined ? undefined : Number(rest[2])));
    break;
  case "put":
    print(await put(Number(rest[0]), rest[1] ?? ""));
    break;
  case "dns":
    print(await dns(rest[0] ?? "vpc-host.test.invalid", Number(rest[1] ?? 1)));
    break;
  case "echo":
    print(await echo(Number(rest[0] ?? 200), rest[1] ?? ""));
    break;
  case "connect":
    print(await tryConnect(Number(rest[0] ?? 2000)));
    break;
  default:
    console.error(`unknown probe ${verb}`);
    process.exit(2);
}

async function get(bytes: number, seed: string, localPort?: number): Promise<{ bytes: number; sha256: string; ms: number }> {
  const started = performance.now();
  const hash = createHash("sha256");
  let got = 0;
  const socket = connect({ host, port, ...(localPort === undefined ? {} : { localPort }) });
  socket.on("connect", () => socket.write(`GET ${bytes} ${seed}\n`));
  socket.on("data", (chunk: Buffer) => {
    hash.update(chunk);
    got += chunk.length;
  });
  await new Promise<void>((resolve, reject) => socket.on("end", resolve).on("error", reject));
  return { bytes: got, sha256: hash.digest("hex"), ms: performance.now() - started };
}

async function put(bytes: number, seed: string): Promise<{ reply: string; ms: number }> {
  const { bulkChunks } = await import("./bulk-bytes.ts");
  const started = performance.now();
  const socket = connect({ host, port });
  let reply = "";
  socket.on("data", (chunk: Buffer) => (reply += chunk.toString()));
  const ended = new Promise<void>((resolve, reject) => socket.on("end", resolve).on("error", reject));
  await new Promise<void>((resolve) => socket.on("connect", resolve));
  socket.write(`PUT ${bytes} ${seed}\n`);
  for (const chunk of bulkChunks(seed, bytes)) {
    if (!socket.write(chunk)) await new Promise<void>((resolve) => socket.once("drain", resolve));
  }
  await ended;
  return { reply: reply.trim(), ms: performance.now() - started };
}

/** COUNT queries one after another, each retried up to 5 times on a 1 s timeout. */
async function dns(name: string, count: number): Promise<{ answers: { id: number; address: string }[]; rttMs: number[] }> {
  const socket = createSocket("udp4");
  const answers: { id: number; address: string }[] = [];
  const rttMs: number[] = [];
  let waiting: ((packet: Buffer) => void) | undefined;
  socket.on("message", (packet) => waiting?.(packet));
  for (let i = 0; i < count; i++) {
    const id = randomBytes(2).readUInt16BE();
    for (let attempt = 0; attempt < 5; attempt++) {
      const started = performance.now();
      const answer = await new Promise<{ id: number; address: string } | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), 1000);
        waiting = (packet) => {
          const parsed = parseDnsAnswer(packet);
          if (parsed?.id !== id) return;
          clearTimeout(timer);
          resolve(parsed);
        };
        socket.send(dnsQuery(id, name), port, host);
      });
      if (answer === undefined) continue;
      answers.push(answer);
      rttMs.push(performance.now() - started);
      break;
    }
  }
  socket.close();
  return { answers, rttMs };
}

/** Request/response over one connection: a 32-byte message, its echo, the round trip. */
async function echo(intervalMs: number, until: string): Promise<{ rttMs: number[]; error?: string }> {
  const limit = /^\d+$/.test(until) ? Number(until) : Infinity;
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.on("connect", resolve).on("error", reject));
  const rttMs: number[] = [];
  let pending = 0;
  let onEcho: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    pending -= chunk.length;
    if (pending <= 0) onEcho?.();
  });
  let error: string | undefined;
  socket.on("error", (err) => (error = err.message));
  while (rttMs.length < limit && (limit !== Infinity || !existsSync(until)) && error === undefined) {
    const started = performance.now();
    pending = 32;
    const echoed = new Promise<void>((resolve) => (onEcho = resolve));
    socket.write(randomBytes(32));
    await echoed;
    rttMs.push(performance.now() - started);
    await Bun.sleep(Math.max(0, intervalMs - (performance.now() - started)));
  }
  socket.destroy();
  return error === undefined ? { rttMs } : { rttMs, error };
}

async function tryConnect(timeoutMs: number): Promise<{ ok: boolean; code: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, code: "TIMEOUT" });
    }, timeoutMs);
    socket.on("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: true, code: "" });
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, code: err.code ?? err.message });
    });
  });
}
