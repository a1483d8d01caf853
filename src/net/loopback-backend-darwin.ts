/**
 * Loopback aliases on macOS: `ifconfig lo0 alias …` through native/darwin/ifconfig.ts, the
 * same thing `sudo ifconfig lo0 alias 169.254.169.254` does by hand. Adding and deleting need
 * root; listing does not.
 *
 * UNVERIFIED on a Mac: tested against macOS-shaped ifconfig output and a stand-in script only.
 */
import { IfconfigError, type Ifconfig } from "../../native/darwin/ifconfig.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { LoopbackBackend, LoopbackHintText, LoopbackRequest } from "./loopback-backend.ts";
import { parseAddress } from "./loopback-parse-address.ts";

const LOOPBACK = "lo0";

/**
 * `lo0` through `ifconfig`. Only lo0's own addresses count as present. There is no route to
 * wait for: XNU skips duplicate address detection on loopback interfaces (in6if_do_dad() in
 * bsd/netinet6/in6.c), so an address is usable as soon as ifconfig returns.
 */
export function darwinLoopbackBackend(ifconfig: Ifconfig, hints: LoopbackHintText): LoopbackBackend {
  const aliasOf = (r: LoopbackRequest) => ({ family: r.family, address: r.text, prefixLength: r.prefixLength });
  return {
    interfaceName: LOOPBACK,
    list() {
      let listed: ReturnType<Ifconfig["list"]>;
      try {
        listed = ifconfig.list(LOOPBACK);
      } catch (error) {
        throw new CredproxyError(ErrorCode.Platform, `Cannot read the addresses of the loopback interface ${LOOPBACK}: ${reason(error)}`, {
          cause: error,
          // Listing needs no privilege, so running as root would not help.
          hint: hints.fallback,
        });
      }
      return listed.flatMap((a) => {
        try {
          const { family, bytes } = parseAddress(a.address);
          return [{ family, bytes }];
        } catch {
          return []; // nothing credproxy would ask for
        }
      });
    },
    add(r) {
      try {
        ifconfig.addAlias(LOOPBACK, aliasOf(r));
        return true;
      } catch (error) {
        if (error instanceof IfconfigError && error.kind === "exists") return false;
        throw addError(r, error, hints);
      }
    },
    delete(r) {
      try {
        ifconfig.deleteAlias(LOOPBACK, aliasOf(r));
      } catch (error) {
        // Someone else took it away already: the goal is met.
        if (error instanceof IfconfigError && error.kind === "not-found") return;
        throw error;
      }
    },
    routesLocally: () => true,
  };
}

function addError(r: LoopbackRequest, error: unknown, hints: LoopbackHintText): CredproxyError {
  const what = `${r.text}/${r.prefixLength}`;
  const failure = error instanceof IfconfigError ? error : undefined;
  const details = { address: what, interface: LOOPBACK, uid: process.getuid?.(), stderr: failure?.stderr };
  if (failure?.kind === "not-permitted") {
    return new CredproxyError(
      ErrorCode.Platform,
      `Cannot add ${what} to the loopback interface ${LOOPBACK} as credproxy is not running as root: ifconfig said "${failure.stderr}"`,
      { cause: error, details, hint: hints.hint },
    );
  }
  if (failure?.kind === "missing") {
    return new CredproxyError(ErrorCode.Platform, `Cannot add ${what} to the loopback interface ${LOOPBACK} as ${failure.argv[0]} is missing`, {
      cause: error,
      details,
      hint: hints.fallback,
    });
  }
  return new CredproxyError(ErrorCode.Platform, `Cannot add ${what} to the loopback interface ${LOOPBACK}: ${reason(error)}`, {
    cause: error,
    details,
    hint: hints.hint,
  });
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
