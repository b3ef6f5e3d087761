#!/bin/bash
# One service run with CPU per thread (event loop vs SQLite writer), for A/B measurements of a change:
#   bench/thread_cpu.sh [SINK_DELAY_S] [EVENTS] [DRAIN_WAIT_S]     (defaults: 0 8000 12)
# A fake Slack sink (bench.sink) answering after SINK_DELAY_S, the service pinned to core 0, the load generator
# on core 1 at concurrency 16. Prints the load generator's figures and each thread's CPU after the load and after
# the drain wait. A sink delay of 30 s holds every send, so the run measures the intake alone.
set -euo pipefail
cd "$(dirname "$0")/.."
DELAY=${1:-0}; COUNT=${2:-8000}; DRAIN=${3:-12}
WORK=$(mktemp -d)
trap 'kill $SERVICE $SINK 2>/dev/null || true; rm -rf "$WORK"' EXIT
taskset -c 1 python -m bench.sink --ready-file "$WORK/sink.port" --max-lifetime 600 & SINK=$!
until [ -s "$WORK/sink.port" ]; do sleep 0.1; done
SINK_PORT=$(cat "$WORK/sink.port")
curl -sf -XPOST "127.0.0.1:$SINK_PORT/_bench/mode" -d "{\"delay\": $DELAY}" >/dev/null
PORT=$(python -c "from bench.procs import free_port; print(free_port())")
cat > "$WORK/notifier.yaml" <<YAML
channels:
  sink0: {type: slack, webhook_url: "http://127.0.0.1:$SINK_PORT/hook", rate_limit: "off"}
routes:
  - {name: all, match: {types: ["sh.keptn.>"]}, channels: [sink0]}
settings: {host: 127.0.0.1, port: $PORT, state_dir: "$WORK/state", pubsub_topic: "sh.keptn.>"}
YAML
LOG_LEVEL=warning taskset -c 0 python -m notifier serve --config "$WORK/notifier.yaml" 2>"$WORK/service.err" & SERVICE=$!
until curl -sf "127.0.0.1:$PORT/ready" >/dev/null 2>&1; do sleep 0.1; done
threads() { for task in /proc/$SERVICE/task/*; do echo "  thread $(basename "$task") cpu_ms $(awk '{print ($14+$15)*10}' "$task/stat")"; done; }
echo "after start-up:"; threads
taskset -c 1 python -m bench.loadgen --url "http://127.0.0.1:$PORT/" --count "$COUNT" --concurrency 16 \
  --target-pid $SERVICE > "$WORK/load.json"
echo "after the load:"; threads
python - "$WORK/load.json" <<'PY'
import json, sys
load = json.load(open(sys.argv[1]))
seconds = (load["last_ok_ns"] - load["first_send_ns"]) / 1e9
print(f"accepted {load['accepted']} at {load['accepted'] / seconds:,.0f}/s, "
      f"ingest p50 {load['ingest_p50_ms']:.2f} ms p99 {load['ingest_p99_ms']:.2f} ms, errors {load['errors']}")
PY
sleep "$DRAIN"
echo "after ${DRAIN} s more:"; threads
curl -sf "127.0.0.1:$SINK_PORT/_bench/stats" | python -c \
  "import json, sys; s = json.load(sys.stdin); print(f\"delivered {s['delivered']}, duplicates {s['duplicates']}\")"
