#!/usr/bin/env bash
# The status page in a real browser: `dbs-exporter demo` provides a simulated DBS; a second
# exporter runs on a config of its own with one instance on the demo's simulator and one on an
# endpoint that refuses connections (a failing target). Headless Chromium (Debian's chromium
# and chromium-driver, driven by selenium from PyPI) loads the status page and checks rows,
# the failing target's error class and hint, and the filter box. Then the instance page
# (tests/browser/instance_page.py): on the demo's own exporter (two accounts), the status page
# links an instance with running downloads to its page, which shows its targets and, within a
# minute of reloads, a task with a progress bar and a time left (or "stalled") and an event; on
# the second exporter (one account), the failing target's page shows its error. The screenshots
# stay in .ci-work/browser/status-page.png and instance-page.png.
#
# Usage: .ci/browser-check.sh [path/to/dbs-exporter]   (default target/release/dbs-exporter)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${1:-target/release/dbs-exporter}
[ -x "$BIN" ] || { echo "browser: $BIN is not an executable (build it first)"; exit 1; }

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
VENV=$ROOT/.ci-work/venv-browser
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install -q --disable-pip-version-check selenium==4.27.1

OUT=$ROOT/.ci-work/browser
rm -rf "$OUT"; mkdir -p "$OUT"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
DEMO_PORT=$(free_port)
PORT=$(free_port)
while [ "$PORT" = "$DEMO_PORT" ]; do PORT=$(free_port); done
PIDS=""
cleanup() {
  local status=$?
  for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
  for pid in $PIDS; do wait "$pid" 2>/dev/null || true; done
  if [ $status -ne 0 ]; then
    echo "--- demo log ---"; tail -n 20 "$OUT/demo.log" 2>/dev/null || true
    echo "--- exporter log ---"; tail -n 20 "$OUT/exporter.log" 2>/dev/null || true
  fi
}
trap cleanup EXIT

"$BIN" demo --web.listen-address "127.0.0.1:$DEMO_PORT" --log.format json >"$OUT/demo.log" 2>&1 &
PIDS="$PIDS $!"
SIM=""
for _ in $(seq 1 100); do
  SIM=$(grep -o '"simulator":"[^"]*"' "$OUT/demo.log" 2>/dev/null | head -1 | cut -d'"' -f4 || true)
  [ -n "$SIM" ] && break
  sleep 0.1
done
[ -n "$SIM" ] || { echo "browser: the demo did not say where its simulator is"; exit 1; }
# The demo's simulator serves HTTPS under the demo's own CA, whose file the same line names.
SIM_CA=$(grep -o '"ca_file":"[^"]*"' "$OUT/demo.log" | head -1 | cut -d'"' -f4)
[ -n "$SIM_CA" ] || { echo "browser: the demo did not say where its simulator's CA is"; exit 1; }

cat >"$OUT/dbs.yaml" <<YAML
tls: {ca_file: $SIM_CA}
poll_interval: 10s
request_timeout: 3s
retry: {max_attempts: 1}
regions:
  - region_id: cn-hangzhou
    endpoint: $SIM
    instances:
      - instance_id: rm-bp1demo7x2k9m4q
  - region_id: cn-beijing
    endpoint: http://127.0.0.1:9
    instances:
      - instance_id: rm-unreachable
YAML
ALIBABA_CLOUD_ACCESS_KEY_ID=LTAI5tDbsExporterDemo \
ALIBABA_CLOUD_ACCESS_KEY_SECRET=dbs-exporter-demo-secret-not-a-real-key \
ALIBABA_CLOUD_ECS_METADATA_DISABLED=true \
  "$BIN" --config.file "$OUT/dbs.yaml" --web.listen-address "127.0.0.1:$PORT" >"$OUT/exporter.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$PORT/-/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/-/ready" >/dev/null || { echo "browser: the exporter never became ready"; exit 1; }
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$DEMO_PORT/-/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$DEMO_PORT/-/ready" >/dev/null || { echo "browser: the demo never became ready"; exit 1; }

"$VENV/bin/python" tests/browser/status_page.py "http://127.0.0.1:$PORT" "$OUT/status-page.png"
"$VENV/bin/python" tests/browser/instance_page.py "http://127.0.0.1:$DEMO_PORT" "http://127.0.0.1:$PORT" \
  "$OUT/instance-page.png"
