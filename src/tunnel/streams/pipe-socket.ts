/**
 * Joins a TCP socket to a stream of the mux, both ways, with backpressure both ways:
 *
 * - socket → stream: a write() the stream refuses (its queue is over the high-water mark,
 *   because the peer's credit or the session is the bottleneck) pauses the socket until onDrain;
 * - stream → socket: credit goes back only once the socket has handed the bytes to the kernel
 *   (the write callback), so a slow reader here holds its sender at the window, not our memory.
 *
 * Half-closes pass through (the socket is opened with allowHalfOpen); a socket error or a
 * stream reset ends the other side at once.
 */
import type { Socket } from "node:net";
import type { MuxStream, StreamEnd } from "./mux-stream.ts";

export function pipeSocket(socket: Socket, stream: MuxStream, onClosed: (end: StreamEnd) => void = () => undefined): void {
  socket.on("data", (chunk: Buffer) => {
    if (!stream.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))) socket.pause();
  });
  stream.onDrain(() => socket.resume());
  stream.onData((bytes) => {
    socket.write(bytes, () => stream.consumed(bytes.length));
  });
  stream.onEnd(() => socket.end());
  let remoteEnded = false;
  socket.on("end", () => {
    remoteEnded = true;
    stream.end();
  });
  socket.on("error", () => stream.reset());
  // A close after both ends is normal: the stream's own end may still be queued behind data.
  socket.on("close", (hadError: boolean) => {
    if (hadError || !remoteEnded) stream.reset();
  });
  stream.onClosed((end) => {
    // After "done" both FINs have passed and the socket closes by itself; anything else cuts it.
    if (end.kind !== "done") socket.destroy();
    onClosed(end);
  });
}
