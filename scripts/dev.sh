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
    # KOBS_SIM_SCENARIOS: space-separated scenarios to play (default: every built-in one plus
    # the steady background workload; "" for none). `kobs sim --list-scenarios` lists them.
    scenario_args=()
    for s in ${KOBS_SIM_SCENARIOS-background crashloop-pod composition-crashloop oom \
               rolling-update helm-bad-upgrade concurrent-crashloops}; do
      scenario_args+=(--scenario "$s")
    done
    build/src/cli/kobs sim --dir data/sim --listen "${KOBS_SIM_LISTEN:-127.0.0.1:6443}" \
      "${scenario_args[@]}" &
    sim_pid=$!
    serve_pid=
    cleanup() {
      [[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
      kill "$sim_pid" 2>/dev/null
      wait "$sim_pid" 2>/dev/null || true
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    # kobs serve collects the simulated cluster once its API answers.
    sim_url="https://${KOBS_SIM_LISTEN:-127.0.0.1:6443}"
    for _ in $(seq 1 100); do
      curl -skf "$sim_url/readyz" >/dev/null 2>&1 && [[ -f data/sim/kubeconfig ]] && break
      kill -0 "$sim_pid" 2>/dev/null || { echo "kobs sim did not start" >&2; exit 1; }
      sleep 0.2
    done
    # Events, pod logs (the in-process agent), and kubelet, host and cluster metrics.
    KOBS_K8S_STATE_FILE="${KOBS_K8S_STATE_FILE:-data/k8s-events.json}" \
      KOBS_K8S_POD_LOGS_DIR="${KOBS_K8S_POD_LOGS_DIR:-data/sim/pods}" \
      KOBS_K8S_POD_LOGS_CHECKPOINT="${KOBS_K8S_POD_LOGS_CHECKPOINT:-data/pod-logs.json}" \
      KOBS_K8S_METRICS_INTERVAL="${KOBS_K8S_METRICS_INTERVAL:-15s}" \
      build/src/cli/kobs serve --kubeconfig data/sim/kubeconfig "$@" &
    serve_pid=$!
    api="${KOBS_API_LISTEN:-127.0.0.1:8080}"
    for _ in $(seq 1 600); do
      curl -sf "http://$api/readyz" >/dev/null 2>&1 && break
      kill -0 "$serve_pid" 2>/dev/null || { echo "kobs serve did not start" >&2; exit 1; }
      sleep 0.2
    done
    kobs="build/src/cli/kobs"
    cat <<BANNER

================================================================================
 kobs is running: the embedded store, collecting a simulated cluster (scenarios:
 ${KOBS_SIM_SCENARIOS-background crashloop-pod composition-crashloop oom rolling-update helm-bad-upgrade concurrent-crashloops}).
 Events, pod logs and metrics flow in within a minute.

   health, metrics   http://$api/healthz  /readyz  /metrics
   ClickHouse HTTP   http://${KOBS_CLICKHOUSE_HTTP_LISTEN:-127.0.0.1:8123}   (kobs sql "...", curl, clickhouse-client)
   OTLP              http://${KOBS_OTLP_HTTP_LISTEN:-127.0.0.1:4318} (HTTP), ${KOBS_OTLP_GRPC_LISTEN:-127.0.0.1:4317} (gRPC)
   MCP               http://${KOBS_MCP_LISTEN:-127.0.0.1:8000}/mcp
   the cluster       kubectl --kubeconfig data/sim/kubeconfig get pods -A

 Try:
   # a composition's events (the Krateo FireworksApp; a primary-key range)
   $kobs sql "SELECT Timestamp, Type, Reason, ObjectKind, ObjectName, Message FROM kobs_k8s_events WHERE CompositionId = (SELECT any(CompositionId) FROM kobs_k8s_events WHERE CompositionId != '') ORDER BY Timestamp DESC LIMIT 10"
   # a crash-looping pod's errors
   $kobs sql "SELECT Timestamp, SeverityText, Body FROM otel_logs WHERE ResourceAttributes['k8s.pod.name'] = 'demo-crashloop' AND SeverityText IN ('ERROR', 'FATAL') ORDER BY Timestamp DESC LIMIT 10"
   # memory against limits
   $kobs sql "SELECT ResourceAttributes['k8s.namespace.name'] AS ns, ResourceAttributes['k8s.pod.name'] AS pod, round(max(Value), 2) AS memory_of_limit FROM otel_metrics_gauge WHERE MetricName = 'k8s.container.memory_limit_utilization' AND TimeUnix > now() - INTERVAL 10 MINUTE GROUP BY ns, pod ORDER BY memory_of_limit DESC LIMIT 10"

 Ctrl-C stops everything.
================================================================================

BANNER
    wait "$serve_pid"
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
