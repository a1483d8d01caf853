/** Tests and helpers talk to loopback only; every outgoing URL goes through this guard. */
const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);

export function assertLoopback(url: string | URL): URL {
  const u = typeof url === "string" ? new URL(url) : url;
  if (!LOOPBACK.has(u.hostname) && !/^127\.\d+\.\d+\.\d+$/.test(u.hostname)) {
    throw new Error(`refusing to send test traffic to non-loopback ${u.href}`);
  }
  return u;
}
