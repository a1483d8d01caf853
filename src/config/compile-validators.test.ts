import { expect, test } from "bun:test";
import { GENERATED_VALIDATORS, validatorSource } from "./compile-validators.ts";

test("the generated validators match the schemas (npm run build and npm test regenerate them)", async () => {
  expect(await Bun.file(GENERATED_VALIDATORS).text()).toBe(validatorSource());
});
