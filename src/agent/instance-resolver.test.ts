import { describe, expect, test } from "bun:test";
import { instanceResolver, resolvConfNameservers, VPC_RESOLVER } from "./instance-resolver.ts";

describe("the agent's DNS upstream", () => {
  test("resolvConfNameservers() reads nameserver lines in order, skipping comments and junk", () => {
    const text = "# generated\nsearch ec2.internal\nnameserver 10.0.0.2 # VPC\n;nameserver 9.9.9.9\nnameserver not-an-ip\nnameserver fe80::1%eth0\noptions edns0\n";
    expect(resolvConfNameservers(text)).toEqual(["10.0.0.2", "fe80::1"]);
  });

  test("instanceResolver() takes the first nameserver, else the VPC resolver's fixed address", () => {
    expect(instanceResolver(() => "nameserver 127.0.0.53\n")).toEqual({ host: "127.0.0.53", port: 53 });
    expect(instanceResolver(() => "search x\n")).toEqual({ host: VPC_RESOLVER, port: 53 });
    expect(instanceResolver(() => {
      throw new Error("ENOENT");
    })).toEqual({ host: VPC_RESOLVER, port: 53 });
  });
});
