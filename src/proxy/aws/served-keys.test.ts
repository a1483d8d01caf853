import { describe, expect, test } from "bun:test";
import { ServedKeys } from "./served-keys.ts";

describe("ServedKeys", () => {
  test("a served key id counts for its tenant only, until it expires", () => {
    const keys = new ServedKeys();
    keys.add("ci-1", "ASIAONE", new Date(2_000), 1_000);
    expect(keys.has("ci-1", "ASIAONE", 1_500)).toBe(true);
    expect(keys.has("ci-2", "ASIAONE", 1_500)).toBe(false);
    expect(keys.has("ci-1", "ASIAONE", 2_000)).toBe(false);
  });

  test("an older key id stays valid beside a refreshed one, and expired ones are dropped", () => {
    const keys = new ServedKeys();
    keys.add("ci-1", "ASIAOLD", new Date(3_000), 1_000);
    keys.add("ci-1", "ASIANEW", new Date(9_000), 2_000);
    expect(keys.has("ci-1", "ASIAOLD", 2_500)).toBe(true);
    keys.add("ci-1", "ASIANEW", new Date(9_000), 4_000);
    expect(keys.has("ci-1", "ASIAOLD", 2_500)).toBe(false); // pruned at the last add
    expect(keys.has("ci-1", "ASIANEW", 4_000)).toBe(true);
  });

  test("retain forgets the tenants that are gone", () => {
    const keys = new ServedKeys();
    keys.add("ci-1", "ASIAONE", new Date(9_000), 1_000);
    keys.add("ci-2", "ASIATWO", new Date(9_000), 1_000);
    keys.retain(new Set(["ci-2"]));
    expect(keys.has("ci-1", "ASIAONE", 1_000)).toBe(false);
    expect(keys.has("ci-2", "ASIATWO", 1_000)).toBe(true);
  });
});
