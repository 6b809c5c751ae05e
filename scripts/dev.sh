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
    # kobs serve with the simulated cluster in-process (`--sim`): events, pod logs (the node
    # agent in-process) and kubelet, host and cluster metrics; it prints where to look.
    # KOBS_SIM_SCENARIOS: space-separated scenarios to play (default: every built-in one, the
    # steady background workload included; "" for none). `kobs sim --list-scenarios` lists them.
    sim_args=(--sim --sim-dir data/sim --sim-listen "${KOBS_SIM_LISTEN:-127.0.0.1:6443}")
    if [[ -n "${KOBS_SIM_SCENARIOS+set}" ]]; then
      [[ -z "$KOBS_SIM_SCENARIOS" ]] && sim_args+=(--sim-scenario none)
      for s in $KOBS_SIM_SCENARIOS; do sim_args+=(--sim-scenario "$s"); done
    fi
    KOBS_K8S_STATE_FILE="${KOBS_K8S_STATE_FILE:-data/k8s-events.json}" \
      KOBS_K8S_POD_LOGS_CHECKPOINT="${KOBS_K8S_POD_LOGS_CHECKPOINT:-data/pod-logs.json}" \
      KOBS_K8S_METRICS_INTERVAL="${KOBS_K8S_METRICS_INTERVAL:-15s}" \
      exec build/src/cli/kobs serve "${sim_args[@]}" "$@"
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
