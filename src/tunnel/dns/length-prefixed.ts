/**
 * DNS over TCP's framing (RFC 1035 §4.2.2): each message behind a two-byte big-endian length.
 * A message can be at most 65535 bytes, so the buffer never holds more than one message and
 * the chunk that completes it.
 */
export class LengthPrefixed {
  private buffered: Uint8Array = new Uint8Array(0);

  /** The whole messages that `chunk` completes, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    const all = this.buffered.length === 0 ? chunk : concat(this.buffered, chunk);
    const messages: Uint8Array[] = [];
    let at = 0;
    while (at + 2 <= all.length) {
      const length = (all[at]! << 8) | all[at + 1]!;
      if (at + 2 + length > all.length) break;
      messages.push(all.slice(at + 2, at + 2 + length));
      at += 2 + length;
    }
    this.buffered = all.slice(at);
    return messages;
  }

  static frame(message: Uint8Array): Uint8Array {
    const out = new Uint8Array(2 + message.length);
    out[0] = message.length >>> 8;
    out[1] = message.length & 0xff;
    out.set(message, 2);
    return out;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
