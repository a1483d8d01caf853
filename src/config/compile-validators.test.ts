import { expect, test } from "bun:test";
import { GENERATED_VALIDATORS, validatorSource } from "./compile-validators.ts";

test("the committed validators.generated.js matches schema.ts (run npm run build to regenerate)", async () => {
  expect(await Bun.file(GENERATED_VALIDATORS).text()).toBe(validatorSource());
});
