import { describe, expect, test } from "bun:test";
import { createAddressPool, DEFAULT_POOL } from "./address-pool.ts";

describe("the agent's address pool", () => {
  test("the default pool hands out aligned pairs, the agent on the even address, from the second pair on", () => {
    const pool = createAddressPool(DEFAULT_POOL);
    expect({ cidr: pool.cidr, size: pool.size }).toEqual({ cidr: "100.64.0.0/24", size: 126 });
    const first = pool.acquire()!;
    const second = pool.acquire()!;
    expect({ agent: first.agentAddress, client: first.clientAddress }).toEqual({ agent: "100.64.0.2", client: "100.64.0.3" });
    expect({ agent: second.agentAddress, client: second.clientAddress }).toEqual({ agent: "100.64.0.4", client: "100.64.0.5" });
    expect(pool.inUse()).toBe(2);
  });

  test("a released pair is handed out again (lowest first), and releasing twice frees nothing more", () => {
    const pool = createAddressPool("10.200.0.0/29");
    const a = pool.acquire()!;
    const b = pool.acquire()!;
    a.release();
    a.release();
    expect(pool.inUse()).toBe(1);
    expect(pool.acquire()!.agentAddress).toBe(a.agentAddress);
    expect(b.agentAddress).toBe("10.200.0.4");
  });

  test("an exhausted pool gives nothing until a pair comes back", () => {
    const pool = createAddressPool("10.200.0.0/29");
    const leases = [pool.acquire(), pool.acquire()];
    expect(leases.every((l) => l !== undefined)).toBe(true);
    expect(pool.acquire()).toBeUndefined();
    leases[1]!.release();
    expect(pool.acquire()?.clientAddress).toBe("10.200.0.5");
  });

  test("a /31 holds exactly one pair and a /30 two: too small to leave any out", () => {
    expect(createAddressPool("10.200.0.6/31").acquire()).toMatchObject({ agentAddress: "10.200.0.6", clientAddress: "10.200.0.7" });
    expect(createAddressPool("10.200.0.4/30").size).toBe(2);
  });

  test("a pool that is IPv6, a /32 or has host bits set is a usage error naming --pool", () => {
    expect(() => createAddressPool("fd00::/64")).toThrow('agent: --pool "fd00::/64": tunnel addresses are IPv4');
    expect(() => createAddressPool("10.0.0.1/32")).toThrow("a /32 holds no address pair");
    expect(() => createAddressPool("100.64.0.1/24")).toThrow("write 100.64.0.0/24");
  });
});
