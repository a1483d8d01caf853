import { describe, expect, test } from "bun:test";
import { roleSettings } from "./aws-roles.ts";

describe("roleSettings", () => {
  test("an hour's role is refreshed with 20 minutes left, outside botocore's 15-minute window", () => {
    expect(roleSettings(3600).refreshBufferSeconds).toBe(1200);
    expect(roleSettings(43_200).refreshBufferSeconds).toBe(1200);
  });

  test("a 15-minute role keeps two thirds of its life in use (refreshed with 5 minutes left)", () => {
    expect(roleSettings(900).refreshBufferSeconds).toBe(300);
  });
});
