/**
 * A TCP relay that paces one direction the way the SSM agent's Port plugin does (reads of at
 * most 1024 bytes, a sleep after each), for putting sshuttle's ssh connection on the same
 * transport shape as `credproxy tunnel` gets through the fake SSM: sshuttle over Session
 * Manager is ssh through AWS-StartSSHSession, whose agent pump is that loop. Run in the
 * instance namespace:
 *
 *   bun bench/paced-relay.ts --listen 198.51.100.2:2223 --target 127.0.0.1:2222 [--read-pause-ms 1]
 *
 * Client → target bytes pass as they come; target → client bytes are paced. What the pump has
 * not sent yet waits in a buffer of the same size the fake SSM agent keeps (its READ_HIGH_WATER),
 * then the target socket is paused, so both paths have the same hidden queue at the instance.
 * Prints `paced relay listening on HOST:PORT`.
 */
import { connect, createServer, type Socket } from "node:net";
import { parseArgs } from "node:util";

const READ_HIGH_WATER = 256 * 1024;
const CHUNK = 1024;

const { values } = parseArgs({ options: { listen: { type: "string" }, target: { type: "string" }, "read-pause-ms": { type: "string", default: "1" } } });
const hostPort = (text: string | undefined): { host: string; port: number } => {
  const at = text?.lastIndexOf(":") ?? -1;
  if (text === undefined || at < 0) throw new Error(`want HOST:PORT, not ${text}`);
  return { host: text.slice(0, at), port: Number(text.slice(at + 1)) };
};
const listen = hostPort(values.listen);
const target = hostPort(values.target);
const pauseMs = Number(values["read-pause-ms"]);

/** Copies `from` to `to` in ≤ 1024-byte writes with `pauseMs` after each. */
function pacedCopy(from: Socket, to: Socket): void {
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  let pumping = false;
  let ended = false;
  const pump = async (): Promise<void> => {
    if (pumping) return;
    pumping = true;
    while (pendingBytes > 0 && !to.destroyed) {
      let chunk = pending[0]!;
      if (chunk.length > CHUNK) {
        pending[0] = chunk.subarray(CHUNK);
        chunk = chunk.subarray(0, CHUNK);
      } else pending.shift();
      pendingBytes -= chunk.length;
      if (pendingBytes < READ_HIGH_WATER / 2) from.resume();
      if (!to.write(chunk)) await new Promise((resolve) => to.once("drain", resolve));
      if (pauseMs > 0) await Bun.sleep(pauseMs);
    }
    pumping = false;
    if (ended && pendingBytes === 0) to.end();
  };
  from.on("data", (chunk: Buffer) => {
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes > READ_HIGH_WATER) from.pause();
    void pump();
  });
  from.on("end", () => {
    ended = true;
    void pump();
  });
}

const server = createServer((client) => {
  client.setNoDelay(true);
  const upstream = connect(target);
  upstream.setNoDelay(true);
  client.pipe(upstream);
  pacedCopy(upstream, client);
  for (const s of [client, upstream]) s.on("error", () => [client, upstream].forEach((x) => x.destroy()));
  client.on("close", () => upstream.destroy());
});
server.listen(listen.port, listen.host, () => console.log(`paced relay listening on ${listen.host}:${listen.port}`));
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
