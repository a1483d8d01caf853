/**
 * The framing spoken over the SSM byte stream between `credproxy tunnel` and `credproxy agent`.
 * One import for callers: frame types, encoders, the incremental decoder, version negotiation
 * and the error type.
 */
export * from "./frames.ts";
export * from "./framing-error.ts";
export * from "./protocol-version.ts";
export {
  encodeClose,
  encodeFrame,
  encodeHello,
  encodeHelloAck,
  encodePacket,
  encodePing,
  encodePong,
  encodeStripeJoined,
  encodeRxReport,
  encodeBoundStats,
  encodeStripesLive,
  encodeRawFrame,
  rttMicros,
  MAX_CLOSE_TEXT_BYTES,
  type HelloAckFields,
  type HelloFields,
} from "./frame-codec.ts";
export { FrameDecoder, type FrameDecoderOptions } from "./frame-decoder.ts";
