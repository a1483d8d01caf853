/** Ephemeral loopback ports for servers that must be told a port up front (moto_server). */
import { createServer } from "node:net";

/**
 * Binds 127.0.0.1:0, reads the port the kernel chose, closes, and returns it. Another process
 * could take the port before the caller binds it; callers that spawn servers retry on
 * "address in use" (see startMoto).
 */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error(`unexpected listen address ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
