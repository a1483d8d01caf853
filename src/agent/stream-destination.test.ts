import { describe, expect, test } from "bun:test";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { OpenFailReason } from "../tunnel/streams/stream-frames.ts";
import { streamDestination, type Resolver } from "./stream-destination.ts";

const cidrs = (...texts: string[]) => texts.map((t) => parseCidr(t) as Cidr);
const resolver = (answers: Record<string, string[]>): Resolver => async (name) => {
  const found = answers[name];
  if (found === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
  return found;
};

describe("streamDestination", () => {
  test("a name resolves at the agent and the first allowed address is dialled", async () => {
    const resolve = resolver({ "db.internal.corp": ["192.0.2.9", "10.1.2.3"] });
    const got = await streamDestination({ kind: "name", host: "db.internal.corp" }, cidrs("10.0.0.0/8"), resolve);
    expect(got).toMatchObject({ ok: true, address: { text: "10.1.2.3" } });
  });

  test("an address outside --allow-cidr is refused with the address and the allowed ranges", async () => {
    const got = await streamDestination({ kind: "ipv4", host: "192.0.2.1" }, cidrs("10.0.0.0/8", "172.16.0.0/12"), resolver({}));
    expect(got).toEqual({ ok: false, reason: OpenFailReason.NotAllowed, text: "192.0.2.1 is not allowed: the agent allows 10.0.0.0/8 172.16.0.0/12" });
  });

  test("a name that does not resolve is NoSuchHost", async () => {
    const got = await streamDestination({ kind: "name", host: "nothing.invalid" }, undefined, resolver({}));
    expect(got).toMatchObject({ ok: false, reason: OpenFailReason.NoSuchHost, text: "nothing.invalid does not resolve at the agent (ENOTFOUND)" });
  });

  test("without --allow-cidr the instance's own addresses are refused (loopback, metadata service, mapped forms)", async () => {
    for (const host of ["127.0.0.1", "169.254.169.254", "0.0.0.0"]) {
      expect(await streamDestination({ kind: "ipv4", host }, undefined, resolver({}))).toMatchObject({ ok: false, reason: OpenFailReason.NotAllowed });
    }
    for (const host of ["::1", "fe80::1", "::ffff:7f00:1"]) {
      expect(await streamDestination({ kind: "ipv6", host }, undefined, resolver({}))).toMatchObject({ ok: false, reason: OpenFailReason.NotAllowed });
    }
    const named = await streamDestination({ kind: "name", host: "localhost" }, undefined, resolver({ localhost: ["127.0.0.1", "::1"] }));
    expect(named).toMatchObject({ ok: false, text: expect.stringContaining("localhost (127.0.0.1, ::1) is not allowed") });
    expect(await streamDestination({ kind: "ipv4", host: "10.0.0.5" }, undefined, resolver({}))).toMatchObject({ ok: true });
  });

  test("listing the metadata address in --allow-cidr allows it", async () => {
    expect(await streamDestination({ kind: "ipv4", host: "169.254.169.254" }, cidrs("169.254.169.254/32"), resolver({}))).toMatchObject({ ok: true });
  });
});
