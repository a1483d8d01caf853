/**
 * Loopback aliases on macOS: `ifconfig lo0 alias …` through native/darwin/ifconfig.ts, the
 * same thing `sudo ifconfig lo0 alias 169.254.169.254` does by hand. Adding and deleting need
 * root; listing does not.
 *
 * UNVERIFIED on a Mac: tested against macOS-shaped ifconfig output and a stand-in script only.
 */
import { IfconfigError, type Ifconfig, type IfconfigAddress } from "../../native/darwin/ifconfig.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { LoopbackBackend, LoopbackHintText, LoopbackRequest } from "./loopback-backend.ts";
import { formatAddress, parseAddress } from "./loopback-parse-address.ts";

const LOOPBACK = "lo0";

/**
 * `lo0` through `ifconfig`. As on Linux, an address present on any interface (`ifconfig -a`)
 * counts as present, so the Mac's own en0 address is never aliased onto lo0 and taken away on
 * exit. There is no route to wait for: XNU skips duplicate address detection on loopback
 * interfaces (in6if_do_dad() in bsd/netinet6/in6.c), so an address is usable as soon as
 * ifconfig returns.
 *
 * An add whose ifconfig timed out (and was killed) may have taken effect before it hung: if the
 * address is on lo0 afterwards, it is reported as added, so remove() takes it away like any
 * other. Failing instead would throw away a working alias, and taking it away at once would run
 * another ifconfig on a system where one just hung.
 */
export function darwinLoopbackBackend(ifconfig: Ifconfig, hints: LoopbackHintText): LoopbackBackend {
  const aliasOf = (r: LoopbackRequest) => ({ family: r.family, address: r.text, prefixLength: r.prefixLength });
  const onLoopback = (r: LoopbackRequest): boolean => {
    try {
      const lo0 = parsed(ifconfig.list().filter((a) => a.interface === LOOPBACK));
      return lo0.some((a) => a.family === r.family && formatAddress(a.family, a.bytes) === r.text);
    } catch {
      return false; // unknown: report the timeout
    }
  };
  return {
    interfaceName: LOOPBACK,
    list() {
      let listed: IfconfigAddress[];
      try {
        listed = ifconfig.list();
      } catch (error) {
        throw new CredproxyError(ErrorCode.Platform, `Cannot read the addresses of the loopback interface ${LOOPBACK}: ${reason(error)}`, {
          cause: error,
          // Listing needs no privilege, so running as root would not help.
          hint: hints.fallback,
        });
      }
      return parsed(listed);
    },
    add(r) {
      try {
        ifconfig.addAlias(LOOPBACK, aliasOf(r));
        return true;
      } catch (error) {
        if (error instanceof IfconfigError && error.kind === "exists") return false;
        if (error instanceof IfconfigError && error.kind === "timeout" && onLoopback(r)) return true;
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

function parsed(listed: IfconfigAddress[]): { family: 4 | 6; bytes: Uint8Array }[] {
  return listed.flatMap((a) => {
    try {
      const { family, bytes } = parseAddress(a.address);
      return [{ family, bytes }];
    } catch {
      return []; // nothing credproxy would ask for
    }
  });
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
    // A hung ifconfig is not cured by root; the fallback works around it.
    hint: failure?.kind === "timeout" ? hints.fallback : hints.hint,
  });
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
