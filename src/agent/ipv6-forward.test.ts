import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { enableIpv6Forward } from "./ipv6-forward.ts";

function confDir(values: Record<string, Record<string, string>>): string {
  const dir = mkdtempSync(join(tmpdir(), "cp-ipv6-conf-"));
  for (const [name, files] of Object.entries(values)) {
    mkdirSync(join(dir, name));
    for (const [file, value] of Object.entries(files)) writeFileSync(join(dir, name, file), `${value}\n`);
  }
  return dir;
}

const read = (dir: string, path: string) => readFileSync(join(dir, path), "utf8").trim();

test("forwarding on, accept_ra 1 raised to 2 so router advertisements still count, all put back on restore", () => {
  const dir = confDir({ all: { forwarding: "0" }, default: { accept_ra: "1" }, lo: { accept_ra: "1" }, ens5: { accept_ra: "1" }, ens6: { accept_ra: "0" } });
  const forward = enableIpv6Forward(dir);
  expect([read(dir, "all/forwarding"), read(dir, "ens5/accept_ra"), read(dir, "ens6/accept_ra"), read(dir, "default/accept_ra")]).toEqual(["1", "2", "0", "1"]);
  forward.restore();
  expect([read(dir, "all/forwarding"), read(dir, "ens5/accept_ra")]).toEqual(["0", "1"]);
});

test("forwarding already on is left on; a missing file is a platform error that changed nothing", () => {
  const on = confDir({ all: { forwarding: "1" } });
  enableIpv6Forward(on).restore();
  expect(read(on, "all/forwarding")).toBe("1");
  const broken = confDir({ all: {}, ens5: { accept_ra: "1" } });
  expect(() => enableIpv6Forward(broken)).toThrow(/cannot enable IPv6 forwarding/);
  expect(read(broken, "ens5/accept_ra")).toBe("1");
});
