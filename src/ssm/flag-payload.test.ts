import { expect, test } from "bun:test";
import { buildFlagPayload, parseFlagPayload } from "./flag-payload.ts";
import { StreamFlag } from "./message-types.ts";

test("the TerminateSession flag is the big-endian u32 2", () => {
  expect(Array.from(buildFlagPayload(StreamFlag.TerminateSession))).toEqual([0, 0, 0, 2]);
  expect(parseFlagPayload(Uint8Array.from([0, 0, 0, 3]))).toBe(StreamFlag.ConnectToPortError);
});

test("a flag payload that is not four bytes is refused with a typed error", () => {
  expect(() => parseFlagPayload(Uint8Array.from([0, 0, 2]))).toThrow(expect.objectContaining({ code: "E_SSM_PROTOCOL" }));
});
