#!/usr/bin/env bash
# Installs everything kobs needs on a fresh Debian 12 machine, idempotently:
#   1. apt packages (compiler toolchain libraries, test peers), only those missing;
#   2. chDB (libchdb.so) and the OTLP .proto files from npm, pinned and sha256-verified,
#      cached in .deps/ (git-ignored);
#   3. the npm test tools of tests/js (npm ci from the committed lock file).
# Re-running it does no work when nothing changed. Usage: scripts/setup.sh [--no-npm-tools]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="${KOBS_DEPS_DIR:-$ROOT/.deps}"
CACHE="$DEPS/cache"
NPM_TOOLS=1
[[ "${1:-}" == "--no-npm-tools" ]] && NPM_TOOLS=0

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates curl
  libboost1.81-dev libboost-system1.81-dev libboost-url1.81-dev libboost-json1.81-dev
  libsimdjson-dev nlohmann-json3-dev libprotobuf-dev protobuf-compiler libgrpc++-dev
  protobuf-compiler-grpc libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev libgtest-dev
  libgmock-dev libbenchmark-dev libcurl4-openssl-dev libssl-dev libzstd-dev liblz4-dev
  libre2-dev libabsl-dev zlib1g-dev
  clickhouse-server   # a real (old) ClickHouse peer for the remote backend's tests
  chromium            # headless browser (playwright-core) for the SSE feed's EventSource test
)

# Pinned npm artefacts: name@version, sha256 of the tarball `npm pack` downloads.
CHDB_PKG="@chdb/lib-linux-x64-gnu@26.7.3-stable.1"
CHDB_SHA256="c0d32b129e988f2b9a9a31c9141aecf5e1e2453f9a079efc4d36ab8e3f92b2ad"
OTLP_PKG="@elastic/mockotlpserver@0.10.0"   # ships opentelemetry-proto v1.4.0
OTLP_SHA256="c4747291ebbc9b8ca5c0d864d792f3228981d4bb6b308d2134af5d285ca2a409"

log() { printf '[setup] %s\n' "$*" >&2; }

install_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # Node.js and npm come with the machine image (node 20); Debian's are only a fallback.
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  # kubectl (the kubectl compatibility tests run it) comes with the machine image (v1.32);
  # Debian's kubernetes-client (1.20, legacy discovery only) is the fallback.
  command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
  [[ ${#missing[@]} -eq 0 ]] && { log "apt packages: all present"; return; }
  log "apt packages: installing ${missing[*]}"
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  # clickhouse-server's postinst tries to start a service; policy-rc.d may deny it, harmlessly.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# fetch_npm PKG SHA256: leaves the verified tarball path on stdout.
fetch_npm() {
  local pkg="$1" sha="$2" name tgz
  name="$(echo "${pkg#@}" | tr '/@' '--')"
  mkdir -p "$CACHE"
  tgz="$(ls "$CACHE"/*.tgz 2>/dev/null | while read -r f; do
      [[ "$(sha256sum "$f" | cut -d' ' -f1)" == "$sha" ]] && echo "$f"; done | head -n1 || true)"
  if [[ -z "$tgz" ]]; then
    log "downloading $pkg"
    local out
    out="$(cd "$CACHE" && npm pack "$pkg" --silent 2>/dev/null | tail -n1)"
    tgz="$CACHE/$out"
    local got
    got="$(sha256sum "$tgz" | cut -d' ' -f1)"
    if [[ "$got" != "$sha" ]]; then
      rm -f "$tgz"
      log "checksum mismatch for $pkg: got $got, want $sha"
      exit 1
    fi
  fi
  echo "$tgz"
}

# install_npm_artifact PKG SHA256 DEST MEMBER STRIP: extracts MEMBER of the tarball into DEST.
install_npm_artifact() {
  local pkg="$1" sha="$2" dest="$3" member="$4" strip="$5"
  if [[ -f "$dest/.sha256" && "$(cat "$dest/.sha256")" == "$sha" ]]; then
    log "$pkg: present"
    return
  fi
  local tgz
  tgz="$(fetch_npm "$pkg" "$sha")"
  rm -rf "$dest"
  mkdir -p "$dest"
  tar -xzf "$tgz" -C "$dest" --strip-components="$strip" "$member"
  echo "$sha" > "$dest/.sha256"
  log "$pkg: installed in $dest"
}

install_npm_tools() {
  local dir="$ROOT/tests/js" stamp
  stamp="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [[ -f "$dir/node_modules/.kobs-stamp" && "$(cat "$dir/node_modules/.kobs-stamp")" == "$stamp" ]]; then
    log "npm test tools: present"
    return
  fi
  log "npm test tools: npm ci in tests/js"
  (cd "$dir" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) || \
    (cd "$dir" && npm ci --no-audit --no-fund)
  echo "$stamp" > "$dir/node_modules/.kobs-stamp"
}

install_apt
install_npm_artifact "$CHDB_PKG" "$CHDB_SHA256" "$DEPS/chdb" package/libchdb.so 1
install_npm_artifact "$OTLP_PKG" "$OTLP_SHA256" "$DEPS/otlp-proto" package/opentelemetry 1
[[ $NPM_TOOLS -eq 1 ]] && install_npm_tools
log "done"
