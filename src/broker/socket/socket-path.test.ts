import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDirSync } from "../../../test/helpers/cleanup.ts";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { checkBrokerSocket, checkSocketPathShape, clearStaleSocket, defaultSocketPath, ensurePrivateDir, ownUid } from "./socket-path.ts";

const uid = ownUid();
const isRoot = uid === 0;

/** A private directory to put sockets in (mkdtemp makes it 0700). */
function privateDir(): string {
  return tempDirSync("credproxy-sock-");
}

/** A socket file with a live listener; stop() closes it (and Bun removes the file). */
function liveSocket(path: string): { stop(): void } {
  const listener = Bun.listen({ unix: path, socket: { data() {} } });
  return { stop: () => listener.stop(true) };
}

/** A socket file whose process died without removing it: a broker killed with SIGKILL. */
async function deadSocket(path: string): Promise<void> {
  const child = Bun.spawn([process.execPath, "-e", `Bun.listen({ unix: ${JSON.stringify(path)}, socket: { data() {} } }); console.log("up"); setInterval(() => {}, 1e6);`], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = child.stdout.getReader();
  await reader.read();
  child.kill("SIGKILL");
  await child.exited;
  expect(lstatSync(path).isSocket()).toBe(true);
}

async function refusal(promise: Promise<unknown>): Promise<CredproxyError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CredproxyError);
  return error as CredproxyError;
}

