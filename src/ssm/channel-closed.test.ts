import { describe, expect, test } from "bun:test";
import { buildChannelClosedPayload, parseChannelClosed, type ChannelClosed } from "./channel-closed.ts";
import { afterSocketClose, isHourlyBye } from "./socket-close.ts";

const CLOSED: ChannelClosed = {
  messageId: "dd01e56b-ff48-483e-a508-b5f073f31b16",
  createdDate: "2026-12-01T10:00:00.000Z",
  destinationId: "i-0123456789abcdef0",
  sessionId: "alice-0123abcd",
  schemaVersion: 1,
  output: "Session terminated by the administrator",
};

describe("channel_closed payloads", () => {
  test("round-trip through build and parse", () => {
    expect(parseChannelClosed(buildChannelClosedPayload(CLOSED))).toEqual(CLOSED);
  });

  test("write CreatedDate as a JSON string, as the plugin's decoder requires", () => {
    const json = JSON.parse(new TextDecoder().decode(buildChannelClosedPayload(CLOSED)));
    expect(typeof json.CreatedDate).toBe("string");
    expect(json.MessageType).toBe("channel_closed");
  });

  test("a numeric CreatedDate is still read, as text", () => {
    expect(parseChannelClosed(new TextEncoder().encode('{"CreatedDate":1700000000000,"Output":""}')).createdDate).toBe("1700000000000");
  });

  test("an empty object reads as a close with no reason", () => {
    expect(parseChannelClosed(new TextEncoder().encode("{}")).output).toBe("");
  });

  test("a garbled payload is refused with a typed error", () => {
    expect(() => parseChannelClosed(new TextEncoder().encode('{"Output":5}'))).toThrow(expect.objectContaining({ code: "E_SSM_PROTOCOL" }));
  });
});

describe("afterSocketClose()", () => {
  test("the hourly 1000 Bye means resume, not the end of the session", () => {
    expect(isHourlyBye({ code: 1000, reason: "Bye" })).toBe(true);
    expect(afterSocketClose({ code: 1000, reason: "Bye" }, undefined)).toEqual({ action: "resume", why: "the service's hourly reconnect (1000 Bye)" });
  });

  test("an abnormal close without channel_closed means resume", () => {
    expect(afterSocketClose({ code: 1006, reason: "" }, undefined)).toEqual({ action: "resume", why: "the data channel closed (1006)" });
  });

  test("a close after channel_closed ends the session and shows its Output", () => {
    expect(afterSocketClose({ code: 1000, reason: "Bye" }, CLOSED)).toEqual({ action: "end", why: CLOSED.output });
  });

  test("a channel_closed with no Output still ends the session, with a generic reason", () => {
    expect(afterSocketClose({ code: 1000, reason: "" }, { ...CLOSED, output: "" }).action).toBe("end");
  });

  test("a normal close with another reason is not mistaken for the hourly Bye", () => {
    expect(isHourlyBye({ code: 1000, reason: "going away" })).toBe(false);
  });
});
