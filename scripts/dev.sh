#!/usr/bin/env bash
# The README's two commands:
#   scripts/dev.sh run   set up everything, build, and start the simulated cluster (`kobs sim`,
#                        kubeconfig in data/sim/kubeconfig) and `kobs serve` (embedded store)
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
    mkdir -p data
    # KOBS_SIM_SCENARIOS: space-separated scenarios to play (default: a healthy background
    # workload; "" for none). `kobs sim --list-scenarios` lists the built-in ones.
    scenario_args=()
    for s in ${KOBS_SIM_SCENARIOS-background}; do scenario_args+=(--scenario "$s"); done
    build/src/cli/kobs sim --dir data/sim --listen "${KOBS_SIM_LISTEN:-127.0.0.1:6443}" \
      "${scenario_args[@]}" &
    sim_pid=$!
    trap 'kill "$sim_pid" 2>/dev/null; wait "$sim_pid" 2>/dev/null || true' EXIT
    # kobs serve collects the simulated cluster's events once its API answers.
    sim_url="https://${KOBS_SIM_LISTEN:-127.0.0.1:6443}"
    for _ in $(seq 1 100); do
      curl -skf "$sim_url/readyz" >/dev/null 2>&1 && [[ -f data/sim/kubeconfig ]] && break
      kill -0 "$sim_pid" 2>/dev/null || { echo "kobs sim did not start" >&2; exit 1; }
      sleep 0.2
    done
    KOBS_K8S_STATE_FILE="${KOBS_K8S_STATE_FILE:-data/k8s-events.json}" \
      KOBS_K8S_POD_LOGS_DIR="${KOBS_K8S_POD_LOGS_DIR:-data/sim/pods}" \
      KOBS_K8S_POD_LOGS_CHECKPOINT="${KOBS_K8S_POD_LOGS_CHECKPOINT:-data/pod-logs.json}" \
      build/src/cli/kobs serve --kubeconfig data/sim/kubeconfig "$@"
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