describe("defaultSocketPath", () => {
  test("uses $XDG_RUNTIME_DIR/credproxy when it is set", () => {
    expect(defaultSocketPath({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000, "/tmp")).toBe("/run/user/1000/credproxy/broker.sock");
  });

  test("falls back to a directory named for the uid under the temp dir", () => {
    expect(defaultSocketPath({}, 1000, "/tmp")).toBe("/tmp/credproxy-1000/broker.sock");
    expect(defaultSocketPath({ XDG_RUNTIME_DIR: "" }, 0, "/var/tmp")).toBe("/var/tmp/credproxy-0/broker.sock");
    expect(defaultSocketPath({ XDG_RUNTIME_DIR: "relative/dir" }, 7, "/tmp")).toBe("/tmp/credproxy-7/broker.sock");
  });
});

describe("checkSocketPathShape", () => {
  test("accepts an absolute path that fits in sun_path", () => {
    expect(() => checkSocketPathShape("/run/user/1000/credproxy/broker.sock", "linux")).not.toThrow();
    expect(() => checkSocketPathShape("/" + "a".repeat(106), "linux")).not.toThrow();
  });

  test("refuses relative and too-long paths as usage errors", () => {
    expect(() => checkSocketPathShape("broker.sock", "linux")).toThrow("is not absolute");
    expect(() => checkSocketPathShape("/" + "a".repeat(107), "linux")).toThrow("108 bytes long: the limit is 107");
    expect(() => checkSocketPathShape("/" + "a".repeat(103), "darwin")).toThrow("the limit is 103");
  });
});

describe("ensurePrivateDir", () => {
  test("creates a missing directory (and its missing parents) with mode 0700", () => {
    const dir = join(privateDir(), "a", "b");
    ensurePrivateDir(dir, uid);
    expect(lstatSync(dir).mode & 0o777).toBe(0o700);
    expect(lstatSync(join(dir, "..")).mode & 0o777).toBe(0o700);
  });

  test("accepts an existing 0700 directory of ours", () => {
    expect(() => ensurePrivateDir(privateDir(), uid)).not.toThrow();
  });

  for (const mode of [0o755, 0o750, 0o701, 0o710]) {
    test(`refuses an existing directory with mode 0${mode.toString(8)}, and leaves its mode alone`, () => {
      const dir = privateDir();
      chmodSync(dir, mode);
      expect(() => ensurePrivateDir(dir, uid)).toThrow(`is open to group or others (mode 0${mode.toString(8)})`);
      expect(lstatSync(dir).mode & 0o777).toBe(mode);
    });
  }

  test("refuses a symlink to a private directory", () => {
    const target = privateDir();
    const link = join(privateDir(), "link");
    symlinkSync(target, link);
    expect(() => ensurePrivateDir(link, uid)).toThrow("is a symbolic link");
  });

  test("refuses a regular file where the directory should be", () => {
    const file = join(privateDir(), "file");
    writeFileSync(file, "x");
    expect(() => ensurePrivateDir(file, uid)).toThrow("is not a directory");
  });

  test.skipIf(!isRoot)("refuses a 0700 directory that belongs to another user", () => {
    const dir = privateDir();
    chownSync(dir, 65534, 65534);
    const error = (() => {
      try {
        ensurePrivateDir(dir, uid);
      } catch (e) {
        return e as CredproxyError;
      }
      return undefined;
    })();
    expect(error?.code).toBe(ErrorCode.Listen);
    expect(error?.message).toContain("belongs to uid 65534");
  });
});

describe("clearStaleSocket", () => {
  test("nothing at the path is fine", async () => {
    expect(await clearStaleSocket(join(privateDir(), "broker.sock"), uid)).toBe("absent");
  });

  test("a regular file is refused and left untouched", async () => {
    const path = join(privateDir(), "broker.sock");
    writeFileSync(path, "precious");
    const error = await refusal(clearStaleSocket(path, uid));
    expect(error.code).toBe(ErrorCode.Listen);
    expect(error.message).toContain("it is a regular file, not a socket; it was left untouched");
    expect(readFileSync(path, "utf8")).toBe("precious");
  });

  test("a symlink is refused and left untouched, even one pointing at a dead socket of ours", async () => {
    const dir = privateDir();
    const target = join(dir, "dead.sock");
    await deadSocket(target);
    const path = join(dir, "broker.sock");
    symlinkSync(target, path);
    const error = await refusal(clearStaleSocket(path, uid));
    expect(error.message).toContain("it is a symbolic link, not a socket");
    expect(readlinkSync(path)).toBe(target);
    expect(lstatSync(target).isSocket()).toBe(true);
  });

  test("a directory is refused and left untouched", async () => {
    const path = join(privateDir(), "broker.sock");
    mkdirSync(path);
    expect((await refusal(clearStaleSocket(path, uid))).message).toContain("it is a directory");
    expect(lstatSync(path).isDirectory()).toBe(true);
  });

  test("a live socket is refused and keeps working", async () => {
    const path = join(privateDir(), "broker.sock");
    const live = liveSocket(path);
    try {
      expect((await refusal(clearStaleSocket(path, uid))).message).toContain("another process is listening on it");
      expect(lstatSync(path).isSocket()).toBe(true);
    } finally {
      live.stop();
    }
  });

  test("a dead socket of ours is removed", async () => {
    const path = join(privateDir(), "broker.sock");
    await deadSocket(path);
    expect(await clearStaleSocket(path, uid)).toBe("removed-dead-socket");
    expect(existsSync(path)).toBe(false);
  });

  test.skipIf(!isRoot)("a dead socket that belongs to another user is refused and left untouched", async () => {
    const path = join(privateDir(), "broker.sock");
    await deadSocket(path);
    chownSync(path, 65534, 65534);
    expect((await refusal(clearStaleSocket(path, uid))).message).toContain("belongs to uid 65534");
    expect(lstatSync(path).isSocket()).toBe(true);
  });
});

describe("checkBrokerSocket (the client's check)", () => {
  test("accepts a socket of ours", async () => {
    const path = join(privateDir(), "broker.sock");
    const live = liveSocket(path);
    try {
      expect(() => checkBrokerSocket(path, uid)).not.toThrow();
    } finally {
      live.stop();
    }
  });

  test("says when nothing is there, with a hint to start the broker", () => {
    try {
      checkBrokerSocket(join(privateDir(), "broker.sock"), uid);
      throw new Error("expected a refusal");
    } catch (error) {
      expect((error as CredproxyError).message).toContain("as nothing is there");
      expect((error as CredproxyError).hint).toContain("credproxy broker serve");
    }
  });

  test("refuses a regular file", () => {
    const path = join(privateDir(), "broker.sock");
    writeFileSync(path, "{}");
    expect(() => checkBrokerSocket(path, uid)).toThrow("it is a regular file, not a socket");
  });

  test.skipIf(!isRoot)("refuses a socket another user owns (an impostor broker)", async () => {
    const path = join(privateDir(), "broker.sock");
    await deadSocket(path);
    chownSync(path, 65534, 65534);
    expect(() => checkBrokerSocket(path, 1000)).toThrow("belongs to uid 65534");
    // Root-owned sockets are accepted: root could impersonate anything anyway.
    chownSync(path, 0, 0);
    expect(() => checkBrokerSocket(path, 1000)).not.toThrow();
  });
});
