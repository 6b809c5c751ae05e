#!/usr/bin/env bash
# The README's two commands:
#   scripts/dev.sh run   set up everything, build, and start `kobs serve` (embedded store)
#   scripts/dev.sh test  set up everything, build, and run every test (ctest)
# Extra arguments after `run` go to `kobs serve`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cmd="${1:-}"
shift || true

configure() {
  if [[ ! -f build/build.ninja ]]; then
    cmake --preset default >/dev/null
  fi
}

case "$cmd" in
  run)
    scripts/setup.sh --no-npm-tools
    configure
    cmake --build build --target kobs
    exec build/src/cli/kobs serve "$@"
    ;;
  test)
    scripts/setup.sh
    configure
    cmake --build build
    ctest --preset default
    ;;
  *)
    echo "usage: scripts/dev.sh run|test" >&2
    exit 2
    ;;
esac
