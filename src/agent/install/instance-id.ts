/**
 * This instance's id without a network call, for the printed IAM policy: Nitro instances carry
 * it in the DMI board asset tag, and cloud-init records it. Neither present (not EC2, or an
 * image without cloud-init): undefined, and the policy names every instance.
 */
import { readFileSync } from "node:fs";
import { INSTANCE_ID_PATTERN } from "../../tunnel/tunnel-schema.ts";

export const INSTANCE_ID_FILES = ["/sys/devices/virtual/dmi/id/board_asset_tag", "/var/lib/cloud/data/instance-id"] as const;

export function localInstanceId(files: readonly string[] = INSTANCE_ID_FILES, read: (file: string) => string = (f) => readFileSync(f, "utf8")): string | undefined {
  const pattern = new RegExp(INSTANCE_ID_PATTERN);
  for (const file of files) {
    let text: string;
    try {
      text = read(file).trim();
    } catch {
      continue;
    }
    if (pattern.test(text) && text.startsWith("i-")) return text;
  }
  return undefined;
}
