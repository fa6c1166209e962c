#!/usr/bin/env bash
# Starts the demo, waits for readiness, and lints its /metrics with promtool.
set -euo pipefail
bin=${1:-target/release/dbs-exporter}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
"$bin" demo --web.listen-address "127.0.0.1:$port" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null || { echo "demo never became ready"; cat "$log"; exit 1; }
body=$(mktemp)
curl -fsS "http://127.0.0.1:$port/metrics" >"$body"
echo "$(grep -c '^aliyun_dbs_download_tasks{' "$body") aliyun_dbs_download_tasks series"
grep -q '^aliyun_dbs_up{.*} 1$' "$body" || { echo "no instance is up"; cat "$body"; exit 1; }
promtool check metrics <"$body"
echo "promtool check metrics: OK"
