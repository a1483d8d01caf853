/** A TCP echo server on 127.0.0.1: the "agent port" a fake Session Manager session connects to. */
import { createServer, type Socket } from "node:net";
import { DEFAULT_INSTANCE_ID } from "./fake-ssm.ts";

/** StartSession input for a Port session to the instance the fake knows. */
export const START_PORT_SESSION = { Target: DEFAULT_INSTANCE_ID, DocumentName: "AWS-StartSSHSession", Parameters: { portNumber: ["22"] } };

export interface TcpEcho {
  readonly port: number;
  /** Drops every connection and stops listening. */
  close(): Promise<void>;
}

export async function startTcpEcho(): Promise<TcpEcho> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("echo server has no port");
  return {
    port: address.port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
