/**
 * The UDP ends of nat-forward.test.ts. `echo HOST PORT`: prints "listening", answers one
 * datagram with "pong", and prints who sent it as JSON. `send HOST PORT`: sends "ping" and
 * prints the reply and who it came from as JSON (or {timeout: true} after WAIT_MS, default 5000).
 */
export {};

const [mode, host, portText, waitText] = process.argv.slice(2);
const port = Number(portText);

if (mode === "echo") {
  const done = Promise.withResolvers<void>();
  const socket = await Bun.udpSocket({
    hostname: host!,
    port,
    socket: {
      data(sock, data, fromPort, fromAddress) {
        console.log(JSON.stringify({ from: fromAddress, fromPort, text: Buffer.from(data).toString() }));
        sock.send("pong", fromPort, fromAddress);
        done.resolve();
      },
    },
  });
  console.log("listening");
  await done.promise;
  socket.close();
} else {
  const reply = Promise.withResolvers<{ from: string; text: string; timeout?: boolean }>();
  const socket = await Bun.udpSocket({
    socket: {
      data(_sock, data, _fromPort, fromAddress) {
        reply.resolve({ from: fromAddress, text: Buffer.from(data).toString() });
      },
    },
  });
  socket.send("ping", port, host!);
  const timer = setTimeout(() => reply.resolve({ from: "", text: "", timeout: true }), Number(waitText ?? 5000));
  console.log(JSON.stringify(await reply.promise));
  clearTimeout(timer);
  socket.close();
}
