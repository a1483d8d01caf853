import { describe, expect, test } from "bun:test";
import { CAP_NET_ADMIN, CAP_SETGID, CAP_SETPCAP, CAP_SETUID, capMask } from "../../native/linux/capability-sets.ts";
import { CredproxyError } from "../errors.ts";
import { planPrivilegeDrop, type PrivilegeState } from "./drop-privileges.ts";

const ROOT_CAPS = capMask([CAP_SETGID, CAP_SETUID, CAP_SETPCAP, CAP_NET_ADMIN]);
const root = (caps = ROOT_CAPS): PrivilegeState => ({ euid: 0, caps: { effective: caps, permitted: caps, inheritable: 0n } });
const user = (uid: number, caps = 0n): PrivilegeState => ({ euid: uid, caps: { effective: caps, permitted: caps, inheritable: 0n } });

describe("planPrivilegeDrop", () => {
  test("as root in ECS-metadata mode without server.user it drops to 65532:65532", () => {
    expect(planPrivilegeDrop(undefined, true, root())).toMatchObject({ kind: "switch", uid: 65532, gid: 65532 });
  });

  test("as root it drops to the configured server.user, also without ECS metadata", () => {
    expect(planPrivilegeDrop({ uid: 1000, gid: 2000 }, false, root())).toMatchObject({ kind: "switch", uid: 1000, gid: 2000 });
  });

  test("plain serve as root with no server.user is left as it was", () => {
    expect(planPrivilegeDrop(undefined, false, root())).toEqual({ kind: "none" });
  });

  test("server.user root keeps root", () => {
    expect(planPrivilegeDrop({ uid: 0, gid: 0 }, true, root()).kind).toBe("keep-root");
  });

  test("root without CAP_SETUID fails before anything is bound, naming what is missing and both ways out", () => {
    let error: unknown;
    try {
      planPrivilegeDrop(undefined, true, root(capMask([CAP_NET_ADMIN, CAP_SETGID])));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CredproxyError);
    expect((error as CredproxyError).code).toBe("E_PLATFORM");
    expect((error as CredproxyError).message).toBe("Cannot drop root to server.user 65532:65532 after binding as credproxy lacks CAP_SETUID");
    expect((error as CredproxyError).hint).toContain("cap_add: [NET_ADMIN, SETUID, SETGID]");
    expect((error as CredproxyError).hint).toContain("server.user: root");
  });

  test("not root but with capabilities it keeps the uid and drops capabilities", () => {
    expect(planPrivilegeDrop(undefined, true, user(65532, capMask([CAP_NET_ADMIN])))).toMatchObject({ kind: "capabilities", uid: 65532 });
  });

  test("not root and without capabilities there is nothing to drop", () => {
    expect(planPrivilegeDrop(undefined, true, user(65532))).toEqual({ kind: "none" });
    expect(planPrivilegeDrop({ uid: 65532, gid: 65532 }, true, user(65532))).toEqual({ kind: "none" });
  });

  test("a server.user other than the non-root uid it runs as is an error", () => {
    expect(() => planPrivilegeDrop({ uid: 1000, gid: 1000 }, true, user(65532))).toThrow("Cannot become server.user 1000:1000 as credproxy runs as uid 65532, not root");
  });
});
