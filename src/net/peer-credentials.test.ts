import { describe, expect, test } from "bun:test";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { tempDirSync } from "../../test/helpers/cleanup.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { assertPeerCredentialsAvailable, peerCredentials, peerCredentialsVerified, socketFd, type PeerCred } from "./peer-credentials.ts";

describe("peerCredentials", () => {
  test.skipIf(process.platform !== "linux")("reads SO_PEERCRED of both ends of a real unix-socket connection", async () => {
    const path = join(tempDirSync("credproxy-peercred-"), "s.sock");
    const server = Promise.withResolvers<PeerCred>();
    const listener = Bun.listen({ unix: path, socket: { open: (s) => server.resolve(peerCredentials(socketFd(s))), data() {} } });
    const client = Promise.withResolvers<PeerCred>();
    const socket = await Bun.connect({ unix: path, socket: { open: (s) => client.resolve(peerCredentials(socketFd(s))), data() {} } });
    try {
      const me = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
      expect(await server.promise).toEqual(me); // the client is this process…
      expect(await client.promise).toEqual(me); // …and so is the listener it reached
    } finally {
      socket.end();
      listener.stop(true);
    }
  });

  test.skipIf(process.platform !== "linux")("a descriptor that is not a socket gives E_PLATFORM naming the errno", () => {
    const fd = openSync("/dev/null", "r");
    try {
      peerCredentials(fd);
      throw new Error("expected a failure");
    } catch (error) {
      expect(error).toBeInstanceOf(CredproxyError);
      expect((error as CredproxyError).code).toBe(ErrorCode.Platform);
      expect((error as CredproxyError).message).toContain("ENOTSOCK");
    } finally {
      closeSync(fd);
    }
  });

  test("an unsupported platform gives a clear E_PLATFORM, at start-up and per call", () => {
    expect(() => assertPeerCredentialsAvailable("win32")).toThrow('not implemented here: current platform is "win32"');
    try {
      peerCredentials(3, "freebsd");
      throw new Error("expected a failure");
    } catch (error) {
      expect((error as CredproxyError).code).toBe(ErrorCode.Platform);
      expect((error as CredproxyError).hint).toContain("broker exec");
    }
  });

  test("Linux is verified, macOS is written but unverified", () => {
    expect(peerCredentialsVerified("linux")).toBe(true);
    expect(peerCredentialsVerified("darwin")).toBe(false);
    expect(peerCredentialsVerified("win32")).toBe(false);
  });
});

describe("socketFd", () => {
  test("reads .fd (Bun.listen) and ._handle.fd (node:net)", () => {
    expect(socketFd({ fd: 7 })).toBe(7);
    expect(socketFd({ _handle: { fd: 9 } })).toBe(9);
  });

  test("a socket without a descriptor is an E_PLATFORM error", () => {
    expect(() => socketFd({})).toThrow("exposes no file descriptor");
    expect(() => socketFd({ fd: -1 })).toThrow(CredproxyError);
    expect(() => socketFd({ _handle: null })).toThrow(CredproxyError);
  });
});
