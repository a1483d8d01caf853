/**
 * MFA for `credproxy broker`: where the MFA device comes from (`--mfa-serial`, else the source
 * profile's `mfa_serial` in the shared config file), and where each one-time code comes from
 * (`--mfa-token` once, then a prompt on the terminal when there is one). Codes are never logged
 * nor put into error messages.
 */
import { readFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { profileSettings } from "./profile-role.ts";

/** A six-digit TOTP code, as STS wants it. */
export const MFA_CODE = /^\d{6}$/;

/** The MFA device of a profile (`[profile NAME]`, or `[default]`) in the shared config file. */
export function readMfaSerial(options: { profile?: string | undefined; env: NodeJS.ProcessEnv; readFile?: (path: string) => string }): string | undefined {
  const { env } = options;
  // Without --profile the SDK's default chain uses environment keys before any profile.
  if (options.profile === undefined && env.AWS_ACCESS_KEY_ID) return undefined;
  const profile = options.profile ?? (env.AWS_PROFILE || "default");
  const path = env.AWS_CONFIG_FILE || join(env.HOME || homedir(), ".aws", "config");
  let text: string;
  try {
    text = (options.readFile ?? ((p: string) => readFileSync(p, "utf8")))(path);
  } catch {
    return undefined;
  }
  return profileSetting(text, profile, "mfa_serial");
}

/** One key of one profile section of a shared config file (the last value wins, as in the SDK). */
export function profileSetting(text: string, profile: string, key: string): string | undefined {
  return profileSettings(text, profile, "config")?.[key];
}

/** A terminal to ask for codes on. */
export interface MfaTerminal {
  /** Whether a prompt can be answered (stdin is a terminal). */
  readonly interactive: boolean;
  /** Writes `question` and reads one line, without the newline. */
  prompt(question: string): Promise<string>;
}

/** /dev/tty when stdin is a terminal, so the prompt works even when stdout/stderr are redirected. */
export function processTerminal(): MfaTerminal {
  return {
    interactive: process.stdin.isTTY === true,
    prompt: async (question) => {
      // Async reads: the broker keeps serving cached credentials while the prompt waits.
      const tty = await open("/dev/tty", "r+");
      try {
        await tty.write(question);
        const buf = Buffer.alloc(1);
        const bytes: number[] = [];
        while (bytes.length < 256) {
          const { bytesRead } = await tty.read(buf, 0, 1, null);
          if (bytesRead === 0 || buf[0] === 0x0a) break;
          bytes.push(buf[0]!);
        }
        return Buffer.from(bytes).toString("utf8").replace(/\r$/, "");
      } finally {
        await tty.close();
      }
    },
  };
}

export interface MfaCodeSourceOptions {
  readonly serial: string;
  /** `--mfa-token`: used for the first MFA session only (a code cannot be used twice). */
  readonly token?: string | undefined;
  readonly terminal: MfaTerminal;
}

/** Throws a usage error when `--mfa-token` is malformed, or when no code could ever be had. */
export function checkMfaCodeAvailable(options: MfaCodeSourceOptions): void {
  if (options.token !== undefined && !MFA_CODE.test(options.token)) {
    throw new CredproxyError(ErrorCode.Usage, "--mfa-token must be the 6-digit code your MFA device shows", {
      hint: `pass the current code for ${options.serial}, e.g. --mfa-token 123456`,
    });
  }
  if (options.token === undefined && !options.terminal.interactive) {
    throw new CredproxyError(ErrorCode.Usage, `the source credentials need MFA (${options.serial}) and there is no terminal to ask for a code on`, {
      hint: "pass the current code with --mfa-token CODE (6 digits), or run credproxy from a terminal",
    });
  }
}

/**
 * Returns the next MFA code: `--mfa-token` the first time, then a prompt when interactive, else
 * an error saying the MFA session has to be started again with a fresh code.
 */
export function createMfaCodeSource(options: MfaCodeSourceOptions): () => Promise<string> {
  checkMfaCodeAvailable(options);
  let token = options.token;
  return async () => {
    if (token !== undefined) {
      const code = token;
      token = undefined;
      return code;
    }
    if (!options.terminal.interactive) {
      throw new CredproxyError(
        ErrorCode.SourceCredentials,
        `a new MFA session for ${options.serial} is needed (the last one expired, or the --mfa-token code is used up) and no new MFA code can be asked for without a terminal`,
        {
          hint: "restart credproxy with a fresh --mfa-token CODE, or run it from a terminal so it can prompt",
          details: { mfaSerial: options.serial },
        },
      );
    }
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const code = (await options.terminal.prompt(`MFA code for ${options.serial}: `)).trim();
      if (MFA_CODE.test(code)) return code;
    }
    throw new CredproxyError(ErrorCode.SourceCredentials, `no valid MFA code for ${options.serial} was entered`, {
      hint: "enter the 6-digit code your MFA device shows",
    });
  };
}
