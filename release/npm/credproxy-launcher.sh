#!/bin/sh
# credproxy's npm launcher: runs the credproxy binary of the @credproxy/<os>-<cpu> package npm
# installed beside it (an optional dependency, chosen by npm from its os and cpu fields).
# POSIX sh, not Node: it execs the binary, so it adds about a millisecond, not Node's start-up.
# CREDPROXY_BINARY_PATH names another binary (a platform without a package, a source build).
if [ -n "${CREDPROXY_BINARY_PATH:-}" ]; then exec "$CREDPROXY_BINARY_PATH" "$@"; fi

case $(uname -s) in Linux) os=linux ;; Darwin) os=darwin ;; *) os=$(uname -s) ;; esac
case $(uname -m) in x86_64 | amd64) cpu=x64 ;; aarch64 | arm64) cpu=arm64 ;; *) cpu=$(uname -m) ;; esac
platform=$os-$cpu

# This script's own location, through the symlinks npm puts in bin/ and node_modules/.bin/.
self=$0
while [ -L "$self" ]; do
  link=$(readlink "$self")
  case $link in /*) self=$link ;; *) self=${self%/*}/$link ;; esac
done
pkg=$(cd "${self%/*}/.." && pwd -P)

# Nested (npm install -g) or hoisted beside credproxy (npm install, npx, pnpm).
for binary in "$pkg/node_modules/@credproxy/$platform/bin/credproxy" "$pkg/../@credproxy/$platform/bin/credproxy"; do
  if [ -x "$binary" ]; then exec "$binary" "$@"; fi
done

case " @@PLATFORMS@@ " in
  *" $platform "*)
    echo "credproxy: the package @credproxy/$platform, which holds the binary for this machine, is not installed." >&2
    echo "  npm skips optional dependencies with --omit=optional (or --no-optional); reinstall without it:" >&2
    echo "  npm install -g credproxy@@@VERSION@@" >&2 ;;
  *)
    echo "credproxy: there is no build for $platform; builds exist for: @@PLATFORMS@@." >&2
    echo "  Build it from source (npm ci && npm run build, see the README's Install section)" >&2
    echo "  and set CREDPROXY_BINARY_PATH to the binary, or run that binary directly." >&2 ;;
esac
exit 1
